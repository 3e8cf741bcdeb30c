"""Readers that turn one month of a source into Arrow batches, whatever its format.

Every reader yields batches of bounded size, so memory does not grow with the file, and turns
any failure to read into one SourceError naming the file and the problem.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Full, Queue
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import sqlalchemy as sa

from placelink.errors import SourceError
from placelink.sources import SourceSpec

T = TypeVar("T")

BATCH_ROWS = 65_536
BLOCK_BYTES = 1 << 20
READ_AHEAD = 4  # batches read ahead of the consumer: bounded, so memory is too
READ_THREADS = 4
SMALL_FILE_BYTES = 4 << 20


def source_location(spec: SourceSpec, month: str, home: Path) -> str:
    """The file or database a month of the source is read from, for messages and sensors."""
    conn = spec.connector
    if conn.kind == "sql":
        return str(_sql_url(spec, home).render_as_string(hide_password=True))
    return str(home / conn.path.replace("{month}", month))


def read_batches(spec: SourceSpec, month: str, home: Path) -> Iterator[pa.RecordBatch]:
    """Yield the month's rows as Arrow batches with the source's own column names.

    Nested JSON objects are flattened to dotted names (`applicant.forename`). Columns read from
    text formats stay strings; typed formats keep their types.
    """
    readers = {"csv": _csv, "jsonl": _jsonl, "parquet": _parquet, "sql": _sql}
    location = source_location(spec, month, home)
    seen_rows = False
    try:
        for batch in readers[spec.connector.kind](spec, month, home, location):
            _check_columns(spec, batch.schema.names, location)
            seen_rows = seen_rows or batch.num_rows > 0
            yield batch
    except SourceError:
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        raise SourceError(location, _arrow_problem(exc)) from None
    except sa.exc.SQLAlchemyError as exc:
        raise SourceError(location, f"database error: {exc.__class__.__name__}") from None
    except OSError as exc:
        problem = exc.strerror or exc.__class__.__name__
        raise SourceError(location, f"cannot be read ({problem})") from None
    if not seen_rows:
        raise SourceError(location, "no rows (an empty extract)")


def read_months(
    spec: SourceSpec, months: list[str], home: Path
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Every month's batches in turn, each labelled with its month's position in `months`,
    read ahead as `read_in_order` does. A SourceError for any month is raised here."""
    return read_in_order(
        months, lambda month: read_batches(spec, month, home), lambda m: _is_small(spec, m, home)
    )


