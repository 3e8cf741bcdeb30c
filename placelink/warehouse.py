"""The warehouse: raw tables the SQL models read, loaded through SQLAlchemy.

Only pseudonymised data arrives here: the encodings are dropped, and each record carries the
person_id that linkage gave it. DuckDB loads Arrow directly; PostgreSQL loads through COPY.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import sqlalchemy as sa

from placelink.settings import Settings

ENCODING_SUFFIXES = ("_token", "_tokens", "_bloom")


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


def _load_postgres(engine: sa.Engine, name: str, table: pa.Table) -> None:
    frame = table.slice(0, 0).to_pandas()
    with engine.begin() as connection:
        connection.execute(sa.text(f'drop table if exists "{name}"'))
        frame.to_sql(name, connection, index=False)
        for field in table.schema:
            if pa.types.is_date(field.type):
                connection.execute(
                    sa.text(
                        f'alter table "{name}" alter column "{field.name}" type date '
                        f'using "{field.name}"::date'
                    )
                )
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
        cursor = connection.connection.driver_connection.cursor()
        columns = ", ".join(f'"{c}"' for c in table.column_names)
        with cursor.copy(f'copy "{name}" ({columns}) from stdin (format csv)') as copy:
            copy.write(buffer.getvalue())


def raw_source_table(encoded_file: Path, record_links: pd.DataFrame) -> pa.Table:
    """A source's encoded records without their encodings, each with its person_id."""
    table = pq.read_table(encoded_file)
    keep = [c for c in table.column_names if not c.endswith(ENCODING_SUFFIXES)]
    frame = table.select(keep).to_pandas()
    frame = frame.merge(
        record_links[["source", "record_id", "person_id"]], on=["source", "record_id"], how="left"
    )
    ordered = ["person_id", *[c for c in frame.columns if c != "person_id"]]
    return pa.Table.from_pandas(frame[ordered], preserve_index=False)


def load_warehouse(
    engine: sa.Engine,
    settings: Settings,
    encoded_files: dict[str, Path],
    record_links: Path,
    linkage_quality: Path,
) -> list[LoadResult]:
    """Load raw_<source>, raw_record_links, raw_linkage_quality, raw_population and
    raw_neighbourhoods."""
    links = pd.read_parquet(record_links)
    results = [
        load_arrow(engine, f"raw_{source}", raw_source_table(path, links))
        for source, path in encoded_files.items()
    ]
    results.append(
        load_arrow(engine, "raw_record_links", pa.Table.from_pandas(links, preserve_index=False))
    )
    results.append(load_arrow(engine, "raw_linkage_quality", pq.read_table(linkage_quality)))
    population = pd.read_csv(settings.reference / "population.csv")
    results.append(
        load_arrow(engine, "raw_population", pa.Table.from_pandas(population, preserve_index=False))
    )
    neighbourhoods = population[["neighbourhood", "locality", "imd_decile"]].drop_duplicates()
    results.append(
        load_arrow(
            engine,
            "raw_neighbourhoods",
            pa.Table.from_pandas(neighbourhoods.sort_values("neighbourhood"), preserve_index=False),
        )
    )
    return results
