"""The pseudonymise step: the edge past which no plaintext identifier travels.

Identity fields become keyed encodings; the postcode becomes the neighbourhood, LSOA-like area and
postcode district, the only geography downstream; the date of birth becomes the age on the
event's date. Event fields pass through.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from placelink.encode import LinkageKey, encode_identities
from placelink.files import IO_THREADS, write_parquet_atomic
from placelink.settings import Settings
from placelink.sources import IDENTITY_FIELDS, SourceSpec

GEOGRAPHY = ("postcode_district", "lsoa", "neighbourhood", "locality", "imd_decile")


@dataclass(frozen=True)
class PseudonymiseResult:
    source: str
    records: int
    months: int
    path: Path
    columns: tuple[str, ...]


def encoded_path(settings: Settings, source: str) -> Path:
    return settings.encoded / f"{source}.parquet"


def load_postcode_lookup(settings: Settings) -> pa.Table:
    """The postcode lookup (ONS NSPL-like): geography for each full postcode."""
    types = {c: pa.string() for c in ("postcode", *GEOGRAPHY)} | {"imd_decile": pa.int64()}
    return pacsv.read_csv(
        settings.reference / "postcodes.csv",
        convert_options=pacsv.ConvertOptions(
            column_types=types, include_columns=["postcode", *GEOGRAPHY]
        ),
    )


def pseudonymise_source(
    spec: SourceSpec, settings: Settings, key: LinkageKey, lookup: pa.Table
) -> PseudonymiseResult:
    """Encode every standardised month of a source into linkage/encoded/<source>.parquet.

    The rows stay in Arrow from file to file; only the identity columns pass through the
    encoder, and event fields are carried over as they are.
    """
    files = sorted((settings.standardised / spec.name).glob("*.parquet"))
    with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:  # reading is I/O and decompression
        tables = list(pool.map(pq.read_table, files))
    table = pa.concat_tables(tables, promote_options="permissive").combine_chunks()
    identity = table.select(list(IDENTITY_FIELDS)).to_pandas(types_mapper=pd.ArrowDtype)
    encoded = pa.Table.from_pandas(encode_identities(identity, key), preserve_index=False)
    geography = postcode_geography(table.column("postcode"), lookup)
    events = table.drop_columns(list(IDENTITY_FIELDS))
    columns = {
        "source": pa.array([spec.name] * table.num_rows, pa.string()),
        "record_id": table.column("record_id"),
        **dict(zip(encoded.column_names, encoded.columns, strict=True)),
        **dict(zip(geography.column_names, geography.columns, strict=True)),
        "age_at_event": age_at(table.column("date_of_birth"), table.column(spec.event_start)),
        "sex": table.column("sex"),
        **dict(zip(events.column_names, events.columns, strict=True)),
    }
    out = pa.table(columns)
    # Min/max statistics of tokens and Bloom filters say nothing and cost a third of the write.
    plain = [c for c in out.column_names if c not in encoded.column_names]
    path = write_parquet_atomic(out, encoded_path(settings, spec.name), statistics=plain)
    return PseudonymiseResult(spec.name, out.num_rows, len(files), path, tuple(out.column_names))


def postcode_geography(postcode: pa.ChunkedArray | pa.Array, lookup: pa.Table) -> pa.Table:
    """Geography for each postcode; a district-only or unknown postcode keeps its district."""
    row = pc.index_in(postcode, value_set=lookup.column("postcode"))
    geography = {c: lookup.column(c).take(row) for c in GEOGRAPHY}
    district = pc.replace_substring_regex(postcode, pattern=r" .*$", replacement="")
    geography["postcode_district"] = pc.coalesce(geography["postcode_district"], district)
    return pa.table(geography)


def age_at(date_of_birth: pa.ChunkedArray, on: pa.ChunkedArray) -> pa.ChunkedArray:
    """Whole years between the date of birth and the event date; null when either is null."""
    on = pc.cast(on, pa.date32())
    years = pc.subtract(pc.year(on), pc.year(date_of_birth))
    month_on, month_born = pc.month(on), pc.month(date_of_birth)
    before_birthday = pc.or_(
        pc.less(month_on, month_born),
        pc.and_(pc.equal(month_on, month_born), pc.less(pc.day(on), pc.day(date_of_birth))),
    )
    return pc.subtract(years, pc.cast(before_birthday, pa.int64()))
