"""Atomic file writes: a reader sees the old file or the new one, never half of either.

A crash mid-write leaves the previous file readable and a re-run completes the job.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

Writer = Callable[[BinaryIO], object]
IO_THREADS = 4
PENDING_BYTES = 128 << 20  # tables waiting to be written, at most (but one), so memory is bounded


class StagedFiles:
    """Files written under temporary names beside their destinations, then put in place together.

    Leaving the `with` block normally syncs every staged file (side by side: most of a small
    write is waiting on fsync), renames each over its destination, deletes the files marked for
    removal and syncs each folder once. Leaving it by an exception deletes the staged files, so
    every destination keeps what it held before.
    """

    def __init__(self) -> None:
        self._staged: dict[Path, Path] = {}
        self._removed: set[Path] = set()
        self._writers: dict[Path, StagedParquet] = {}
        self._writes: dict[Path, Future] = {}
        self._pool = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="placelink-io")
        self._pending = 0
        self._written = threading.Condition()
        self._folders: set[Path] = set()

    def __enter__(self) -> StagedFiles:
        return self

    def _stage(self, dest: Path) -> Path:
        """A new empty temporary file to write for `dest` (one staged before for it is dropped)."""
        dest = Path(dest)
        if dest.parent not in self._folders:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(dest.parent)
        self._discard(dest)
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        os.close(fd)
        self._staged[dest] = Path(name)
        return Path(name)

    def file(self, dest: Path, write: Writer) -> None:
        """Stage `dest` as what `write(handle)` writes, in the background."""
        path = self._stage(dest)
        self._writes[Path(dest)] = self._submit(_write, path, write)

    def parquet(self, dest: Path, plain: Iterable[str] = ()) -> StagedParquet:
        """A Parquet file for `dest`, written table by table in the background.

        `plain` names columns written without statistics or dictionary: keyed tokens and Bloom
        filters, whose min/max say nothing. Statistics cost a third of the write; dictionaries
        made the 1M town's encodings a fifth slower to write and to read, and 7% larger, than
        zstd alone.
        """
        writer = StagedParquet(self._stage(dest), self._submit, frozenset(plain))
        self._writers[Path(dest)] = writer
        return writer

    def _submit(self, fn: Callable, *args: object, nbytes: int = 0) -> Future:
        """Run `fn` on the pool, first waiting while PENDING_BYTES of tables wait to be written."""
        with self._written:
            self._written.wait_for(
                lambda: self._pending == 0 or self._pending + nbytes <= PENDING_BYTES
            )
            self._pending += nbytes
        future = self._pool.submit(fn, *args)
        future.add_done_callback(lambda _: self._release(nbytes))
        return future

    def _release(self, nbytes: int) -> None:
        with self._written:
            self._pending -= nbytes
            self._written.notify_all()

    def remove(self, dest: Path) -> None:
        """Delete `dest` on commit, if it exists (a file the new output supersedes)."""
        self._discard(Path(dest))
        self._removed.add(Path(dest))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                try:
                    self._commit()
                except BaseException:
                    self._abort()
                    raise
            else:
                self._abort()
        finally:
            self._pool.shutdown()

    def _abort(self) -> None:
        for dest in list(self._staged):
            self._discard(dest)

    def _commit(self) -> None:
        for writer in self._writers.values():
            writer.wait()
        for write in self._writes.values():
            write.result()
        list(self._pool.map(_fsync_file, self._staged.values()))
        for dest, tmp in self._staged.items():
            os.replace(tmp, dest)
        for dest in self._removed:
            dest.unlink(missing_ok=True)
        for folder in {dest.parent for dest in [*self._staged, *self._removed]}:
            _fsync_dir(folder)

    def _discard(self, dest: Path) -> None:
        """Drop what is staged for `dest`, once its background writes have stopped."""
        writer = self._writers.pop(dest, None)
        if writer is not None:
            writer.abandon()
        write = self._writes.pop(dest, None)
        if write is not None:
            with contextlib.suppress(Exception):  # an error that matters is raised elsewhere
                write.result()
        tmp = self._staged.pop(dest, None)
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        self._removed.discard(dest)


class StagedParquet:
    """A staged Parquet file appended to in order on the pool, so encoding and compression
    overlap the caller's next piece of work. The first table's schema is the file's."""

    def __init__(
        self,
        path: Path,
        submit: Callable[..., Future],
        plain: frozenset[str] = frozenset(),
    ) -> None:
        self._path = path
        self._submit = submit
        self._plain = plain
        self._writer: pq.ParquetWriter | None = None
        self._last: Future | None = None

    def write(self, table: pa.Table) -> None:
        self._last = self._submit(self._after, self._last, self._append, table, nbytes=table.nbytes)

    def close(self, metadata: dict[str, str] | None = None) -> None:
        """Finish the file, with `metadata` in its key-value metadata."""
        self._last = self._submit(self._after, self._last, self._close, metadata)

    def wait(self) -> None:
        if self._last is not None:
            self._last.result()

    def abandon(self) -> None:
        """Wait for the writes to stop, then close the file, whatever became of them."""
        with contextlib.suppress(Exception):  # an error that matters is raised elsewhere
            self.wait()
        if self._writer is not None:
            self._writer.close()

    @staticmethod
    def _after(previous: Future | None, step: Callable, argument: object) -> None:
        # Tasks go to the pool in order, so an earlier one is running or done: no deadlock.
        if previous is not None:
            previous.result()
        step(argument)

    def _append(self, table: pa.Table) -> None:
        if self._writer is None:
            options = _parquet_options(table.column_names, self._plain)
            self._writer = pq.ParquetWriter(self._path, table.schema, **options)
        self._writer.write_table(table.cast(self._writer.schema))

    def _close(self, metadata: dict[str, str] | None) -> None:
        if metadata:
            self._writer.add_key_value_metadata(metadata)
        self._writer.close()
        self._writer = None


def atomic_write(dest: Path, write: Writer) -> Path:
    """Call `write` on a temporary file beside `dest`, sync it, then rename it over `dest`."""
    with StagedFiles() as staged:
        staged.file(dest, write)
    return Path(dest)


def write_parquet_atomic(table: pa.Table, path: Path, unique: tuple[str, ...] = ()) -> Path:
    """`table` to `path` whole or not at all. `unique` columns (a value per row, such as record
    pseudonyms) get no dictionary, no statistics and no compression: a keyed pseudonym is
    random, so none would help a reader, and at 4.6 million record links trying the first
    two cost a fifth of the write and zstd a third of the rest, to save half its bytes."""
    options = _parquet_options(table.column_names, unique, compress_plain=False)
    return atomic_write(path, lambda handle: pq.write_table(table, handle, **options))


def _parquet_options(
    columns: list[str], plain: Collection[str], compress_plain: bool = True
) -> dict[str, object]:
    """zstd, with the `plain` columns written without dictionary or statistics (and, unless
    `compress_plain`, uncompressed). Columns are named only where some are plain: a name
    reaches only a flat column, so otherwise pyarrow's defaults stand, nested columns' too."""
    if not plain:
        return {"compression": "zstd"}
    others = [n for n in columns if n not in plain]
    compression = (
        "zstd" if compress_plain else {n: "none" if n in plain else "zstd" for n in columns}
    )
    return {"compression": compression, "use_dictionary": others, "write_statistics": others}


def write_text_atomic(text: str, path: Path) -> Path:
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def _write(path: Path, write: Writer) -> None:
    with open(path, "wb") as handle:
        write(handle)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
