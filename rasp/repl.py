"""The RASP REPL: the original's commands, echoes and error messages, on any input.

`ReplSession` is the REPL without a terminal: it takes input and returns the text to print, so
it is easy to test. Two front ends drive it. `run_piped` reads stdin line by line and prints
exactly what the original prints (prompts included), so sessions can be scripted and compared
with the original's transcripts. On a terminal, `rasp.repl_prompt` adds history, completion,
highlighting and multi-line editing, and errors point at their column.

Helpers: `repl_input` decides when an input is a whole statement, `repl_echo` prints values as
the original does, `repl_antlr` words syntax errors as the original's parser did, and
`repl_compile` holds the compiler commands (`:compile`, `:attn`).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from typing import Any, TextIO

from rasp import ast, ir, repl_compile
from rasp.env import Echo, Environment
from rasp.errors import RaspError, RaspSyntaxError
from rasp.repl_antlr import antlr_message
from rasp.repl_echo import Echoer, Settings, quoted
from rasp.repl_errors import ERROR, ErrorStyle
from rasp.repl_fit import Fit, Output, fit
from rasp.repl_input import Parsed, Status, parse_input
from rasp.repl_joins import stop_message
from rasp.source import LIBRARY_PATH, resolve_load

BANNER = "RASP 0.1"
ORIGINAL_LIBRARY = "RASP_support/rasplib"
PROMPT = ">> "

HELP = """\
Statements end with ';' (def and for take none) and may span several lines.
  set [s-op|selector] example EXPR   the running example every s-op is shown on
  show [s-op|selector] example       print the running example(s)
  [s-op|selector] examples on|off    show or hide examples in the echo
  full seq display on|off            s-op values as aligned input/output rows
  load "path";                       run path.rasp, import its public names
  draw(sop [, input]);               sop's graph to comp_flows/, by layer
  exit, quit                         leave (as does Ctrl-D)
  :help                              this text
  :compile NAME [--plan]             compile NAME to a transformer, check it
  :attn NAME                         each compiled head beside its selector
      both take --vocab a,b,c and --max-len N (default: the running
      example's tokens and length); NAME may be an expression, such as
      :compile sort(tokens, tokens)
  :cut on|off                        cut long output to the terminal (on)
Keys: Tab completes names (file names after load "), Up/Down recall history,
Ctrl-C cancels the pending input."""
HELP_WORDS = ("help", "help;")  # typed without the colon, in a session that defines no `help`


def def_depth(text: str) -> int:
    """How many `def` words the pending input holds (the original indents its prompt by it)."""
    return text.split().count("def")


def _waits(parsed: Parsed, text: str) -> bool:
    """Whether the original reads on after an error in the middle of `text`: it takes ANTLR's
    `missing ';'` for an unfinished input (`x = 1 y = 2;`), and so joins every later line."""
    return (
        parsed.status is Status.ERROR
        and isinstance(parsed.error, RaspSyntaxError)
        and antlr_message(parsed.error, text).startswith("missing ';' at")
    )


class ReplSession:
    """The REPL's state: the environment, the running examples, the display switches.

    `interactive` selects the error style: the original's exact lines when False, the message
    with its line, column and a caret when True.
    """

    def __init__(self, interactive: bool = False, env: Environment | None = None):
        self.interactive = interactive
        self.env = env or Environment()
        self.env.keep_going = True  # a loaded file's errors are listed, the rest still runs
        self.settings = Settings()
        # The original loads its library as "RASP_support/rasplib" and names functions by it.
        self.settings.load_names[LIBRARY_PATH] = "library" if interactive else ORIGINAL_LIBRARY
        self.pending = ""  # the joined lines of an unfinished statement (piped reading)
        self.progress: TextIO | None = None  # where slow commands tick (the terminal REPL's)
        self.cut = interactive  # cut long output to the terminal (`:cut off` shows it all)
        self.finished = False  # `exit` was given
        self.env.example = self.settings.sop_example  # new s-ops are checked on it
        self.meta: dict[str, Callable[[str], Output]] = {
            "help": lambda _arg: [("", HELP + "\n")],
            "cut": self._cut_command,
        }
        repl_compile.register(self)

    # ---- input ----------------------------------------------------------------------------

    @property
    def errors(self) -> ErrorStyle:
        """How this session words errors (it follows `interactive`)."""
        return ErrorStyle(self.interactive)

    def banner(self) -> str:
        return f"{BANNER}\nrunning example is: {self.settings.sop_example}\n"

    def prompt(self) -> str:
        """`>> `, or `.. ` plus two spaces per `def` while a statement is unfinished."""
        if not self.pending:
            return PROMPT
        return ".. " + "  " * def_depth(self.pending)

    def feed(self, line: str) -> Output | None:
        """One line of piped input. Returns None while the statement is unfinished."""
        line = line.rstrip("\r\n")
        if not self.pending and line.startswith(":"):
            return self.run_meta(line)
        if line.strip().startswith("#"):
            line = ""  # the original drops comment lines before joining
        self.pending += line
        parsed = parse_input(self.pending)
        stop = stop_message(self.pending) if parsed.status is Status.INCOMPLETE else None
        if (parsed.status is Status.INCOMPLETE and stop is None) or _waits(parsed, self.pending):
            self.pending += " "
            return None
        text, self.pending = self.pending, ""
        if stop is not None:  # where the original's parser refuses to read on (`x = (1 +`)
            return [(ERROR, f"\t!! antlr exception: {stop} \t-- ignoring input\n")]
        return self.run_parsed(parsed, text)

    def run_text(self, text: str) -> Output:
        """A whole input at once (the terminal front end's buffer, newlines kept), its output
        cut to the terminal while `cut` is on (a meta command's may take three screens)."""
        if text.strip().startswith(":"):
            out = self.run_meta(text.strip())
        elif self.is_help(text):
            out = [("", HELP + "\n")]
        elif not text.strip():
            return []
        else:
            out = self.run_parsed(parse_input(text), text)
        if not self.cut:
            return out
        size = shutil.get_terminal_size((80, 24))
        rows = max(10, size.lines - 2) * (3 if text.strip().startswith(":") else 1)
        return fit(out, Fit(size.columns, rows))

    def is_help(self, text: str) -> bool:
        """`help` or `help;` typed on a terminal where no `help` is defined: the user wants
        the REPL's help (the original waits for more input, or says the name is undefined)."""
        return (
            self.interactive
            and "".join(text.split()) in HELP_WORDS
            and "help" not in self.env.names()
        )

    def _cut_command(self, arg: str) -> Output:
        if arg not in ("on", "off"):
            return [(ERROR, "!! :cut on (cut long output to the terminal) or :cut off\n")]
        self.cut = arg == "on"
        return [
            (
                "",
                "long output is cut to the terminal\n"
                if self.cut
                else "long output is shown whole\n",
            )
        ]

    def run_meta(self, line: str) -> Output:
        command, _, arg = line[1:].strip().partition(" ")
        handler = self.meta.get(command)
        if handler is None:
            known = ", ".join(f":{c}" for c in sorted(self.meta))
            return [(ERROR, f"unknown command :{command} (known: {known})\n")]
        try:
            return handler(arg.strip())
        except Exception as exc:  # a failing command must not end the session
            return self.errors.internal_error(exc)

    def run_parsed(self, parsed: Parsed, text: str) -> Output:
        if parsed.status in (Status.ERROR, Status.INCOMPLETE):
            err = parsed.error or RaspSyntaxError("unexpected end of input", 1, 1)
            return self.errors.syntax_error(err, text)
        if parsed.status is Status.MULTIPLE and not self.interactive:
            # The original asserts one statement per read: the assertion has no message.
            return [(ERROR, "something went wrong: \n")]
        out: Output = []
        for statement in parsed.statements:
            out += self.run_statement(statement, text)
            if self.finished:
                break
        return out

    # ---- statements -----------------------------------------------------------------------

    def run_statement(self, statement: ast.Node, text: str = "") -> Output:
        """Execute one parsed statement; errors skip it and never change the session.

        Like the original, any exception at all is reported and the session goes on."""
        try:
            echo = self.env.execute(statement)
            if echo.kind == "command":
                return [("", line + "\n") for line in self.command(echo)]
        except RaspError as err:
            return self.errors.error(err, text)
        except Exception as exc:
            return self.errors.internal_error(exc)
        echoer = Echoer(self.settings, self._evaluate, self.env.display.of)
        try:
            self.show(echo, echoer)
        except RaspError as err:
            return self._lines(echoer.lines) + self.errors.echo_error(err)
        except Exception as exc:
            return self._lines(echoer.lines) + self.errors.internal_error(exc)
        return self._lines(echoer.lines)

    @staticmethod
    def _lines(lines: list[str]) -> Output:
        return [("", line + "\n") for line in lines]

    def show(self, echo: Echo, echoer: Echoer) -> None:
        match echo.kind:
            case "load":
                self.show_load(echo, echoer)
            case "draw":
                echoer.lines += repl_compile.draw(self, *echo.value)
            case _:
                echoer.echo(echo)

    def command(self, echo: Echo) -> list[str]:
        """A REPL command's effect on the session (the environment evaluated and checked a
        `set example`'s value, and made an s-op example its running example)."""
        s, cmd = self.settings, echo.statement
        assert isinstance(cmd, ast.ReplCommand)
        which = cmd.kind or "both"
        if cmd.command == "exit":
            self.finished = True
        elif cmd.command == "set_example":
            if which in ("both", "s-op"):
                s.sop_example = echo.value
            if which in ("both", "selector"):
                s.selector_example = echo.value
        elif cmd.command == "show_example":
            lines = []
            if which in ("both", "s-op"):
                lines.append(f"\ts-op example: {quoted(s.sop_example)}")
            if which in ("both", "selector"):
                lines.append(f"\tselector example: {quoted(s.selector_example)}")
            return lines
        elif cmd.command == "examples":
            if which in ("both", "s-op"):
                s.sop_examples = bool(cmd.flag)
            if which in ("both", "selector"):
                s.selector_examples = bool(cmd.flag)
        elif cmd.command == "full_seq_display":
            s.full_display = bool(cmd.flag)
        return []

    def show_load(self, echo: Echo, echoer: Echoer) -> None:
        """A load lists the public names it defined (no examples) and the errors it met, in the
        order the statements ran, nested loads included; without errors, only the last binding
        of each name is listed (as the original filters its output)."""
        self._name_loads(echo, None)
        self._file_commands(echo.value)
        # The original prints a loaded file's syntax errors as it reads them, before the list.
        for err in echo.errors:
            if err.kind == "syntax":
                echoer.lines += [t.rstrip("\n") for _style, t in self.errors.error(err, "")]
        errors = [err for err in echo.errors if err.kind != "syntax"]
        events = self._load_events(echo.value, resolve_load(echo.names[0], None), errors)
        events += [err for err in errors if not any(err is e for e in events)]
        if not errors:
            last = {event[0]: i for i, event in enumerate(events)}
            events = [e for i, e in enumerate(events) if last[e[0]] == i]
        s = self.settings
        saved = s.sop_examples, s.selector_examples
        s.sop_examples = s.selector_examples = False
        try:
            for event in events:
                if isinstance(event, RaspError):
                    echoer.lines += [t.rstrip("\n") for _style, t in self.errors.error(event, "")]
                else:
                    echoer.named(*event)
        finally:
            s.sop_examples, s.selector_examples = saved

    def _load_events(self, echoes: list[Echo], path: str, errors: list[RaspError]) -> list[Any]:
        """A loaded file's (name, value) bindings and its errors, by line (a nested load's
        events at the line of its `load`)."""
        timed: list[tuple[float, Any]] = []
        for e in echoes:
            line = e.statement.span.line if e.statement is not None else 0
            if e.kind == "load":
                nested = self._load_events(e.value, resolve_load(e.names[0], path), errors)
                timed += [(line, event) for event in nested]
            else:
                timed += [(line, binding) for binding in Echoer.public_names(e)]
        timed += [
            (math.inf if err.line is None else err.line, err) for err in errors if err.path == path
        ]
        return [event for _line, event in sorted(timed, key=lambda t: t[0])]

    def _name_loads(self, echo: Echo, current: str | None) -> None:
        path = resolve_load(echo.names[0], current)
        self.settings.load_names[path] = echo.names[0]
        for inner in echo.value:
            if inner.kind == "load":
                self._name_loads(inner, path)

    def _file_commands(self, echoes: list[Echo]) -> None:
        """A loaded file's REPL commands (`set example`, `full seq display`, ...) act on the
        session as the original's do, nested loads' included, in order."""
        for e in echoes:
            if e.kind == "command":
                self.command(e)
            elif e.kind == "load":
                self._file_commands(e.value)

    # ---- evaluation -----------------------------------------------------------------------

    def _evaluate(self, node: ir.IRNode, example: Any) -> Any:
        return self.env.on_example(node, example)


def text_of(output: Output) -> str:
    return "".join(text for _style, text in output)


def run_piped(stdin: TextIO, stdout: TextIO, session: ReplSession | None = None) -> None:
    """Read statements from a pipe and print exactly what the original prints."""
    session = session or ReplSession()
    stdout.write(session.banner())
    while not session.finished:
        stdout.write(session.prompt())
        stdout.flush()
        try:
            line = stdin.readline()
            if not line:
                stdout.write("\n")  # the original prints an empty line at EOF
                break
            out = session.feed(line)
        except KeyboardInterrupt:  # as the original: a newline, the pending input dropped
            session.pending = ""
            stdout.write("\n")
            continue
        if out:
            stdout.write(text_of(out))
    stdout.flush()


__all__ = ["ReplSession", "Status", "parse_input", "run_piped"]
