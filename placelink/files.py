"""Atomic file writes: a reader sees the old file or the new one, never half of either.

A crash mid-write leaves the previous file readable and a re-run completes the job.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq


def atomic_write(dest: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call `write` on a temporary file beside `dest`, sync it, then rename it over `dest`."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)
    return dest


def write_parquet_atomic(table: pa.Table, path: Path) -> Path:
    return atomic_write(path, lambda handle: pq.write_table(table, handle, compression="zstd"))


def write_text_atomic(text: str, path: Path) -> Path:
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the platform allows opening a directory."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
