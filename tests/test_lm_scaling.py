"""The sweep driver (resumable), the report, the plots, and the `rasp lm` commands."""

import json
import math
from dataclasses import replace

import pytest
from click.testing import CliRunner

from lm import plots, scaling
from lm import sweep as sweep_mod
from lm.chinchilla import ChinchillaFit
from lm.cli import lm
from lm.cli.options import parse_amount
from lm.config import TrainConfig

REVERSE = "examples/reverse.rasp"
TINY = dict(max_len=4, n_examples=200, batch_size=16, progress=False)


def test_parse_size_and_amount():
    m = scaling.parse_size("3x48")
    assert (m.n_layers, m.d_model, m.n_heads) == (3, 48, 3)
    assert scaling.parse_size("2x32x8").n_heads == 8
    for bad in ("2x", "x32", "2x30x4", "0x8"):
        with pytest.raises(ValueError):
            scaling.parse_size(bad)
    assert parse_amount("25k") == 25_000 and parse_amount("1e18") == 1e18
    assert parse_amount("2M") == 2e6


def _sweep_config(out_dir, **overrides) -> scaling.SweepConfig:
    return scaling.SweepConfig(
        base=TrainConfig(program=REVERSE, **{**TINY, **overrides}),
        sizes=[scaling.parse_size(s) for s in ("1x8", "1x16")],
        token_budgets=[1000, 2000, 4000],
        out_dir=str(out_dir),
    )


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A finished six-run sweep, shared by the tests that read it back."""
    out = tmp_path_factory.mktemp("sweep")
    results = scaling.sweep(_sweep_config(out), log=lambda _: None)
    return out, results


def test_sweep_resumes(swept, monkeypatch):
    tmp_path, results = swept
    assert len(results) == 6
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 6 and all("val_output_nll" in json.loads(x) for x in lines)
    # A second sweep trains nothing: every run is read back.
    monkeypatch.setattr(sweep_mod, "train", lambda *_: pytest.fail("retrained a finished run"))
    config = _sweep_config(tmp_path)
    again = scaling.sweep(config, log=lambda _: None)
    assert [r["key"] for r in again] == [r["key"] for r in results]
    with pytest.raises(ValueError, match="other settings"):
        scaling.sweep(_sweep_config(tmp_path, max_len=5), log=lambda _: None)


def test_torn_results_line_is_ignored(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"key": "a", "x": 1}\n{"key": "b", "x"')
    assert list(scaling.read_results(path)) == ["a"]


def test_smallest_exact_model():
    rows = [
        {"params": 500, "tokens": 10, "exact_match": 0.5},
        {"params": 900, "tokens": 20, "exact_match": 0.995},
        {"params": 900, "tokens": 10, "exact_match": 1.0},
        {"params": 5000, "tokens": 10, "exact_match": 1.0},
    ]
    rep = scaling.Report("p", "e", rows, "outputs", 1.0, scaling.CompiledSize())
    assert rep.smallest_exact == rows[2]


def _row(layers, d_model, n, tokens, loss, exact, seed=0):
    return {
        "key": f"{layers}x{d_model}_D{tokens}_s{seed}",
        "config": {"tokens": tokens, "seed": seed},
        "layers": layers,
        "d_model": d_model,
        "params": n + 100,
        "params_non_embedding": n,
        "tokens": tokens,
        "flops_6nd": 6.0 * n * tokens,
        "flops_exact": 7.0 * n * tokens,
        "val_output_nll": loss,
        "val_output_ppl": math.exp(loss),
        "ngram3_output_ppl": 3.5,
        "exact_match": exact,
        "test_examples": 500,
    }


def _report(law, budget, losses=None):
    rows = [
        _row(2, d, 12 * d * d, t, float(law.predict(12 * d * d, t)), 1.0 if d * t > 3e6 else 0.2)
        for d in (8, 16, 32)
        for t in (10_000, 100_000)
    ]
    compiled = scaling.CompiledSize(
        layers=2, heads=2, d_model=13, params=999, params_non_embedding=830
    )
    rep = scaling.Report("examples/reverse.rasp", "reverse", rows, "outputs", budget, compiled)
    rep.fits = {
        "free": law,
        "E0": ChinchillaFit(E=0.0, A=50.0, B=80.0, alpha=0.5, beta=0.4, fixed_E=True),
    }
    return rep


def test_report_text_and_plots_with_a_known_fit(tmp_path):
    law = ChinchillaFit(E=0.01, A=50.0, B=80.0, alpha=0.5, beta=0.4)
    rep = _report(law, 1e12)
    text = rep.text()
    n_opt, d_opt = law.optimal(1e12)
    assert "A 50  alpha 0.5" in text and "B 80  beta 0.4" in text and "E 0.01" in text
    assert "fit E=0   L = A/N^alpha + B/D^beta" in text
    assert f"N_opt {scaling.si(n_opt)}, D_opt {scaling.si(d_opt)}" in text
    assert "extrapolation" in text  # 1e12 lies far above the largest run's 6ND
    assert "smallest N reaching 99% exact match (seeds pooled): 12.3k" in text
    assert "compiled  2 layers, 2 heads, d_model 13: N 830 (999 with embeddings)" in text
    assert max(map(len, text.splitlines())) <= 80
    paths = plots.plot(rep, tmp_path)
    assert [p.name for p in paths] == ["loss.png", "isoflop.png"]
    assert rep.as_dict()["d_opt"] == pytest.approx(d_opt)
    inside = _report(law, None)
    inside.budget = inside.swept_compute[1]
    assert "inside the swept" in inside.text() and inside.extrapolation is None


def _tick_labels(axis) -> list[str]:
    lo, hi = sorted(axis.get_view_interval())
    ticks = [t for t in axis.get_major_ticks() + axis.get_minor_ticks() if lo <= t.get_loc() <= hi]
    return [t.label1.get_text() for t in ticks if t.label1.get_visible() and t.label1.get_text()]


def test_plots_label_every_axis_also_within_one_decade():
    """Losses between 0.2 and 0.5 span no power of ten: the y axis must still be labelled."""
    law = ChinchillaFit(E=0.2, A=5.0, B=8.0, alpha=0.5, beta=0.4)
    rep = _report(law, 1e10)
    for make in (plots.loss_figure, plots.isoflop_figure):
        fig = make(rep)
        fig.canvas.draw()
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel(), (make.__name__, ax.get_title())
            assert _tick_labels(ax.yaxis), (make.__name__, ax.get_title(), ax.get_ylim())
            assert _tick_labels(ax.xaxis), (make.__name__, ax.get_title())
        fig.clf()


def _invoke(*args):
    return CliRunner().invoke(lm, list(args), catch_exceptions=False)


def test_cli_train_eval_scale(tmp_path, swept, monkeypatch):
    ckpt = str(tmp_path / "m.safetensors")
    common = ["--max-len", "4", "--examples", "200", "--batch-size", "16", "-q"]
    result = _invoke(
        "train",
        REVERSE,
        "--layers",
        "1",
        "--d-model",
        "16",
        "--heads",
        "2",
        "--tokens",
        "3k",
        "-o",
        ckpt,
        *common,
    )
    assert result.exit_code == 0, result.output
    assert "exact match" in result.output and "perplexity" in result.output
    result = _invoke("eval", ckpt, "--json")
    assert result.exit_code == 0
    metrics = json.loads(result.output)
    assert metrics["test_output_ppl"] >= 1 and 0 <= metrics["exact_match"] <= 1
    out, _ = swept  # the same grid and settings: the command reads the runs back
    monkeypatch.setattr(sweep_mod, "train", lambda *_: pytest.fail("retrained a finished run"))
    result = _invoke(
        "scale",
        REVERSE,
        "-e",
        "reverse",
        "--budget",
        "1e12",
        "--sizes",
        "1x8,1x16",
        "--tokens",
        "1k,2k,4k",
        "-o",
        str(out),
        "-j",
        "1",
        "--bootstrap",
        "5",
        *common,
    )
    assert result.exit_code == 0, result.output
    assert "fit       L = " in result.output and "fit E=0   L = " in result.output
    report_lines = [x for x in result.output.splitlines() if not x.startswith(("results", "plot"))]
    assert max(map(len, report_lines)) <= 80
    assert "N_opt" in result.output and "extrapolation" in result.output
    assert "compiled  " in result.output and "learned   " in result.output
    for plot in ("loss.png", "isoflop.png"):
        assert (out / plot).stat().st_size > 10_000
    summary = json.loads((out / "report.json").read_text())
    assert summary["n_opt"] > 0 and len(summary["runs"]) == 6
    assert len(summary["fits"]["free"]["n_opt_interval"]) == 2
    assert summary["compiled"]["params"] > 0 and summary["compiled"]["layers"] >= 1
    assert (out / "report.txt").read_text().startswith("program")


def test_json_output_is_quiet(tmp_path):
    """`--json` is for a caller that parses the output: no progress bars on stderr either
    (without `-q`, which is what turns them off for the table)."""
    result = _invoke(
        "train",
        REVERSE,
        *("--layers", "1", "--d-model", "8", "--heads", "1", "--tokens", "1k"),
        *("--max-len", "4", "--examples", "200", "--batch-size", "16"),
        *("-o", str(tmp_path / "m.safetensors"), "--json"),
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert json.loads(result.stdout)["steps"] > 0


def test_cli_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(lm, ["train", str(tmp_path / "missing.rasp")])
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0
    assert "no such file" in result.output
    bad = tmp_path / "bad.rasp"
    bad.write_text("# compile: nothing --vocab a --max-len 3\nx = tokens;\n")
    result = CliRunner().invoke(lm, ["train", str(bad), "-q"])
    assert result.exit_code == 1 and result.output.startswith("error:")
    assert result.output.strip().count("\n") == 0
    result = CliRunner().invoke(lm, ["scale", REVERSE, "--sizes", "2y8"])
    assert result.exit_code == 2
    result = CliRunner().invoke(lm, ["scale", REVERSE, "--tokens", "lots"])
    assert result.exit_code == 2
    result = CliRunner().invoke(lm, ["scale", REVERSE, "--sizes", "1x8", "--tokens", "1k,2k"])
    assert result.exit_code == 1 and "5 constants" in result.output
    assert CliRunner().invoke(lm, ["eval", str(tmp_path / "none.pt")]).exit_code == 1
    assert CliRunner().invoke(lm, ["train"]).exit_code == 2


def test_sweep_config_rejects_unknown_fit_target():
    with pytest.raises(ValueError, match="fit_on"):
        scaling.SweepConfig(base=replace(TrainConfig(), program=REVERSE), fit_on="bogus")


def test_span_shows_open_ends():
    """One rule for intervals the grid may leave open (`rasp lm scale` and the learnability
    benchmark's table)."""
    assert scaling.span(1200, 45_000) == "[1.2k, 45k]"
    assert (
        scaling.span(None, 3e6) == "[<=3M]" and scaling.span(6760, None, above=">=") == "[>=6.76k]"
    )
    assert scaling.span(None, None) == "[open]"
    assert scaling.span(0.012, 0.5, lambda x: f"{x:.2g}") == "[0.012, 0.5]"
