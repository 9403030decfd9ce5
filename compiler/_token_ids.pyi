"""Token ids of Python token lists in one C loop (compiler/_token_ids.c)."""

from collections.abc import Sequence
from typing import Any

def fill(
    seqs: Sequence[Any], chars: bool, table: Any, offset: int, out: Any, width: int
) -> bool: ...
