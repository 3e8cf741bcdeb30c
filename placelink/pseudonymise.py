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
import pyarrow.parquet as pq

from placelink.encode import LinkageKey, encode_identities
from placelink.files import write_parquet_atomic
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


def load_postcode_lookup(settings: Settings) -> pd.DataFrame:
    """The postcode lookup (ONS NSPL-like): geography for each full postcode."""
    path = settings.reference / "postcodes.csv"
    lookup = pd.read_csv(path, dtype={"imd_decile": "Int64"}, keep_default_na=False)
    return lookup.set_index("postcode")[list(GEOGRAPHY)]


def pseudonymise_source(
    spec: SourceSpec, settings: Settings, key: LinkageKey, lookup: pd.DataFrame
) -> PseudonymiseResult:
    """Encode every standardised month of a source into linkage/encoded/<source>.parquet."""
    files = sorted((settings.standardised / spec.name).glob("*.parquet"))
    with ThreadPoolExecutor(max_workers=4) as pool:  # reading is I/O and decompression
        tables = list(pool.map(pq.read_table, files))
    table = pa.concat_tables(tables, promote_options="permissive")
    rows = table.to_pandas(types_mapper=_string_types)
    encoded = encode_identities(rows[list(IDENTITY_FIELDS)], key)
    geography = postcode_geography(rows["postcode"], lookup)
    events = rows.drop(columns=[c for c in IDENTITY_FIELDS if c != "record_id"])
    events = events.drop(columns="record_id")
    age = age_at(table.column("date_of_birth"), table.column(spec.event_start)).to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype()}.get
    )
    out = pd.concat(
        [
            pd.DataFrame({"source": spec.name, "record_id": rows["record_id"]}),
            encoded.drop(columns=["record_id"], errors="ignore"),
            geography,
            pd.DataFrame({"age_at_event": age, "sex": rows["sex"]}),
            events,
        ],
        axis=1,
    )
    # Without pandas' schema metadata: readers of the encodings (DuckDB, Splink, the warehouse)
    # take the Arrow types as they are.
    table = pa.Table.from_pandas(out, preserve_index=False).replace_schema_metadata(None)
    path = write_parquet_atomic(table, encoded_path(settings, spec.name))
    return PseudonymiseResult(spec.name, len(out), len(files), path, tuple(out.columns))


def postcode_geography(postcode: pd.Series, lookup: pd.DataFrame) -> pd.DataFrame:
    """Geography for each postcode; a district-only or unknown postcode keeps what it can."""
    geography = lookup.reindex(postcode.astype(object)).reset_index(drop=True)
    geography.index = postcode.index
    known = geography["postcode_district"].notna()
    if not known.all():  # split only the postcodes the lookup does not know
        district = postcode[~known].str.split(" ").str[0]
        geography["postcode_district"] = geography["postcode_district"].where(known, district)
    return geography.astype({"imd_decile": "Int64"})


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


def _string_types(arrow_type: pa.DataType):
    return pd.StringDtype() if pa.types.is_string(arrow_type) else None
