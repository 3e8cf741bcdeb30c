"""Atomic file writes: a reader sees the old file or the new one, never half of either.

A crash mid-write leaves the previous file readable and a re-run completes the job.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

Writer = Callable[[BinaryIO], object]
IO_THREADS = 4


def atomic_write(dest: Path, write: Writer) -> Path:
    """Call `write` on a temporary file beside `dest`, sync it, then rename it over `dest`."""
    return atomic_write_many([(Path(dest), write)])[0]


def atomic_write_many(jobs: Iterable[tuple[Path, Writer]]) -> list[Path]:
    """Write several files atomically, side by side, and make their renames durable together.

    Most of a small write is waiting on fsync, so the files are written in a thread pool, and
    each folder is synced once after every rename in it rather than once per file.
    """
    jobs = [(Path(dest), write) for dest, write in jobs]
    for folder in {dest.parent for dest, _ in jobs}:
        folder.mkdir(parents=True, exist_ok=True)
    if len(jobs) == 1:
        paths = [_write_and_rename(*jobs[0])]
    else:
        with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
            paths = list(pool.map(lambda job: _write_and_rename(*job), jobs))
    for folder in {dest.parent for dest in paths}:
        _fsync_dir(folder)
    return paths


def write_parquet_atomic(table: pa.Table, path: Path, statistics: bool | list[str] = True) -> Path:
    return atomic_write(path, parquet_writer(table, statistics))


def parquet_writer(table: pa.Table, statistics: bool | list[str] = True) -> Writer:
    """Zstd Parquet; `statistics` may name the columns worth min/max (not keyed tokens)."""
    return lambda handle: pq.write_table(
        table, handle, compression="zstd", write_statistics=statistics
    )


def write_text_atomic(text: str, path: Path) -> Path:
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def remove_durably(paths: Iterable[Path]) -> None:
    """Delete files that a new write supersedes (absent ones too), syncing each folder once."""
    folders = set()
    for path in paths:
        try:
            Path(path).unlink()
        except FileNotFoundError:
            continue
        folders.add(Path(path).parent)
    for folder in folders:
        _fsync_dir(folder)


def _write_and_rename(dest: Path, write: Writer) -> Path:
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
    return dest


def _fsync_dir(folder: Path) -> None:
    """Make the renames in a folder durable where the platform allows opening a directory."""
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
