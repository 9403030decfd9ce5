"""Compiler tests: each lowering verified exactly against the interpreter on every input of small
lengths, every CompileError, the manifest's residual labels, save/load and the CLI."""

from __future__ import annotations

import glob
import json
import os

import pytest
from click.testing import CliRunner

import compiler
import rasp
from compiler import values
from compiler import verify as check
from compiler.errors import CompileError
from rasp.examples import read_header

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env_with(source: str = "") -> rasp.Environment:
    env = rasp.Environment()
    if source:
        env.run(source)
    return env


def assert_exact(prog: compiler.CompiledProgram, vocab, max_len: int) -> check.Report:
    inputs, exhaustive = check.inputs_for(vocab, max_len, samples=3000)
    report = check.verify(prog, prog.node, inputs, exhaustive)
    assert report.ok, report.first.describe()
    return report


def compile_exact(source: str, expr: str, vocab, max_len: int = 4, **kw):
    prog = compiler.compile(env_with(source), expr, vocab=vocab, max_seq_len=max_len, **kw)
    assert_exact(prog, vocab, max_len)
    return prog


# ---- value sets ---------------------------------------------------------------------------


def test_value_sets_follow_python_semantics():
    env = env_with("x = tokens_int * 2; y = x + indices;"
                   "s = aggregate(select(indices, indices, <=), tokens_int);")
    a = values.analyse([env.expression("y"), env.expression("s")], [1, 2], 3)
    assert a.of(env.expression("x")) == [2, 4]
    assert a.of(env.expression("y")) == [2, 3, 4, 5, 6]
    means = a.of(env.expression("s"))
    assert 1.5 in means and 1 in means and 0 in means  # mean, single value, default


def test_selector_summaries_and_relative_bounds():
    env = env_with("flip = select(indices, length - indices - 1, ==); "
                   "near = select(indices, indices + 1, ==);")
    flip, near = env.expression("flip"), env.expression("near")
    a = values.analyse([env.expression("aggregate(flip, tokens)"),
                        env.expression("aggregate(near, tokens, \"_\")")], ["a"], 5)
    assert a.selectors[flip.id].max_one and a.selectors[flip.id].nonempty
    assert a.selectors[near.id].max_one and not a.selectors[near.id].nonempty


def test_keys_that_determine_the_values_make_a_mean_one_value():
    """select(K, Q, ==) selects keys with one value of K; if K determines the aggregated
    s-op within the input (a function of it, or a rank of it), they hold one value too."""
    env = env_with("rank = selector_width(select(tokens_int, tokens_int, <));"
                   "same = selector_width(select(tokens_int, tokens_int, ==));"
                   "at = select(rank, indices, ==);")
    cases = {
        "aggregate(at, tokens_int)": True,  # a rank is strictly monotone in what it ranks
        "aggregate(at, tokens_int * 2 + 1)": True,
        "aggregate(at, indices)": False,  # equal ranks may sit at different positions
        "aggregate(select(same, indices, ==), tokens_int)": False,  # counts are not ranks
        "aggregate(select(tokens_int, indices, ==), tokens_int % 2)": True,
        "aggregate(select(tokens_int % 2, indices, ==), tokens_int)": False,
        "aggregate(select(tokens_int, indices, <=), tokens_int)": False,  # not ==
        "aggregate(at and select(indices, indices, <), tokens_int)": True,
        # The same expression written twice is the same s-op.
        "aggregate(select(selector_width(select(tokens_int + 1, tokens_int + 1, <)), indices,"
        " ==), tokens_int)": True,
    }
    nodes = {text: env.expression(text) for text in cases}
    a = values.analyse(list(nodes.values()), [0, 1, 2], 4)
    assert {t: values.selects_one_value(n, a) for t, n in nodes.items()} == cases
    assert a.of(nodes["aggregate(at, tokens_int)"]) == [0, 0.0, 1, 1.0, 2, 2.0]
    # A stable rank orders by (token, index): it differs between any two positions.
    env.run("stable = selector_width(select(tokens_int, tokens_int, <) or "
            "(select(tokens_int, tokens_int, ==) and select(indices, indices, <)));"
            "moved = select(stable, indices, ==);")
    a = values.analyse([env.expression("aggregate(moved, tokens_int)"),
                        env.expression("aggregate(at, tokens_int)")], [0, 1, 2], 4)
    assert values.position_injective(env.expression("stable"), a)
    assert a.selectors[env.expression("moved").id].max_one
    assert not values.position_injective(env.expression("rank"), a)
    # Compiled either way, every input of length <= 5 gives the interpreter's output.
    for expr in ("aggregate(select(same, indices, ==), tokens_int)",
                 "aggregate(select(selector_width(select(tokens_int, tokens_int, <=)), "
                 "indices + 1, ==), tokens_int * 3)",
                 "aggregate(at, indices)", "aggregate(select(stable, indices, ==), tokens_int)"):
        prog = compiler.compile(env, expr, vocab=[0, 1, 2], max_seq_len=5)
        assert_exact(prog, [0, 1, 2], 5)


