"""Error classes: every problem in a user's program surfaces as a `RaspError`, never a traceback."""

from __future__ import annotations


class RaspError(Exception):
    """A user-facing error. `message` is the bare text; `str()` adds the location.

    `kind` tells the REPL which of the original's three error forms to print:
    'rasp' (`!!ignoring input`), 'python' (`something went wrong`) or 'syntax'.
    """

    kind = "rasp"

    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        path: str | None = None,
        source_line: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.path = path
        self.source_line = source_line
        # Where the user's program led here, when the error lies elsewhere (in the library, in
        # a loaded file, in a function defined earlier): "called from <input>:1:5", outermost last.
        self.notes: list[str] = []

    def located(
        self,
        line: int | None,
        column: int | None,
        path: str | None = None,
        source_line: str | None = None,
    ) -> RaspError:
        """Fill in a location if none is known yet (the innermost location wins)."""
        if self.line is None and line is not None:
            self.line, self.column = line, column
            self.path = self.path or path
            self.source_line = self.source_line or source_line
        return self

    def where(self) -> str:
        if self.line is None:
            return self.path or ""
        return f"{self.path or '<input>'}:{self.line}:{self.column}"

    def __str__(self) -> str:
        head = self.where()
        text = f"{head}: {self.message}" if head else self.message
        if self.source_line is not None and self.column is not None:
            text += f"\n    {self.source_line.rstrip()}\n    {self.caret()}"
        return "\n".join([text, *(f"  {note}" for note in self.notes)])

    def caret(self) -> str:
        return caret_under(self.source_line or "", self.column or 1)

    def note(self, text: str) -> RaspError:
        """Add a line of context (once)."""
        if text not in self.notes:
            self.notes.append(text)
        return self


def caret_under(line: str, column: int) -> str:
    """A caret under `column` of `line` (1-based), its tabs kept so that it lines up."""
    lead = line[: column - 1]
    return "".join(c if c == "\t" else " " for c in lead).ljust(column - 1) + "^"


class RaspSyntaxError(RaspError):
    """The text does not parse."""

    kind = "syntax"


class RaspNameError(RaspError):
    """An undefined or reserved name."""


class RaspTypeError(RaspError):
    """A value of the wrong kind: mixed sequence types, wrong arity, non-selectors, ..."""


class RaspEvalError(RaspError):
    """Evaluation failed the way the original's Python would: division by zero, bad literal, ..."""

    kind = "python"
