"""The pseudonymise step: the edge past which no plaintext identifier travels.

It splits each record in two, joined only by its record pseudonym (the separation principle):
- linkage/encoded/<source>.parquet, for the linkage unit: the record pseudonym and the keyed
  encodings, nothing else (no age, sex, date or place);
- content/<source>.parquet, for analytics: the record pseudonym, the age on the event's date (an
  identity-only source's: on the first of its extract month), sex, the geography the postcode
  gives (neighbourhood, LSOA-like area, district) and the event fields, with any source
  identifier among them pseudonymised; no identifier, no encoding.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from placelink.connectors import BATCH_ROWS, in_chunks, is_small_file, read_in_order
from placelink.encode import (
    KEY_FINGERPRINT,
    OUTPUT_COLUMNS,
    IdentityEncoder,
    LinkageKey,
    record_pseudonyms,
)
from placelink.errors import PlacelinkError
from placelink.files import StagedFiles, write_parquet_atomic
from placelink.pull import RECONCILIATION_KEY, PullResult, read_reconciliation
from placelink.reference import postcodes_file
from placelink.settings import Settings
from placelink.sources import IDENTITY_FIELDS, SourceSpec

GEOGRAPHY = ("postcode_district", "lsoa", "neighbourhood", "locality", "imd_decile")
CHUNK_ROWS: Final = 65_536
"""Rows encoded together. Fewer than the pull's: the memo of hashed values spans chunks, so a
chunk has little fixed cost, and a smaller one lets its write overlap the next one's encoding
(an encoded row is about 900 bytes, tokens and Bloom filters)."""


@dataclass(frozen=True)
class PseudonymiseResult:
    source: str
    records: int
    months: int
    path: Path
    content_path: Path
    columns: tuple[str, ...]
    content_columns: tuple[str, ...]


def encoded_path(settings: Settings, source: str) -> Path:
    return settings.encoded / f"{source}.parquet"


def content_path(settings: Settings, source: str) -> Path:
    return settings.content / f"{source}.parquet"


def content_reconciliation(path: Path) -> list[PullResult]:
    """The pull's reconciliation of every month a content file holds."""
    metadata = pq.ParquetFile(path).metadata.metadata or {}
    return [PullResult(**r) for r in json.loads(metadata.get(RECONCILIATION_KEY.encode(), b"[]"))]


def truth_path(settings: Settings, source: str) -> Path:
    return settings.content / "_truth" / f"{source}.parquet"


def pseudonymise_truth(spec: SourceSpec, settings: Settings, key: LinkageKey) -> Path | None:
    """The synthetic truth of a source keyed by record pseudonym, for evaluating the linkage.

    Only a generated town has one (landing/_truth/truth.csv); its record ids are the source's
    own, so analytics receives them as pseudonyms like every other record reference.
    """
    if not settings.truth_file.exists():
        return None
    truth = pacsv.read_csv(
        settings.truth_file,
        convert_options=pacsv.ConvertOptions(column_types={"record_id": pa.string()}),
    )
    truth = truth.filter(pc.equal(truth.column("source"), spec.name))
    ids = truth.column("record_id").combine_chunks()
    truth = truth.set_column(
        truth.schema.get_field_index("record_id"),
        "record_id",
        record_pseudonyms(key, spec.name, ids),
    )
    path = truth_path(settings, spec.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(truth, path)
    return path


def load_postcode_lookup(settings: Settings) -> pa.Table:
    """The postcode lookup (ONS NSPL-like): geography for each full postcode. Without one
    (placelink.reference), an empty lookup: every postcode keeps its district alone."""
    types = {c: pa.string() for c in ("postcode", *GEOGRAPHY)} | {"imd_decile": pa.int64()}
    path = postcodes_file(settings)
    if not path.exists():
        return pa.schema([(c, types[c]) for c in ("postcode", *GEOGRAPHY)]).empty_table()
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types=types, include_columns=["postcode", *GEOGRAPHY]
        ),
    )