def test_sort_unique_keeps_the_residual_narrow_and_exact_with_repeated_keys():
    """Repeated tokens give repeated ranks, so a query can select several keys: their mean
    is exact without equal weights, which lets == use the 3-dimensional quadratic score."""
    src = "r = selector_width(select(tokens_int, tokens_int, <));" \
          "s = aggregate(select(r, indices, ==), tokens_int);"
    prog = compile_exact(src, "s", [0, 1, 2, 3, 4], 5)
    assert prog.run([3, 3, 1]) == [1, 3, 0]  # 3.0, the mean of both 3s, decodes to 3
    n = 32
    big = compiler.compile(env_with(src), "s", vocab=list(range(n)), max_seq_len=n)
    assert big.stats["d_model"] <= 0.5 * 133 and big.stats["params"] <= 0.25 * 81_000
    assert big.run([0, 1, 1, 31]) == [0, 1, 0, 31]  # snapped to values, no float noise
    inputs = [[1, 1, 1], [31] * n, [0] * n, list(range(n))[::-1], [5, 0] * (n // 2)]
    assert check.verify(big, big.node, inputs, False).ok


def test_prefix_counts_compile_as_widths():
    """round(frac * (indices + 1)) of a 0/1 s-op counts ones so far: a width head and a small
    MLP, not an MLP over every (fraction, index) pair, which at max_len 32 would not fit."""
    src = 'c = round(aggregate(select(indices, indices, <=), indicator(tokens == "a"))' \
          " * (indices + 1));"
    prog = compile_exact(src, "c", ["a", "b"], 5)
    assert prog.run("abaa") == [1, 1, 2, 3]
    big = compiler.compile(env_with(src), "c", vocab=["a", "b"], max_seq_len=32)
    roles = [b["role"] for layer in big.manifest["plan"] for b in layer["blocks"]]
    assert roles == ["attention (width, BOS share)", "MLP (width)"]
    inputs, _ = check.inputs_for(["a", "b"], 32, samples=300)
    assert check.verify(big, big.node, inputs, False).ok
    # Not 0/1: the general (fraction, index) MLP, still exact.
    compile_exact("c = round(aggregate(select(indices, indices, <=), tokens_int) *"
                  " (indices + 1));", "c", [0, 1, 2], 4)


def test_float32_score_error_sharpens_heads_and_bounds_means():
    """A head's softmax scale grows with the error bound of q.k, and a mean over several keys
    counts how unequal that error can make their weights."""
    from compiler.linear import Lin
    from compiler.plan import HeadSpec

    def head(err):
        return HeadSpec(Lin.const([1.0]), Lin.const([1.0]), 1.0, "half", Lin.const([1.0]),
                        4.0, score_err=err)

    assert head(0.1).beta(32) > head(0.0).beta(32)
    assert head(0.0).unequal_err(32) == 0.0 < head(1e-6).unequal_err(32) < 1e-3
    prog = compiler.compile(env_with("m = aggregate(select(tokens, tokens, ==), indices);"), "m",
                            vocab=["a", "b"], max_seq_len=8)
    assert_exact(prog, ["a", "b"], 8)


# ---- every example -----------------------------------------------------------------------


EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.rasp")))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: os.path.basename(p))
def test_examples_compile_and_verify_exactly(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    header = read_header(path).compile
    if header is None:
        pytest.skip("no compile header")
    env = rasp.Environment()
    env.run(open(path).read(), os.path.relpath(path, ROOT))
    vocab = header.vocab if len(header.vocab) <= 4 else header.vocab[:4]
    for n in (1, 5):
        try:
            prog = compiler.compile(env, header.expr, vocab=vocab, max_seq_len=n)
        except CompileError as err:  # refusing is allowed, a wrong model is not
            assert err.line is not None and "cannot compile" in err.message
            continue
        assert_exact(prog, vocab, n)


def test_selector_width_at_full_length():
    env = rasp.Environment()
    env.run(open(os.path.join(ROOT, "examples", "hist.rasp")).read())
    prog = compiler.compile(env, "hist", vocab=["a", "b", "c"], max_seq_len=24)
    assert prog.run(["a"] * 24) == [24] * 24
    assert prog.run(["a", "b"] * 12) == [12] * 24


# ---- lowerings -----------------------------------------------------------------------------


def test_categorical_attention_reverse():
    prog = compile_exact("flip = select(indices, length - indices - 1, ==);"
                         "r = aggregate(flip, tokens);", "r", ["a", "b", "c"], 5)
    assert prog.run("abc") == ["c", "b", "a"]
    assert prog.stats["layers"] == 2


@pytest.mark.parametrize("sel", [
    "select(tokens, tokens, ==) and select(indices, indices, <)",
    "select(tokens, tokens, ==) or select(indices, 0, ==)",
    "not select(tokens, tokens, ==)",
    "select(tokens, tokens, <) or (select(tokens, tokens, ==) and select(indices, indices, <))",
    "not (select(indices, indices, <) and select(tokens, \"a\", ==))",
])
def test_composite_selectors(sel):
    compile_exact(f"s = {sel};", "selector_width(s)", ["a", "b", "c"], 4)
    compile_exact(f"s = {sel};", "aggregate(s, indices + 1)", ["a", "b"], 4)


def test_numerical_mean_of_non_binary_values():
    prog = compile_exact("m = aggregate(select(indices, indices, <=), tokens_int * 3 - 1);", "m",
                         [0, 1, 5], 4)
    assert prog.run([5, 0, 1]) == [14, 6.5, 5.0]


def test_string_and_none_defaults():
    prog = compile_exact('s = aggregate(select(indices, indices - 1, ==), tokens, "_");', "s",
                         ["a", "b"], 4)
    assert prog.run("ab") == ["_", "a"]
    # The text language has no None; IR built from Python may (Tracr turns it into 0).
    env = env_with("f = aggregate(select(indices, 0, ==), tokens);"
                   "g = aggregate(select(indices, 1, ==), tokens_int);")
    env.expression("f").default = None
    env.expression("g").default = None
    for name, vocab in (("f", ["a", "b"]), ("g", [1, 2])):
        prog = compiler.compile(env, name, vocab=vocab, max_seq_len=4)
        assert_exact(prog, vocab, 4)
    compile_exact("d = aggregate(select(tokens, \"a\", ==), indices, -1);", "d", ["a", "b"], 4)


def test_multi_input_maps_and_ternaries():
    compile_exact("x = tokens_int + indices * 2;", "x", [0, 1, 2], 4)
    compile_exact('c = (tokens_int + 1) * (indices + 1); t = "big" if c > 3 else tokens_str;',
                  "t", [0, 1, 2], 4)
    compile_exact("w = selector_width(select(tokens, tokens, ==)); v = w * length - indices;",
                  "v", ["a", "b"], 5)


def test_numeric_maps_of_means_are_discretised():
    compile_exact("f = aggregate(select(indices, indices, <=), indicator(tokens == \"a\"));"
                  "g = round(f * 10) % 3;", "g", ["a", "b"], 5)


def test_constants_and_token_functions():
    compile_exact("k = tokens_int * 0 + 7;", "k", [1, 2], 3)
    compile_exact('u = tokens + "!";', "u", ["a", "b"], 3)
    compile_exact("p = indices % 2 == 0;", "p", ["a"], 5)


def test_causal_models():
    prog = compile_exact("f = aggregate(select(indices, indices, <=), indicator(tokens == \"x\"));",
                         "f", ["a", "x"], 5)
    assert prog.manifest["causal"]  # the mask replaces the prefix selector
    with pytest.raises(CompileError, match="causal"):
        compiler.compile(env_with(), "length", vocab=["a"], max_seq_len=4, causal=True)


def test_structurally_equal_expressions_compile_once():
    prog = compile_exact("a = aggregate(select(indices, indices, <=), indicator(tokens == \"x\"));"
                         "b = aggregate(select(indices, indices, <=), indicator(tokens == \"y\"));"
                         "d = a - b;", "d", ["x", "y", "z"], 4)
    assert prog.stats["heads"] == 1  # one head averages the difference


# ---- errors --------------------------------------------------------------------------------


def test_compile_errors_name_the_expression_and_place():
    env = env_with("s = select(indices, indices, ==);\n"
                   "m = aggregate(select(indices, indices, <=), tokens_int, \"none\");\n")
    with pytest.raises(CompileError, match="selector") as e:
        compiler.compile(env, "s", vocab=["1"], max_seq_len=3)
    with pytest.raises(CompileError) as e:
        compiler.compile(env, "m", vocab=[1, 2], max_seq_len=3)
    assert e.value.line == 2 and "not a number" in e.value.message
    with pytest.raises(CompileError, match="not an s-op"):
        compiler.compile(env, "3", vocab=["a"], max_seq_len=3)
    with pytest.raises(CompileError, match="empty"):
        compiler.compile(env, "tokens", vocab=[], max_seq_len=3)
    with pytest.raises(CompileError, match="max_seq_len"):
        compiler.compile(env, "tokens", vocab=["a"], max_seq_len=0)


def test_too_many_values_is_a_compile_error():
    env = env_with("f = aggregate(select(indices, indices, <=), indicator(tokens == \"a\"));\n"
                   "g = aggregate(select(indices, indices, <), indicator(tokens == \"b\"));\n"
                   "h = round(f * 1000 + g * 7 + indices);\n")
    with pytest.raises(CompileError) as e:
        compiler.compile(env, "h", vocab=["a", "b"], max_seq_len=40)
    assert e.value.line is not None


def test_a_program_that_always_raises_is_refused():
    with pytest.raises(CompileError, match="raises"):
        compiler.compile(env_with(), "tokens_int + 1", vocab=["a", "b"], max_seq_len=3)


def test_run_rejects_unknown_tokens_and_long_inputs():
    prog = compiler.compile(env_with(), "tokens", vocab=["a", "b"], max_seq_len=3)
    with pytest.raises(ValueError, match="vocabulary"):
        prog.run("az")
    with pytest.raises(ValueError, match="longer"):
        prog.run("abab")


# ---- manifest, save/load -------------------------------------------------------------------


def test_manifest_labels_the_residual_stream(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    env = rasp.Environment()
    env.run(open("examples/reverse.rasp").read(), "examples/reverse.rasp")
    prog = compiler.compile(env, "reverse", vocab=["a", "b", "c"], max_seq_len=8)
    layout = prog.manifest["layout"]
    assert layout[0]["node"] == "one" and layout[1]["node"] == "bos"
    dims = [e["dims"] for e in layout]
    assert dims[0][0] == 0 and dims[-1][1] == prog.stats["d_model"]
    assert all(a[1] == b[0] for a, b in zip(dims, dims[1:], strict=False))
    out = next(e for e in layout if e["node"] == "reverse")
    assert out["where"] == "examples/reverse.rasp:8:11" and out["sublayer"] == "attention"
    assert any(e.get("where", "").startswith("stdlib.rasp") for e in layout)  # length
    path = tmp_path / "reverse.safetensors"
    prog.save(path)
    loaded = compiler.load(path)
    assert loaded.run("abcab") == prog.run("abcab") == list("bacba")
    assert loaded.stats == prog.stats
    json.dumps(loaded.manifest)


def test_mismatch_names_the_first_differing_node(monkeypatch):
    prog = compiler.compile(env_with("w = selector_width(select(tokens, tokens, ==)); v = w + 1;"),
                            "v", vocab=["a", "b"], max_seq_len=4)
    # Break the width MLP's output on purpose: the diagnosis must point at it.
    entry = next(e for e in prog.manifest["layout"] if e["node"] == "w")
    mlp = prog.model.blocks[0].mlp
    import torch

    with torch.no_grad():
        mlp.proj.weight[entry["dims"][0]:entry["dims"][1]] *= 0.5
    report = check.verify(prog, prog.node, [["a", "a"]], True)
    assert not report.ok and report.first.node == "w"
    assert "w" in report.first.describe()


# ---- CLI -----------------------------------------------------------------------------------


def test_plan_fits_the_terminal(monkeypatch):
    monkeypatch.chdir(ROOT)
    prog = compiler.compile("examples/dyck2.rasp", "dyck2", vocab=list("(){}"), max_seq_len=8)
    text = prog.plan_text(80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" in text and "<- " in text and "examples/lib/dyck.rasp:" in text
    assert "…" not in prog.plan_text(500)


def test_cli_compile_exec_verify(tmp_path, monkeypatch):
    from compiler.cli import compile_command, exec_command, verify

    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    out = tmp_path / "r.safetensors"
    res = runner.invoke(compile_command, ["examples/reverse.rasp", "-e", "reverse", "--vocab",
                                          "a,b,c", "--max-len", "6", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "layer 0" in res.output and "reverse" in res.output and "stats:" in res.output
    res = runner.invoke(compile_command, ["examples/reverse.rasp", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["stats"]["layers"] == 2
    res = runner.invoke(exec_command, [str(out), "-i", "abc", "-i", '["c", "a"]'])
    assert res.exit_code == 0 and "['c', 'b', 'a']" in res.output
    res = runner.invoke(exec_command, [str(out), "-i", "xyz"])
    assert res.exit_code == 1 and "vocabulary" in res.output
    res = runner.invoke(verify, ["examples/reverse.rasp", "--max-len", "5"])
    assert res.exit_code == 0 and "ok:" in res.output
    bad = tmp_path / "bad.rasp"
    bad.write_text("m = aggregate(select(indices, indices, <=), tokens_int, \"x\");\n")
    res = runner.invoke(compile_command, [str(bad), "-e", "m", "--vocab", "1,2", "--max-len", "3"])
    assert res.exit_code == 1 and "bad.rasp:1:" in res.output and "Traceback" not in res.output
    res = runner.invoke(compile_command, [str(bad)])
    assert res.exit_code == 2
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    res = runner.invoke(exec_command, [str(junk), "-i", "a"])
    assert res.exit_code == 1 and "Traceback" not in res.output
