"""The import contracts (`.importlinter`, issue 12) say what the README's layers say: an import
each layer forbids, written into a copy of the packages, breaks the contract meant for it; the
contracts' lists of app and core modules agree; and importing the language core, in a fresh
process, loads nothing above it. `scripts/test` runs `lint-imports` on the tree itself: these
tests check that a kept contract means something."""

import configparser
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rasp", "compiler", "runtime", "lm")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _config() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter", encoding="utf-8")
    return parser


def _contract(name: str, key: str) -> list[str]:
    """A contract's list option (`source_modules`, `forbidden_modules`, `layers`)."""
    value = _config()[f"importlinter:contract:{name}"].get(key, "")
    return [line.strip() for line in value.splitlines() if line.strip()]


def _rasp_layers() -> tuple[set[str], set[str]]:
    """(app, core): the two layers of `rasp`, as module names."""
    app, core = (
        {f"rasp.{m.strip()}" for m in layer.split(":")}
        for layer in _contract("rasp-layers", "layers")
    )
    return app, core


def test_the_contracts_list_the_same_app_and_core_modules():
    """The layers of `rasp` are written out in several contracts: a module added to one list
    and not the others would leave a layer open (e.g. the compiler free to import a new app
    module), so every list must match the layers contract, which lint-imports keeps
    exhaustive."""
    app, core = _rasp_layers()
    assert set(_contract("core", "source_modules")) == {"rasp"} | core
    assert app <= set(_contract("core", "forbidden_modules"))
    leaf = {"rasp.command"}  # the app's leaf a package's `cli` may use (the cli-only contract)
    for lower in ("compiler", "lm"):
        assert app - leaf <= set(_contract(lower, "forbidden_modules")), lower


def test_importing_the_core_loads_nothing_above_it():
    """Every core module (and so `rasp/__init__.py`, which each import runs) loads no tool,
    no app module and no UI library: what the core contract forbids, checked at run time."""
    _app, core = _rasp_layers()
    forbidden = [m.removesuffix(".**") for m in _contract("core", "forbidden_modules")]
    code = (
        "import importlib, json, sys\n"
        f"for m in {sorted(core)!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if any("
        f"m == f or m.startswith(f + '.') for f in {forbidden!r}))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The four packages' Python files and `.importlinter`, outside the tree."""
    if not LINT_IMPORTS.exists():
        pytest.skip("lint-imports (import-linter) is not installed")
    root = tmp_path_factory.mktemp("layers")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    shutil.copy(ROOT / ".importlinter", root / ".importlinter")
    return root


def _broken(root: Path) -> set[str]:
    """The contracts (by their section name) lint-imports reports broken in `root`."""
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", ".importlinter"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    config = _config()
    verdicts = {}
    for section in config.sections():
        if section.startswith("importlinter:contract:"):
            name = config[section]["name"]
            found = re.search(rf"^{re.escape(name)} (KEPT|BROKEN)", done.stdout, re.MULTILINE)
            assert found, (name, done.stdout[-2000:], done.stderr[-2000:])
            verdicts[section.rpartition(":")[2]] = found.group(1)
    return {name for name, verdict in verdicts.items() if verdict == "BROKEN"}


# (file, the import written at its end, the contract that must break)
VIOLATIONS = [
    ("rasp/__init__.py", "import rasp.repl", "core"),  # every `import rasp.ast` runs it
    ("rasp/__init__.py", "import compiler.program", "core"),
    ("rasp/ast.py", "import compiler.program", "core"),
    ("rasp/interpreter.py", "import torch", "core"),
    ("rasp/parser.py", "import rasp.show", "rasp-layers"),
    ("runtime/model.py", "import rasp.ir", "runtime"),
    ("compiler/plan.py", "import lm.data", "compiler"),
    ("compiler/plan.py", "import rasp.repl", "compiler"),
    ("lm/data.py", "import rasp.draw", "lm"),
    ("compiler/plan.py", "import click", "cli-only"),
    ("lm/train.py", "from rasp.command import fail", "cli-only"),
    ("rasp/ir.py", "import rasp.interpreter", "acyclic"),
    ("rasp/unlisted.py", "import rasp.ast", "rasp-layers"),  # every rasp module is in a layer
    ("compiler/plan.py", "import compiler.program", "acyclic"),
]


def test_the_tree_as_it_stands_keeps_every_contract(copy):
    """The copy itself is clean, so a broken contract below is the written import's doing."""
    assert _broken(copy) == set()


@pytest.mark.parametrize(("path", "line", "contract"), VIOLATIONS)
def test_an_import_across_a_layer_breaks_its_contract(copy, path, line, contract):
    """A function-local import counts as one at the top (grimp reads both); a new module
    listed in no layer breaks the layers contract (it is exhaustive)."""
    target = copy / path
    original = target.read_text(encoding="utf-8") if target.exists() else None
    try:
        target.write_text(f"{original or ''}\n\ndef _injected():\n    {line}\n", encoding="utf-8")
        assert contract in _broken(copy)
    finally:
        if original is None:
            target.unlink()
        else:
            target.write_text(original, encoding="utf-8")
