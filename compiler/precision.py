"""The float type a compiled model computes in. Every error bound is a multiple of its unit
roundoff: float32 by default, float64 when float32 could not keep some values apart
(`program.compile` retries then; the manifest records which, and a model file keeps it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Precision:
    name: str  # the dtype's name, as torch and the manifest spell it
    eps: float  # unit roundoff: a rounded result is within eps of the exact one, relatively
    max_z: float  # an MLP's mixed input z may span this much (its own rounding is bounded)


FLOAT32 = Precision("float32", 2.0**-24, 2.0**20)
FLOAT64 = Precision("float64", 2.0**-53, 2.0**49)
F32_EPS = FLOAT32.eps

# How close a number must be to the interpreter's to count as it (`program.same_value`): 1e-5
# of its size, and no closer than 1e-5. The read-out's error bound is judged against it too.
SAME = 1e-5