def pseudonymise_source(
    spec: SourceSpec, settings: Settings, key: LinkageKey, lookup: pa.Table
) -> PseudonymiseResult:
    """Encode every standardised month of a source into linkage/encoded/<source>.parquet.

    The rows stay in Arrow from file to file and go through a chunk of up to CHUNK_ROWS at a
    time, so memory stays bounded however long the history; one encoder serves every chunk,
    so a person's identifiers are hashed once however many months they appear in. Only the
    identity columns pass through the encoder; event fields are carried over as they are.
    """
    files = sorted((settings.standardised / spec.name).glob("*.parquet"))
    if not files:
        raise PlacelinkError(
            f"{settings.standardised / spec.name}: no standardised months (pull the source first)"
        )
    path = encoded_path(settings, spec.name)
    # Months pulled at different times may differ a little (a column added): read them as one.
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    schema = schema.remove_metadata()

    def read(month_file: Path) -> Iterator[pa.RecordBatch]:
        for batch in pq.ParquetFile(month_file).iter_batches(batch_size=BATCH_ROWS):
            yield _conform(batch, schema)

    encoder = IdentityEncoder(key)
    records, columns, content_columns = 0, (), ()
    metadata = {KEY_FINGERPRINT: key.fingerprint}
    # The months' reconciliation travels with the content, so the report never opens secure/.
    reconciliation = [asdict(read_reconciliation(f)) for f in files]
    with StagedFiles() as staged:
        out = staged.parquet(path, no_statistics=("record_id", *OUTPUT_COLUMNS))
        content = staged.parquet(content_path(settings, spec.name))
        chunks = in_chunks(read_in_order(files, read, is_small_file), CHUNK_ROWS)
        tables = (pa.Table.from_batches([b for _, b in chunk]).combine_chunks() for chunk in chunks)
        for table in tables:
            encoded, attributes = _encode_chunk(spec, table, encoder, key, lookup)
            out.write(encoded)
            content.write(attributes)
            records += encoded.num_rows
            columns, content_columns = tuple(encoded.column_names), tuple(attributes.column_names)
        if not columns:  # not one valid row in any month: the files still have their columns
            encoded, attributes = _encode_chunk(spec, schema.empty_table(), encoder, key, lookup)
            out.write(encoded)
            content.write(attributes)
            columns, content_columns = tuple(encoded.column_names), tuple(attributes.column_names)
        out.close(metadata)
        content.close({**metadata, RECONCILIATION_KEY: json.dumps(reconciliation)})
    return PseudonymiseResult(
        spec.name,
        records,
        len(files),
        path,
        content_path(settings, spec.name),
        columns,
        content_columns,
    )


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch with the columns and types of `schema` (a column it lacks is null)."""
    columns = [
        batch.column(f.name).cast(f.type)
        if f.name in batch.schema.names
        else pa.nulls(batch.num_rows, f.type)
        for f in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _encode_chunk(
    spec: SourceSpec, table: pa.Table, encoder: IdentityEncoder, key: LinkageKey, lookup: pa.Table
) -> tuple[pa.Table, pa.Table]:
    """(the linkage zone's rows, the content zone's rows) for a chunk of standardised rows."""
    identity = table.select(list(IDENTITY_FIELDS)).to_pandas(types_mapper=pd.ArrowDtype)
    encoded = pa.Table.from_pandas(encoder(identity), preserve_index=False)
    pseudonym = record_pseudonyms(key, spec.name, table.column("record_id").combine_chunks())
    source = pa.array([spec.name] * table.num_rows, pa.string())
    linkage = pa.table(
        {
            "source": source,
            "record_id": pseudonym,
            **dict(zip(encoded.column_names, encoded.columns, strict=True)),
        }
    )
    geography = postcode_geography(table.column("postcode"), lookup)
    events = table.drop_columns(list(IDENTITY_FIELDS))
    for name in spec.pseudonymise:  # a source's own identifiers: pseudonyms in their domain
        values = events.column(name).combine_chunks()
        events = events.set_column(
            events.schema.get_field_index(name),
            name,
            record_pseudonyms(key, f"{spec.name}.{name}", values),
        )
    content = pa.table(
        {
            "source": source,
            "record_id": pseudonym,
            **dict(zip(geography.column_names, geography.columns, strict=True)),
            "age_at_event": age_at(table.column("date_of_birth"), _age_date(spec, table)),
            "sex": table.column("sex"),
            **dict(zip(events.column_names, events.columns, strict=True)),
        }
    )
    return linkage, content


def _age_date(spec: SourceSpec, table: pa.Table) -> pa.ChunkedArray:
    """The date a record's age is taken on: its event's start, or for an identity-only source
    the first day of its extract month."""
    if spec.has_event:
        return table.column(spec.event_start)
    first_days = pc.binary_join_element_wise(table.column("extract_month"), "-01", "")
    return pc.cast(pc.strptime(first_days, format="%Y-%m-%d", unit="s"), pa.date32())


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