def read_in_order(
    sources: list[T],
    read: Callable[[T], Iterable[pa.RecordBatch]],
    is_small: Callable[[T], bool],
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Each source's batches in turn, labelled with the source's position in `sources`.

    The batches are read on a thread up to READ_AHEAD ahead of the consumer, so that reading
    and parsing (mostly outside the GIL) overlap whatever the consumer does with them. Small
    sources (a usual monthly extract) are read whole, READ_THREADS at a time, since opening
    and parsing a small file is mostly fixed cost; a large one is streamed batch by batch, so
    memory stays bounded.
    """
    return read_ahead(_in_order(sources, read, is_small), READ_AHEAD)


def _in_order(
    sources: list[T],
    read: Callable[[T], Iterable[pa.RecordBatch]],
    is_small: Callable[[T], bool],
) -> Iterator[tuple[int, pa.RecordBatch]]:
    small = [is_small(source) for source in sources]
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        ahead: dict[int, Future] = {}
        submitted = 0
        for i, source in enumerate(sources):
            while submitted < min(len(sources), i + READ_THREADS):
                if small[submitted]:
                    ahead[submitted] = pool.submit(lambda s: list(read(s)), sources[submitted])
                submitted += 1
            for batch in ahead.pop(i).result() if small[i] else read(source):
                yield i, batch


def in_chunks(
    batches: Iterable[tuple[int, pa.RecordBatch]], max_rows: int
) -> Iterator[list[tuple[int, pa.RecordBatch]]]:
    """Labelled batches gathered into lists of at least `max_rows` rows (the last may have
    fewer), empty batches dropped, so a step pays its fixed cost per chunk, not per batch."""
    chunk: list[tuple[int, pa.RecordBatch]] = []
    rows = 0
    for label, batch in batches:
        if batch.num_rows:
            chunk.append((label, batch))
            rows += batch.num_rows
        if rows >= max_rows:
            yield chunk
            chunk, rows = [], 0
    if chunk:
        yield chunk


def is_small_file(path: Path) -> bool:
    try:
        return Path(path).stat().st_size <= SMALL_FILE_BYTES
    except OSError:
        return True  # the reader names the problem


def _is_small(spec: SourceSpec, month: str, home: Path) -> bool:
    """A database month's size is unknown until read: it is streamed."""
    return spec.connector.kind != "sql" and is_small_file(source_location(spec, month, home))


def read_ahead(items: Iterator, depth: int) -> Iterator:
    """`items`, produced on a thread at most `depth` ahead of the consumer; an exception raised
    by `items` is raised in the consumer, and closing this generator stops the thread."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.05)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # handed over to the consumer, which raises it
            put(_Raised(exc))

    thread = threading.Thread(target=produce, name="placelink-read-ahead", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class _Raised:
    exc: BaseException


def _check_columns(spec: SourceSpec, names: list[str], location: str) -> None:
    missing = [c for c in spec.required_columns if c not in names]
    if not missing:
        return
    if spec.connector.kind == "csv" and len(names) == 1:
        raise SourceError(
            location,
            f"one column where {len(spec.required_columns)} are needed: "
            f"is the delimiter {spec.connector.delimiter!r} right?",
        )
    raise SourceError(location, f"missing required column(s) {', '.join(missing)}")


def _arrow_problem(exc: Exception) -> str:
    """The reader's complaint without any of the file's content.

    Arrow's CSV errors quote the offending row, which holds names, dates of birth and NHS
    numbers, and this message travels into Dagster's event log and the run summary: only
    counts and fixed phrases are kept.
    """
    text = str(exc).splitlines()[0] if str(exc) else ""
    if "UTF8" in text or "utf-8" in text.lower() or isinstance(exc, UnicodeDecodeError):
        return "bytes that are not valid in the declared encoding"
    if "Parquet" in text or "magic" in text.lower() or "footer" in text.lower():
        return "not a readable Parquet file (truncated or corrupt)"
    fields = re.search(r"Expected (\d+) columns, got (\d+)", text)
    if fields:
        return (
            f"rows with the wrong number of fields (expected {fields[1]}, got {fields[2]}: "
            "a truncated file, or an unquoted delimiter)"
        )
    json_error = re.search(r"JSON parse error: ([A-Za-z ,.]+?)\.? in row (\d+)", text)
    if json_error:
        return f"not valid JSON lines ({json_error[1].lower()} in row {json_error[2]})"
    return f"unreadable ({exc.__class__.__name__})"


def _require_file(path: Path) -> None:
    if not path.exists():
        raise SourceError(path, "file not found")
    if path.stat().st_size == 0:
        raise SourceError(path, "empty file")


def _csv(spec: SourceSpec, month: str, home: Path, location: str) -> Iterator[pa.RecordBatch]:
    path = Path(location)
    _require_file(path)
    conn = spec.connector
    header = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(encoding=conn.encoding, block_size=1 << 16),
        parse_options=pacsv.ParseOptions(delimiter=conn.delimiter),
        convert_options=pacsv.ConvertOptions(include_columns=[]),
    ).schema.names
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(encoding=conn.encoding, block_size=BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(delimiter=conn.delimiter),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    yield from reader


def _jsonl(spec: SourceSpec, month: str, home: Path, location: str) -> Iterator[pa.RecordBatch]:
    path = Path(location)
    _require_file(path)
    # Infer the shape once, then read again with every temporal field as text, so that a date
    # is parsed by the source's declared format and never by the JSON reader's guess.
    inferred = pajson.open_json(path, read_options=pajson.ReadOptions(block_size=BLOCK_BYTES))
    schema = pa.schema([f.with_type(_text_temporal(f.type)) for f in inferred.schema])
    reader = pajson.open_json(
        path,
        read_options=pajson.ReadOptions(block_size=BLOCK_BYTES),
        parse_options=pajson.ParseOptions(explicit_schema=schema),
    )
    for batch in reader:
        yield _flatten(pa.Table.from_batches([batch])).combine_chunks().to_batches()[0]


def _text_temporal(data_type: pa.DataType) -> pa.DataType:
    if pa.types.is_struct(data_type):
        return pa.struct([f.with_type(_text_temporal(f.type)) for f in data_type])
    if pa.types.is_list(data_type):
        return pa.list_(_text_temporal(data_type.value_type))
    if pa.types.is_temporal(data_type):
        return pa.string()
    return data_type


def _flatten(table: pa.Table) -> pa.Table:
    """Flatten structs to dotted names and turn JSON scalars into strings, lists kept."""
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_list(column.type):
            columns[name] = pc.cast(column, pa.list_(pa.string()))
        elif pa.types.is_string(column.type):
            columns[name] = column
        elif pa.types.is_null(column.type):
            columns[name] = pa.nulls(len(column), pa.string())
        else:
            columns[name] = pc.cast(column, pa.string())
    return pa.table(columns)


def _parquet(spec: SourceSpec, month: str, home: Path, location: str) -> Iterator[pa.RecordBatch]:
    path = Path(location)
    _require_file(path)
    yield from pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)


def _sql_url(spec: SourceSpec, home: Path) -> sa.URL:
    return sa.make_url(spec.connector.url.replace("{home}", str(home)))


def _sql(spec: SourceSpec, month: str, home: Path, location: str) -> Iterator[pa.RecordBatch]:
    url = _sql_url(spec, home)
    if url.get_backend_name() == "sqlite" and url.database:
        db = Path(url.database)
        _require_file(db)
        url = url.set(database=f"file:{db}?mode=ro", query={"uri": "true"})
    conn = spec.connector
    query = conn.query or f"select * from {conn.table} where extract_month = :month"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(
                sa.text(query), {"month": month} if ":month" in query else {}
            )
            names = list(result.keys())
            while rows := result.fetchmany(BATCH_ROWS):
                columns = list(zip(*rows, strict=True))
                yield pa.RecordBatch.from_arrays(
                    [_sql_column(values) for values in columns], names=names
                )
            if not names:
                return
    finally:
        engine.dispose()


def _sql_column(values: tuple) -> pa.Array:
    """Database values as strings, so that a driver's types never leak into standardisation.

    A text column (the usual case) converts in one call; others go value by value.
    """
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def landed_months(specs: list[SourceSpec], home: Path) -> list[str]:
    """Months for which every file-based source has an extract in landing/."""
    complete: set[str] | None = None
    for spec in specs:
        if spec.connector.kind == "sql":
            continue
        pattern = Path(spec.connector.path)
        folder = home / pattern.parent
        months = {p.name.split(".")[0] for p in folder.glob(pattern.name.replace("{month}", "*"))}
        complete = months if complete is None else complete & months
    return sorted(complete or ())
