"""Where a link's time goes: wall seconds by phase, for the metadata and the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timed(phases: dict[str, float] | None, name: str) -> Iterator[None]:
    """Add the wall seconds of the block to phases[name] (nothing when phases is None)."""
    began = time.perf_counter()
    try:
        yield
    finally:
        if phases is not None:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - began
