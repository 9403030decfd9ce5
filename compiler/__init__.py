"""raspc's compiler: RASP programs to transformer weights for `runtime.Transformer`.

Stages (one module each): `values` (value sets), `lower` (encodings and lowering to heads,
MLPs and embedding tables; `patterns` recognises selector_width and length), `assemble`
(schedule, residual layout, weights), then `program` (the API) and `verify`; `manifest`
(with `refs`) is the typed contract the tools read.
"""

from compiler.errors import CompileError
from compiler.program import CompiledProgram, compile, load

__all__ = ["CompileError", "CompiledProgram", "compile", "load"]
