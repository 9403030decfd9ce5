"""Scopes: where names live while RASP runs, chained as the original chains them.

A scope looks names up through its parents. Top-level input runs in a scope under the
library's; a `def` closes over the scope it was written in (`build.Function.closure`) and
each call runs in a fresh scope under it; a loaded file runs in its own scope under the
library's and copies its public names to the scope that loaded it (`exports`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rasp.errors import RaspNameError

# The original's reserved names: no statement may bind them (its `ReservedName` error).
RESERVED_NAMES = frozenset("if else not and or out def return range for in zip len get".split())


@dataclass
class Scope:
    vars: dict[str, Any] = field(default_factory=dict)
    parent: Scope | None = None
    exports: Scope | None = None  # a loaded file's public names are copied here
    in_function: bool = False  # a call's or a comprehension's scope: it may shadow the library

    def lookup(self, name: str) -> Any:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.vars:
                return scope.vars[name]
            scope = scope.parent
        raise RaspNameError(f"Undefined variable: {name}")

    def set(self, name: str, value: Any) -> None:
        self.vars[name] = value
        if self.exports is not None and not name.startswith("_") and name != "out":
            self.exports.set(name, value)
