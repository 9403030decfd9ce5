"""benchmarks/learnability.py: the table it prints from its committed results is the one
lm/README.md shows, its compiled sizes are the current compiler's, and `--recompile`
refreshes them without the runs (which are not in the repository)."""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest

from lm.data import ProgramSpec
from lm.plots import learnability_figure
from lm.scaling import compiled_size

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "learnability.json"


def script():
    path = ROOT / "benchmarks" / "learnability.py"
    spec = importlib.util.spec_from_file_location("learnability", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def saved() -> dict:
    return json.loads(RESULTS.read_text())


def _printed(saved: dict) -> str:
    module = script()
    entries = list(saved["programs"].values())
    return module.table(entries) + "\n\n" + module.legend(entries)


def test_lm_readme_shows_the_table_the_committed_results_give(saved):
    printed = _printed(saved)
    assert max(map(len, printed.splitlines())) <= 80
    for readme in ("README.md", "lm/README.md"):
        text = (ROOT / readme).read_text(encoding="utf-8")
        assert printed in text, f"{readme}'s table differs: paste the script's output"
    # One block of four lines per program, each with the sizes counted with embeddings.
    assert printed.count("\n  with embeddings: ") == len(saved["programs"]) == 15


def test_committed_compiled_sizes_are_the_current_compilers(saved):
    """The compiler changes more often than the trained runs: when this fails, run
    `python benchmarks/learnability.py --recompile` (seconds, no training) and paste the
    table it prints into the READMEs."""
    for path, entry in saved["programs"].items():
        spec = ProgramSpec.from_file(ROOT / path, entry["expr"], entry["vocab"])
        assert entry["compiled"] == asdict(compiled_size(spec, entry["max_len"])), path


def test_recompile_refreshes_sizes_and_ratios_without_runs(saved, tmp_path, monkeypatch):
    module = script()
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(module, "run_program", lambda *a: pytest.fail("trained a program"))
    path = "examples/length.rasp"  # learned: both ratios are defined
    stale = json.loads(json.dumps(saved))
    stale["programs"][path]["compiled"].update(params=1, params_non_embedding=1)
    stale["programs"][path]["ratio_non_embedding"] = 1.0
    out = tmp_path / "learnability.json"
    out.write_text(json.dumps(stale))
    module.main(
        ["--programs", path, "--jobs", "1", "--recompile"]
        + ["--out", str(out), "--plots", str(tmp_path / "plots")]
    )
    entry = json.loads(out.read_text())["programs"][path]
    compiled = entry["compiled"]
    assert compiled == saved["programs"][path]["compiled"] and compiled["params"] > 1
    N = entry["frontier"]["smallest_N"]
    assert entry["ratio_non_embedding"] == pytest.approx(N / compiled["params_non_embedding"])
    assert entry["ratio_with_embeddings"] == pytest.approx(
        entry["learned_params"] / compiled["params"]
    )
    assert {k: v for k, v in entry.items() if not re.match("compiled|ratio_", k)} == {
        k: v for k, v in stale["programs"][path].items() if not re.match("compiled|ratio_", k)
    }
    assert (tmp_path / "plots" / "length.png").stat().st_size > 10_000


def _tick_labels(axis) -> list[str]:
    lo, hi = sorted(axis.get_view_interval())
    ticks = [t for t in axis.get_major_ticks() + axis.get_minor_ticks() if lo <= t.get_loc() <= hi]
    return [t.label1.get_text() for t in ticks if t.label1.get_visible() and t.label1.get_text()]


def test_figures_label_every_axis_also_within_one_decade(saved):
    """Every committed program's figure, and one whose sizes and budgets span no power of
    ten (where matplotlib alone labels no tick), has named axes with tick labels."""
    narrow = json.loads(json.dumps(saved["programs"]["examples/shuffle_dyck2.rasp"]))
    for p, N in zip(narrow["points"], [2e4] * 4 + [3e4] * 4 + [5e4] * 4, strict=True):
        p["N"], p["D"] = N, p["D"] / 2 + 1e5  # budgets 1.25e5-3e5
    narrow["compiled"].update(params=4e4, params_non_embedding=3.5e4)
    for entry in [*saved["programs"].values(), narrow]:
        fig = learnability_figure(entry)
        fig.canvas.draw()
        (ax,) = fig.axes
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        assert _tick_labels(ax.xaxis) and _tick_labels(ax.yaxis), entry["program"]
