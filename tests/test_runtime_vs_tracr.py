"""benchmarks/vs_tracr.py runs end to end on tiny batches: without Tracr it prints raspc's
figures and says Tracr was absent; with a Tracr environment (only where one is installed) the
worker's figures and outputs come back through JSON."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def script():
    spec = importlib.util.spec_from_file_location("vs_tracr", ROOT / "benchmarks" / "vs_tracr.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_without_tracr(tmp_path, capsys, restore_threads):
    path = tmp_path / "vs.json"
    code = script().main(
        [
            "--no-tracr",
            "--programs",
            "reverse",
            "--batches",
            "1,8",
            "--min-cpu",
            "0.01",
            "--json",
            str(path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "Tracr: absent" in out and "reverse@32" in out
    assert max(len(line) for line in out.splitlines()) <= 80, out
    rows = json.loads(path.read_text())["programs"]["reverse"]["raspc"]["rows"]
    assert [r["batch"] for r in rows] == [1, 8] and all(r["exact"] for r in rows)
    assert all(r["e2e"]["cpu"] > 0 and r["bare"]["reps"] >= 1 for r in rows)


def test_wall_section_alone(tmp_path, capsys, restore_threads):
    path = tmp_path / "wall.json"
    code = script().main(
        [
            "--wall",
            "--no-tracr",
            "--programs",
            "reverse",
            "--back-to-back",
            "4",
            "--min-cpu",
            "0.01",
            "--json",
            str(path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "Wall time per batch of 4" in out and "reverse@32: raspc" in out
    assert max(len(line) for line in out.splitlines()) <= 80, out
    res = json.loads(path.read_text())["programs"]["reverse"]
    assert res["exact"] and len(res["raspc_wall"]) == 2 and min(res["raspc_wall"]) > 0


@pytest.mark.slow
def test_with_tracr(tmp_path, capsys, restore_threads):
    vs = script()
    python = vs.tracr_python(None)
    if python is None:
        pytest.skip("no Tracr environment on this machine")
    vs.PROGRAMS["hist"] = (["a", "b"], 4)  # a tiny hist keeps Tracr's compile short
    code = vs.main(
        [
            "--programs",
            "hist",
            "--batches",
            "2",
            "--min-cpu",
            "0.01",
            "--json",
            str(tmp_path / "vs.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "Tracr's outputs: 100.0% of sequences correct" in out
    tracr = json.loads((tmp_path / "vs.json").read_text())["programs"]["hist"]["tracr"]
    assert tracr["rows"][0]["e2e"]["cpu"] > 0
    code = vs.main(
        [
            "--wall",
            "--programs",
            "hist",
            "--back-to-back",
            "2",
            "--min-cpu",
            "0.01",
            "--json",
            str(tmp_path / "wall.json"),
        ]
    )
    res = json.loads((tmp_path / "wall.json").read_text())["programs"]["hist"]
    assert code == 0 and res["tracr_wall"] > 0 and res["ratio"] > 0


def test_tracr_by_length_needs_tracr(capsys, monkeypatch):
    """Without Tracr the length check says so and fails; with it (where installed) Tracr's
    hist is right on every short input, so the harness itself decodes correctly."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import tracr_lengths
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    monkeypatch.setenv("RASPC_TRACR_PYTHON", "")
    python = tracr_lengths.vt.tracr_python(None)
    if python is None:
        assert tracr_lengths.main(["--tracr-python", "/nonexistent"]) == 1
        assert "Tracr: absent" in capsys.readouterr().out
        return
    code = tracr_lengths.main(["--programs", "hist", "--lengths", "3,4", "--count", "5"])
    out = capsys.readouterr().out
    assert code == 0 and "5/5" in out and max(len(line) for line in out.splitlines()) <= 80


def test_the_full_table_fits_80_columns():
    """The README's table as the script prints it (four programs, four batches, Tracr's
    columns filled, six-digit rates) stays within 80 columns."""
    results = json.loads((ROOT / "benchmarks" / "results" / "vs_tracr.json").read_text())
    lines = script().table(results, wide=False).splitlines()
    assert len(lines) == 1 + sum(len(p["raspc"]["rows"]) for p in results["programs"].values())
    assert max(map(len, lines)) <= 80, "\n".join(lines)
