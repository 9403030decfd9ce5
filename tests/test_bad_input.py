"""Bad input through every file-taking `rasp` command: one `error:` line (with the source line
and a caret when there is one), exit status 1, within seconds; never a traceback or a hang.

Commands run in-process through the `rasp` group (so its last-resort guard is exercised too),
except the pipe and device cases, which run the real command with a timeout.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rasp.cli import main
from rasp.examples import MAX_LEN

ROOT = Path(__file__).resolve().parent.parent
BIG = "1" + "0" * 400  # past float range: 10**400
FILE_COMMANDS = ["run", "check", "show", "draw", "compile", "verify", "attention"]

HEADERS = {
    "max_len_word": (
        "# compile: y --vocab a,b --max-len abc",
        "--max-len needs a whole number",
        "abc",
    ),
    "unclosed_quote": ('# compile: y --vocab "a,b --max-len 4', "no closing quotation", '"'),
    "no_arrow": ('# example: "ab"', "needs 'INPUT -> OUTPUT'", '"ab"'),
    "vocab_no_value": ("# compile: y --vocab", "--vocab needs a value", "--vocab"),
    "vocab_then_flag": ("# compile: y --vocab --max-len 4", "--vocab needs a value", "--vocab"),
    "no_name": ("# compile: --vocab a --max-len 4", "needs 'NAME --vocab", "--vocab"),
    "huge_max_len": (
        "# compile: y --vocab a,b --max-len 99999999",
        f"between 1 and {MAX_LEN}",
        "99999999",
    ),
    "bad_example": ("# example: [1, 2 -> [a]", "expected ']'", "["),
}


def invoke(args: list[str], tmp_path: Path) -> tuple[int, str, float]:
    start = time.perf_counter()
    result = CliRunner().invoke(main, args, catch_exceptions=True)
    elapsed = time.perf_counter() - start
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args}: {type(result.exception).__name__}: {result.exception}"
    )
    return result.exit_code, result.output, elapsed


@pytest.mark.parametrize("case", sorted(HEADERS))
@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_malformed_header(case, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line, message, at = HEADERS[case]
    path = tmp_path / "prog.rasp"
    path.write_text(f"# prog: a test\n{line}\ny = tokens;\n")
    code, out, elapsed = invoke([command, str(path)], tmp_path)
    assert code == 1, out
    assert "Traceback" not in out
    first = out.splitlines()[0]
    assert first.startswith(f"error: {path}:2:") and message in first, out
    # The source line, then a caret under the offending text.
    source, caret = out.splitlines()[1:3]
    assert source.strip() == line
    assert source[caret.index("^") :].startswith(at), out
    assert elapsed < 10


@pytest.mark.parametrize("command", ["show", "draw", "compile", "verify", "attention"])
def test_integer_past_float_range(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "big.rasp"
    path.write_text(
        "# big: a huge integer\n# compile: y --vocab 1,2 --max-len 4\n"
        f"# example: [1, 2] -> [1, 2]\ny = tokens_int + {BIG};\n"
    )
    code, out, _ = invoke([command, str(path)], tmp_path)
    if command == "show":  # show reports the compile failure as an annotation, and succeeds
        out = out.replace("\n#>   ", " ")  # annotations wrap at 80 columns
        assert code == 0 and "#> compile y: cannot compile y: a value too large" in out
        return
    assert code == 1 and "too large" in out.splitlines()[0], out


@pytest.mark.parametrize("command", ["draw", "compile", "verify"])
def test_integer_past_float_range_in_a_select(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "big.rasp"
    path.write_text(
        "# big: a huge key\n# compile: y --vocab 1,2 --max-len 4\n# example: [1, 2] -> [0, 0]\n"
        f"y = aggregate(select(tokens_int, {BIG}, ==), tokens_int);\n"
    )
    code, out, elapsed = invoke([command, str(path)], tmp_path)
    assert code == 1 and len(out.splitlines()) == 1 and "too large" in out, out
    assert elapsed < 30


@pytest.mark.parametrize("command", ["compile", "verify", "attention"])
def test_max_len_flag_past_the_cap(command, tmp_path, monkeypatch):
    """A --max-len the machine cannot hold (it tried to allocate 1.6 TB) is a usage error."""
    monkeypatch.chdir(ROOT)
    code, out, elapsed = invoke(
        [command, "examples/reverse.rasp", "--max-len", "99999999"], tmp_path
    )
    assert code == 2 and f"99999999 is not in the range 1<=x<={MAX_LEN}" in out, out
    assert elapsed < 30


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_oversized_program(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "big.rasp"
    path.write_text("x = indices + 1;\n" * 40_000)  # 680 KB
    code, out, elapsed = invoke([command, str(path)], tmp_path)
    assert (
        code == 1 and out == f"error: {path}: larger than 256 KiB: too large to be a RASP program\n"
    )
    assert elapsed < 5


def _rasp(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rasp.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_and_device_are_refused_at_once(tmp_path):
    fifo = tmp_path / "prog.rasp"
    os.mkfifo(fifo)
    for target in (str(fifo), "/dev/zero"):
        if not os.path.exists(target):
            continue
        for command in ("run", "check"):
            start = time.perf_counter()
            done = _rasp(command, target)
            assert done.returncode == 1
            assert (
                done.stderr == f"error: {target}: not a regular file (a device or a pipe?),"
                " so not a program\n"
            )
            assert time.perf_counter() - start < 20


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("command", ["show", "draw", "compile", "verify", "attention"])
def test_a_device_is_refused_by_every_command(command, tmp_path):
    code, out, elapsed = invoke([command, "/dev/zero"], tmp_path)
    assert code == 1
    assert out == "error: /dev/zero: not a regular file (a device or a pipe?), so not a program\n"
    assert elapsed < 10


def test_wrong_input_kind_names_what_the_program_takes(tmp_path):
    code, out, _ = invoke(["run", str(ROOT / "examples" / "sort.rasp"), "-i", "abc"], tmp_path)
    assert code == 1
    assert "invalid literal for int()" in out
    assert out.rstrip().endswith(
        "(this program's examples take inputs like [3, 1, 2]: try -i '[3, 1, 2]')"
    )


def test_last_resort_guard_turns_recursion_into_one_line(monkeypatch, tmp_path):
    """Python's own limits (recursion, memory, float range) end in one line from any
    sub-command, even one this package does not define."""
    import rasp.examples as examples

    def deep() -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(examples, "read_source", lambda _path: deep())
    code, out, _ = invoke(["run", str(ROOT / "examples" / "reverse.rasp")], tmp_path)
    assert code == 1
    assert out == "error: the input is nested too deeply to read (past Python's recursion limit)\n"


def _model_with(tmp_path: Path, name: str, edit) -> Path:
    """A compiled reverse model whose metadata `edit` rewrote (header only; tensors kept)."""
    import json
    import struct

    good = tmp_path / "reverse.safetensors"
    if not good.exists():
        code, out, _ = invoke(
            ["compile", str(ROOT / "examples" / "reverse.rasp"), "-o", str(good)], tmp_path
        )
        assert code == 0, out
    raw = good.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    edit(header["__metadata__"])
    text = json.dumps(header).encode()
    path = tmp_path / name
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])
    return path


def _set_vocab(value):
    import json

    def edit(meta):
        manifest = json.loads(meta["manifest"])
        manifest["vocab"] = value
        meta["manifest"] = json.dumps(manifest)

    return edit


@pytest.mark.parametrize(
    "name, edit, message",
    [
        (
            "deep.safetensors",
            lambda m: m.update(manifest="[" * 100_000 + "]" * 100_000),
            "invalid config or manifest: nested too deeply",
        ),
        (
            "deepcfg.safetensors",
            lambda m: m.update(config="[" * 100_000 + "]" * 100_000),
            "invalid config or manifest: nested too deeply",
        ),
        ("empty.safetensors", _set_vocab([]), "damaged manifest: the vocabulary is empty"),
        ("null.safetensors", _set_vocab(None), "damaged manifest: the vocabulary is empty"),
        (
            "list.safetensors",
            lambda m: m.update(manifest="[1]"),
            "a raspc model, but not a compiled RASP program",
        ),
    ],
)
def test_damaged_model_file(name, edit, message, tmp_path):
    path = _model_with(tmp_path, name, edit)
    code, out, elapsed = invoke(["exec", str(path), "-i", "abc"], tmp_path)
    assert code == 1 and out == f"error: {path}: {message}\n"
    assert elapsed < 10


def test_device_that_is_missing(tmp_path):
    import torch

    if torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    path = _model_with(tmp_path, "ok.safetensors", lambda m: None)
    code, out, _ = invoke(["exec", str(path), "-i", "abc", "--device", "mps"], tmp_path)
    assert code == 1 and out == "error: device 'mps' requested but MPS is not available here\n"


def test_compile_into_an_unwritable_place(tmp_path, monkeypatch):
    """It was a raw SafetensorError; now the system's reason in one line. (Runs as root too:
    /sys refuses new files to everyone.)"""
    target = "/sys/raspc-test.safetensors"
    if not os.path.isdir("/sys/kernel"):
        pytest.skip("needs Linux's sysfs")
    code, out, _ = invoke(
        ["compile", str(ROOT / "examples" / "reverse.rasp"), "-o", target], tmp_path
    )
    assert code == 1
    assert out.startswith(f"error: cannot write {target}: ") and len(out.splitlines()) == 1


@pytest.mark.parametrize("name", ["frac_prevs", "hist", "reverse", "sort"])
def test_run_json_type_is_the_text_outputs_label(name, tmp_path):
    """`rasp run --json` names the type the text output prints after the sequence."""
    import json

    path = str(ROOT / "examples" / f"{name}.rasp")
    code, text, _ = invoke(["run", path], tmp_path)
    assert code == 0
    code, lines, _ = invoke(["run", path, "--json"], tmp_path)
    assert code == 0
    records = [json.loads(line) for line in lines.splitlines()]
    labels = [line.rsplit("(", 1)[1].rstrip(")") for line in text.splitlines()]
    assert [r["type"] for r in records] == labels and labels
