"""A compile's time budget and progress: every stage calls `Budget.tick` once per node it
finishes, so a compile ends with a model or a `CompileError` within its limit (never a hang),
and a caller can show how far it got. Time is the compiling thread's CPU time, so that the
verdict does not depend on how busy the machine is (or on other compiles in other threads)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from compiler.errors import CompileError

DEFAULT_LIMIT = 60.0  # CPU seconds

Progress = Callable[[str, int, int, float], None]  # (stage, done, total, wall seconds)


@dataclass
class Budget:
    limit: float | None = DEFAULT_LIMIT  # None: no limit
    progress: Progress | None = None
    start: float = field(default_factory=time.thread_time)  # CPU: the limit
    wall_start: float = field(default_factory=time.monotonic)  # wall: what a user waits

    def tick(self, stage: str, done: int, total: int) -> None:
        """Report progress; a CompileError once the time limit has passed."""
        if self.progress is not None:
            self.progress(stage, done, total, time.monotonic() - self.wall_start)
        if self.limit is not None and time.thread_time() - self.start > self.limit:
            raise CompileError(
                f"in time: the limit of {self.limit:g} CPU seconds passed ({stage}, {done} of "
                f"{total} nodes done)",
                hint="a larger limit (--time-limit, time_limit=) or "
                "a smaller --max-len may let it finish",
            )


class StderrProgress:
    """A progress callback for terminals: one line on stderr, rewritten in place, once a
    compile has run `after` seconds, at most every `every` seconds; `close` clears it.
    Silent when stderr is not a terminal (a log or a pipe gets no control characters)."""

    def __init__(self, after: float = 2.0, every: float = 0.5, stream=None):
        import sys

        self.after, self.every = after, every
        self.stream = stream or sys.stderr
        self.live = stream is not None or sys.stderr.isatty()
        self.last: float | None = None

    def __call__(self, stage: str, done: int, total: int, elapsed: float) -> None:
        if (
            not self.live
            or elapsed < self.after
            or (self.last is not None and elapsed - self.last < self.every)
        ):
            return
        self.last = elapsed
        line = f"compiling: {stage}, {done}/{total} nodes, {elapsed:.0f} s"
        self.stream.write(f"\r{line[:79]}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.last is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.last = None
