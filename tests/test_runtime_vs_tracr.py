"""benchmarks/vs_tracr.py runs end to end on tiny batches: without Tracr it prints raspc's
figures and says Tracr was absent; with a Tracr environment (only where one is installed) the
worker's figures and outputs come back through JSON."""

from __future__ import annotations

import importlib.util
import json
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
    code = script().main(["--no-tracr", "--programs", "reverse", "--batches", "1,8",
                          "--min-cpu", "0.01", "--back-to-back", "0", "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0 and "Tracr: absent" in out and "reverse@32" in out
    assert max(len(line) for line in out.splitlines()) <= 80, out
    rows = json.loads(path.read_text())["programs"]["reverse"]["raspc"]["rows"]
    assert [r["batch"] for r in rows] == [1, 8] and all(r["exact"] for r in rows)
    assert all(r["e2e"]["cpu"] > 0 and r["bare"]["reps"] >= 1 for r in rows)


@pytest.mark.slow
def test_with_tracr(tmp_path, capsys, restore_threads):
    vs = script()
    python = vs.tracr_python(None)
    if python is None:
        pytest.skip("no Tracr environment on this machine")
    vs.PROGRAMS["hist"] = (["a", "b"], 4)  # a tiny hist keeps Tracr's compile short
    code = vs.main(["--programs", "hist", "--batches", "2", "--min-cpu", "0.01",
                    "--back-to-back", "2", "--json", str(tmp_path / "vs.json")])
    out = capsys.readouterr().out
    assert code == 0 and "Tracr's outputs: 100.0% of sequences correct" in out
    tracr = json.loads((tmp_path / "vs.json").read_text())["programs"]["hist"]["tracr"]
    assert tracr["rows"][0]["e2e"]["cpu"] > 0 and tracr["back_to_back_wall"] > 0
