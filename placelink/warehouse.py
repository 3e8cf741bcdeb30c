"""The warehouse: raw tables the SQL models read, loaded through SQLAlchemy.

The analytics role's first step. It reads content/ (record pseudonyms and non-identifying
fields) and linkage/record_links.parquet, never an encoding or a key but the release key, and
gives each record the person id analysts see: HMAC(release key, internal person id), so two
projects with different release keys cannot join their extracts. DuckDB loads Arrow directly;
PostgreSQL loads through COPY.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from placelink.encode import LinkageKey
from placelink.errors import PlacelinkError
from placelink.link.quality import linkage_quality
from placelink.reference import load_neighbourhoods, load_population
from placelink.settings import Settings

COPY_BATCH_ROWS = 100_000
QUALITY_ATTRIBUTES = ["source", "record_id", "age_at_event", "sex", "imd_decile"]


@dataclass(frozen=True)
class LoadResult:
    table: str
    rows: int


def make_engine(settings: Settings) -> sa.Engine:
    """An engine for the warehouse URL; a DuckDB file's folder is made first."""
    url = sa.make_url(settings.warehouse_url)
    if url.get_backend_name() == "duckdb" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url)


def load_arrow(engine: sa.Engine, name: str, table: pa.Table) -> LoadResult:
    """Replace table `name` with the Arrow table's rows, in one transaction."""
    if engine.dialect.name == "duckdb":
        with engine.begin() as connection:
            duck = connection.connection.driver_connection
            duck.register("__placelink_load", table)
            duck.execute(f'create or replace table "{name}" as select * from __placelink_load')
            duck.unregister("__placelink_load")
    else:
        _load_postgres(engine, name, table)
    return LoadResult(name, table.num_rows)


def postgres_type(field: pa.Field) -> str:
    """The PostgreSQL column type an Arrow field is loaded as: the type DuckDB gives it.

    The exception is Arrow type null (every value null, e.g. a metric computed without its
    input), which DuckDB keeps as its own NULL type and PostgreSQL has no equivalent for: it
    becomes text, as PostgreSQL types an untyped `select null` column.
    """
    kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
    t = pa.types
    if t.is_null(kind) or t.is_string(kind) or t.is_large_string(kind) or t.is_string_view(kind):
        return "text"
    if t.is_boolean(kind):
        return "boolean"
    if t.is_integer(kind):  # an unsigned type needs the next signed size up
        width = kind.bit_width * (1 if t.is_signed_integer(kind) else 2)
        return {8: "smallint", 16: "smallint", 32: "integer", 64: "bigint"}.get(
            width, "numeric(20, 0)"
        )
    if t.is_floating(kind):
        return "double precision" if t.is_float64(kind) else "real"
    if t.is_decimal(kind):
        return f"numeric({kind.precision}, {kind.scale})"
    if t.is_date(kind):
        return "date"
    if t.is_time(kind):
        return "time"
    if t.is_timestamp(kind):
        return "timestamp with time zone" if kind.tz else "timestamp"
    raise PlacelinkError(f"column {field.name!r}: cannot load Arrow type {kind} into PostgreSQL")


def _load_postgres(engine: sa.Engine, name: str, table: pa.Table) -> None:
    """Create the table from the Arrow schema's types, then COPY the rows in as CSV.

    Strings are always quoted by the CSV writer and nulls are left empty and unquoted, so COPY
    keeps an empty string apart from NULL; dates, booleans and numbers are written in forms
    PostgreSQL reads back exactly.
    """
    columns = ", ".join(f'"{f.name}" {postgres_type(f)}' for f in table.schema)
    names = ", ".join(f'"{c}"' for c in table.column_names)
    plain = table.cast(
        pa.schema(
            f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
            for f in table.schema
        )
    )
    with engine.begin() as connection:
        connection.execute(sa.text(f'drop table if exists "{name}"'))
        connection.execute(sa.text(f'create table "{name}" ({columns})'))
        cursor = connection.connection.driver_connection.cursor()
        copy_sql = f"copy \"{name}\" ({names}) from stdin (format csv, encoding 'UTF8')"
        with cursor.copy(copy_sql) as copy:
            for batch in plain.to_batches(max_chunksize=COPY_BATCH_ROWS):
                buffer = io.BytesIO()
                pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=False))
                copy.write(buffer.getvalue())


def release_person_ids(person_ids: pd.Series, release_key: LinkageKey) -> pd.Series:
    """The person id analysts see: the first 63 bits of HMAC(release key, internal id).

    Stable for one release key across runs (the internal ids are), unrelated under another key;
    63 bits keep it a positive int64, and a collision among even 10^7 persons has a chance
    below 10^-5.
    """
    distinct = pd.unique(person_ids.dropna())
    mapped = {
        p: int.from_bytes(
            hmac.new(release_key.secret, str(int(p)).encode(), hashlib.sha256).digest()[:8], "big"
        )
        >> 1
        for p in distinct.tolist()
    }
    return person_ids.map(mapped).astype("Int64")


def raw_source_table(content: pd.DataFrame, record_links: pd.DataFrame) -> pa.Table:
    """A source's content with each record's release person id first."""
    frame = content.merge(
        record_links[["source", "record_id", "person_id"]], on=["source", "record_id"], how="left"
    )
    ordered = ["person_id", *[c for c in frame.columns if c != "person_id"]]
    return pa.Table.from_pandas(frame[ordered], preserve_index=False)


def load_warehouse(
    engine: sa.Engine,
    settings: Settings,
    content_files: dict[str, Path],
    record_links: Path,
    release_key: LinkageKey,
    truth: pd.DataFrame | None = None,
) -> list[LoadResult]:
    """Load raw_<source>, raw_record_links, raw_linkage_quality, raw_population and
    raw_neighbourhoods, every person id a release id."""
    links = pd.read_parquet(record_links)
    contents = {source: pd.read_parquet(path) for source, path in content_files.items()}
    attributes = pd.concat([c[QUALITY_ATTRIBUTES] for c in contents.values()], ignore_index=True)
    quality = linkage_quality(links, attributes, truth)
    links["person_id"] = release_person_ids(links["person_id"], release_key)
    results = [
        load_arrow(engine, f"raw_{source}", raw_source_table(content, links))
        for source, content in contents.items()
    ]
    results.append(
        load_arrow(engine, "raw_record_links", pa.Table.from_pandas(links, preserve_index=False))
    )
    results.append(
        load_arrow(
            engine, "raw_linkage_quality", pa.Table.from_pandas(quality, preserve_index=False)
        )
    )
    # Reference data is optional (placelink.reference): without it, empty tables.
    population = load_population(settings)
    results.append(
        load_arrow(engine, "raw_population", pa.Table.from_pandas(population, preserve_index=False))
    )
    places = population if len(population) else load_neighbourhoods(settings)
    neighbourhoods = places[["neighbourhood", "locality", "imd_decile"]].drop_duplicates()
    results.append(
        load_arrow(
            engine,
            "raw_neighbourhoods",
            pa.Table.from_pandas(neighbourhoods.sort_values("neighbourhood"), preserve_index=False),
        )
    )
    return results
