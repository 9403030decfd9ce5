"""Compile one corpus configuration and judge it against the interpreter, in a child process.

Shared by `tests/test_corpus.py` and `benchmarks/compiler_coverage.py` / `compiler_scale.py`.
Each configuration runs in a forked child with a time limit (CPU seconds, see `run`), so a
compile that hangs, or one that dies in native code, costs its budget and yields a verdict
of its own instead of stopping the run.

Verdicts: `exact` (every checked input gives the interpreter's output, value AND type: a
model that decodes 0 where the interpreter has 0.0 is `wrong`), `refused` (a CompileError),
`wrong`, `timeout` (no verdict within the budget, or the compiler's own "cannot compile in
time") and `error` (any other exception: the
message names its type and the innermost frame); `compiled` when asked not to verify.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent
ROOT = CORPUS.parent.parent
REFUSALS = CORPUS / "refusals.txt"
TYPE_ONLY_NOTE = "equal numbers, different types"
VERDICTS = ("exact", "refused", "wrong", "timeout", "error")
CHECK_TIMEOUT = (
    "compiled, but the check ran"  # how a `timeout` of the check (not the compile) begins
)
WALL_FACTOR = 4


@dataclass(frozen=True)
class Program:
    name: str  # the file's stem
    path: str  # relative to the repository root
    expr: str  # what the header's `compile:` line compiles
    vocab: tuple
    lines: int


@dataclass
class Outcome:
    verdict: str
    message: str = ""
    seconds: float = 0.0  # compile time (wall, in the child)
    cpu_seconds: float = 0.0  # compile time (CPU of the child: steadier under load)
    verify_seconds: float = 0.0
    stats: dict[str, int] = field(default_factory=dict)
    located: bool = False  # a refusal that names file:line:col
    checked: int = 0  # inputs compared

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def programs() -> list[Program]:
    """Every corpus program, by name."""
    from rasp.examples import read_header

    out = []
    for path in sorted(CORPUS.glob("*.rasp")):
        spec = read_header(str(path)).compile
        assert spec is not None, f"{path.name}: no `# compile:` header"
        text = path.read_text(encoding="utf-8")
        out.append(
            Program(
                path.stem,
                str(path.relative_to(ROOT)),
                spec.expr,
                tuple(spec.vocab),
                text.count("\n") + 1,
            )
        )
    return out


def read_refusals(path: Path = REFUSALS) -> dict[tuple[str, int], str]:
    """`program max_len reason...` lines: the configurations still refused, and how."""
    out: dict[tuple[str, int], str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, n, reason = line.split(maxsplit=2)
        out[(name, int(n))] = reason.strip()
    return out


def reason_of(message: str) -> str:
    """The reason of a CompileError message: what follows `cannot compile `label`: ` on its
    first line, the location before it, the quoted line after it and a reason's own leading
    `expression` dropped (so the reason reads the same wherever the program is)."""
    head = message.split("\n", 1)[0]
    at = head.find("cannot compile ")
    if at < 0:
        return head
    rest = head[at + len("cannot compile ") :]
    if rest.startswith("`"):
        cut = rest.find("`: ")
        rest = rest[cut + 3 :] if cut >= 0 else rest
    if rest.startswith("`") and "` " in rest:
        rest = rest[rest.index("` ") + 2 :]
    return rest


def _type_class(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    return type(v).__name__


def _same(expected: Any, actual: Any) -> bool:
    """Equal values (numbers within float32 decoding tolerance) of the same type class."""
    if _type_class(expected) != _type_class(actual):
        return False
    if isinstance(expected, (int, float)):
        return abs(float(expected) - float(actual)) <= 1e-5 * max(1.0, abs(float(expected)))
    return expected == actual


def _diagnosis(check, prog, node, x, e, a) -> str:
    try:
        return check.diagnose(prog, node, x, e, a).describe()
    except Exception:  # noqa: BLE001 - the plain mismatch is still the finding
        return f"input {x!r}: expected {e!r}, the compiled model gives {a!r}"


def _judge(prog, node, vocab: list, max_len: int, samples: int) -> Outcome:
    from compiler import verify as check

    # every input when there are at most 4 x samples of them, else `samples` drawn ones
    inputs, exhaustive = check.inputs_for(vocab, max_len, samples=samples, limit=4 * samples)
    expected = check.expected_outputs(node, inputs)
    actual = prog.run_batch(inputs)
    checked = 0
    for x, e, a in zip(inputs, expected, actual, strict=True):
        if e is None:
            continue
        checked += 1
        if all(_same(u, w) for u, w in zip(e, a, strict=True)):
            continue
        if all(
            _same(float(u), float(w))
            if isinstance(u, (int, float)) and isinstance(w, (int, float))
            else _same(u, w)
            for u, w in zip(e, a, strict=True)
        ):
            return Outcome(
                "wrong",
                f"input {x!r}: expected {e!r}, the compiled model gives {a!r} ({TYPE_ONLY_NOTE})",
                checked=checked,
            )
        return Outcome("wrong", _diagnosis(check, prog, node, x, e, a), checked=checked)
    return Outcome("exact", f"{checked} inputs{' (all)' if exhaustive else ''}", checked=checked)


def judge(
    program: Program,
    max_len: int,
    samples: int = 1000,
    compiled_hook=lambda compiled: None,
    wall_limit: float | None = None,
) -> Outcome:
    """Compile and verify in THIS process (the child's side of `run`); `samples` 0 compiles
    only. `compiled_hook(outcome)` is called between the compile and the verification, with
    the compile's `compiled` outcome (times, stats). The compiler's own (wall-clock) limit
    is set to `wall_limit`; a refusal for running out of it counts as `timeout`."""
    import inspect

    import torch

    import compiler
    import rasp
    from rasp.env import read_source
    from rasp.errors import RaspError

    torch.set_num_threads(1)
    os.chdir(ROOT)
    env = rasp.Environment()
    env.run(read_source(program.path), program.path)
    start, cpu = time.perf_counter(), time.process_time()
    options = {}
    if "time_limit" in inspect.signature(compiler.compile).parameters:
        options["time_limit"] = wall_limit
    try:
        prog = compiler.compile(
            env, program.expr, vocab=list(program.vocab), max_len=max_len, **options
        )
    except compiler.CompileError as err:
        verdict = "timeout" if reason_of(err.message).startswith("in time") else "refused"
        return Outcome(
            verdict,
            str(err),
            time.perf_counter() - start,
            time.process_time() - cpu,
            located=err.line is not None and err.column is not None,
        )
    except RaspError as err:
        return Outcome("error", f"{type(err).__name__}: {err}", time.perf_counter() - start)
    compiled, cpu = time.perf_counter() - start, time.process_time() - cpu
    if samples <= 0:
        return Outcome("compiled", "not verified", compiled, cpu, stats=prog.stats)
    compiled_hook(Outcome("compiled", "", compiled, cpu, stats=prog.stats))
    out = _judge(prog, prog.node, list(program.vocab), max_len, samples)
    out.seconds, out.cpu_seconds = compiled, cpu
    out.verify_seconds = time.perf_counter() - start - compiled
    out.stats = prog.stats
    return out


def _child(conn, program: Program, max_len: int, samples: int, wall_limit: float) -> None:
    try:
        out = judge(
            program,
            max_len,
            samples,
            lambda compiled: conn.send({"phase": "verify", "compiled": compiled.to_json()}),
            wall_limit,
        )
    except BaseException as err:  # noqa: BLE001 - a raw exception is the finding itself
        frame = traceback.extract_tb(err.__traceback__)[-1]
        where = f"{os.path.relpath(frame.filename, ROOT)}:{frame.lineno}"
        out = Outcome("error", f"{type(err).__name__} at {where}: {err}")
    conn.send(out.to_json())
    conn.close()


def preload() -> None:
    """Import the compiler (and torch) once in the parent, so that every forked child starts
    with them loaded instead of paying seconds of imports per configuration. Nothing is
    computed here, so no thread pool exists yet when the children fork."""
    import torch  # noqa: F401

    import compiler  # noqa: F401
    import rasp  # noqa: F401


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (Linux /proc), None where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run(
    program: Program,
    max_len: int,
    time_limit: float,
    samples: int = 1000,
    check_limit: float | None = None,
) -> Outcome:
    """Judge one configuration in a forked child; `timeout` if no verdict in `time_limit` s.

    The compile has `time_limit`, the check against the interpreter `check_limit` (default:
    the same; checking a 60M-parameter model on hundreds of inputs of length 512 takes
    longer than compiling it). A limit counts the child's CPU seconds where /proc tells
    them (so a loaded machine does not turn slow compiles into timeouts), and wall-clock
    seconds otherwise; wall time is capped at WALL_FACTOR times the limit either way. A
    check that runs out is `timeout` with a message starting CHECK_TIMEOUT (and the
    compile's times and the model's stats). `samples`
    bounds the random inputs checked (0: compile only, verdict `compiled`)."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_child,
        daemon=True,
        args=(child, program, max_len, samples, WALL_FACTOR * time_limit),
    )
    start = time.perf_counter()
    phase, phase_start, phase_cpu, limit = "compile", start, 0.0, time_limit
    compiled = Outcome("timeout")  # the compile's times and stats, once it is done
    proc.start()
    child.close()
    try:
        while True:
            if parent.poll(0.25):
                try:
                    msg = parent.recv()
                except EOFError:
                    break
                if msg.get("phase") != "verify":
                    return Outcome(**msg)
                phase, phase_start = "verify", time.perf_counter()
                compiled = Outcome(**msg["compiled"])
                limit = time_limit if check_limit is None else check_limit
                phase_cpu = _cpu_seconds(proc.pid) or 0.0
                continue
            if not proc.is_alive():
                break
            wall = time.perf_counter() - phase_start
            cpu = _cpu_seconds(proc.pid)
            used = wall if cpu is None else cpu - phase_cpu
            if used > limit or wall > WALL_FACTOR * limit:
                message = f"after {limit:g} s ({used:.0f} s CPU, {wall:.0f} s wall)"
                if phase == "compile":
                    return Outcome(
                        "timeout",
                        f"no verdict {message}",
                        time.perf_counter() - start,
                        used if cpu is not None else 0.0,
                    )
                return Outcome(
                    "timeout",
                    f"{CHECK_TIMEOUT} {message}",
                    compiled.seconds,
                    compiled.cpu_seconds,
                    verify_seconds=wall,
                    stats=compiled.stats,
                )
        proc.join(5)
        return Outcome(
            "error",
            f"the child process died (exit code {proc.exitcode})",
            time.perf_counter() - start,
        )
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()
        parent.close()
