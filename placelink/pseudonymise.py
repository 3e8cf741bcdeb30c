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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from placelink.connectors import BATCH_ROWS, in_chunks, is_small_file, read_in_order
from placelink.encode import (
    IDENTITY_KEY,
    KEY_FINGERPRINT,
    OUTPUT_COLUMNS,
    TOKEN_SCHEME,
    TOKENS,
    IdentityEncoder,
    LinkageKey,
    identity_keys,
    record_pseudonyms,
)
from placelink.errors import PlacelinkError
from placelink.files import StagedFiles, StagedParquet, write_parquet_atomic
from placelink.pull import RECONCILIATION_KEY, PullResult, read_reconciliation
from placelink.reference import postcodes_file
from placelink.settings import Settings
from placelink.sources import IDENTITY_FIELDS, SourceSpec

GEOGRAPHY = ("postcode_district", "lsoa", "neighbourhood", "locality", "imd_decile")
CHUNK_ROWS: Final = 65_536
"""Records (and at most as many identities) encoded together, and content rows written
together. Fewer than the pull's: a smaller chunk lets its write overlap the next one's
encoding."""
LINKAGE_ROWS: Final = 16_384
"""Rows of linkage/encoded written together, a row group each: a row is about 2 KB in Arrow
(the edit and masked token lists) before Parquet encodes it. Small groups also let an
increment read only the row groups that hold its new records."""


@dataclass(frozen=True)
class RecordPseudonyms:
    """A source's record ids with the pseudonyms the step made of them (record_pseudonyms);
    the provider's own ids, so never shown (no repr)."""

    record_ids: pa.Array = field(repr=False)
    pseudonyms: pa.Array = field(repr=False)

    def of(self, key: LinkageKey, source: str, record_ids: pa.Array) -> pa.Array:
        """The pseudonyms of `record_ids`: looked up where made already, else made."""
        at = pc.index_in(record_ids, value_set=self.record_ids)
        unmade = pc.and_(pc.is_null(at), pc.is_valid(record_ids))  # e.g. a quarantined row's
        made = record_pseudonyms(key, source, record_ids.filter(unmade))
        return pc.replace_with_mask(self.pseudonyms.take(at), unmade, made)


@dataclass(frozen=True)
class PseudonymiseResult:
    source: str
    records: int
    months: int
    path: Path
    content_path: Path
    columns: tuple[str, ...]
    content_columns: tuple[str, ...]
    pseudonyms: RecordPseudonyms | None = field(repr=False)  # kept where there is a truth


def encoded_path(settings: Settings, source: str) -> Path:
    return settings.encoded / f"{source}.parquet"


def content_path(settings: Settings, source: str) -> Path:
    return settings.content / f"{source}.parquet"


def largest_first(settings: Settings, specs: list[SourceSpec]) -> list[int]:
    """Each source's rank by the bytes of its standardised months (the largest highest, 0 for
    one not yet pulled): the pseudonymise steps' work, roughly, known before they run."""

    def size(spec: SourceSpec) -> int:
        return sum(f.stat().st_size for f in (settings.standardised / spec.name).glob("*.parquet"))

    sizes = [size(spec) for spec in specs]
    order = sorted(range(len(specs)), key=lambda i: sizes[i])
    return [order.index(i) + 1 if sizes[i] else 0 for i in range(len(specs))]


def content_reconciliation(path: Path) -> list[PullResult]:
    """The pull's reconciliation of every month a content file holds."""
    metadata = pq.ParquetFile(path).metadata.metadata or {}
    return [PullResult(**r) for r in json.loads(metadata.get(RECONCILIATION_KEY.encode(), b"[]"))]


def truth_path(settings: Settings, source: str) -> Path:
    return settings.content / "_truth" / f"{source}.parquet"


def pseudonymise_truth(
    spec: SourceSpec, settings: Settings, key: LinkageKey, made: RecordPseudonyms | None
) -> Path | None:
    """The synthetic truth of a source keyed by record pseudonym, for evaluating the linkage.

    Only a generated town has one (landing/_truth/truth.csv, every source's); its record ids
    are the source's own, so analytics receives them as pseudonyms like every other record
    reference: those `made` by pseudonymise_source, looked up. The file is read in batches,
    keeping only this source's rows.
    """
    if not settings.truth_file.exists():
        return None
    reader = pacsv.open_csv(
        settings.truth_file,
        convert_options=pacsv.ConvertOptions(column_types={"record_id": pa.string()}),
    )
    truth = pa.Table.from_batches(
        [batch.filter(pc.equal(batch.column("source"), spec.name)) for batch in reader],
        reader.schema,
    )
    ids = truth.column("record_id").combine_chunks()
    truth = truth.set_column(
        truth.schema.get_field_index("record_id"),
        "record_id",
        made.of(key, spec.name, ids) if made else record_pseudonyms(key, spec.name, ids),
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
    """Encode every standardised month of a source into linkage/encoded/<source>.parquet and
    split its content into content/<source>.parquet.

    A person recurs month after month (a claimant in every monthly benefits extract), so the
    identity fields are read for the whole history first and each distinct identity is encoded
    once, its records written together (`SameIdentity`); the event fields then go through in
    chunks of up to CHUNK_ROWS, so memory holds the identities, never the whole extract.
    """
    files = sorted((settings.standardised / spec.name).glob("*.parquet"))
    if not files:
        raise PlacelinkError(
            f"{settings.standardised / spec.name}: no standardised months (pull the source first)"
        )
    path = encoded_path(settings, spec.name)
    # Months pulled at different times may differ a little (a column added): read them as one.
    schemas = [pq.read_schema(f) for f in files]
    schema = pa.unify_schemas(schemas, promote_options="permissive").remove_metadata()
    identity = _read_identities(files, schemas, schema)
    record_ids = identity.column("record_id").combine_chunks()
    pseudonyms = record_pseudonyms(key, spec.name, record_ids)
    # A generated town's truth is keyed by the same pseudonyms (pseudonymise_truth).
    made = RecordPseudonyms(record_ids, pseudonyms) if settings.truth_file.exists() else None
    del record_ids
    metadata = {KEY_FINGERPRINT: key.fingerprint}
    # The months' reconciliation travels with the content, so the report never opens secure/.
    reconciliation = [asdict(read_reconciliation(f)) for f in files]
    with StagedFiles() as staged:
        out = staged.parquet(path, plain=("record_id", IDENTITY_KEY, *OUTPUT_COLUMNS))
        columns = _write_encodings(out, spec.name, identity, pseudonyms, IdentityEncoder(key))
        out.close({**metadata, TOKEN_SCHEME: TOKENS})
        del identity
        content = staged.parquet(content_path(settings, spec.name))
        content_columns = _write_content(content, spec, files, schema, pseudonyms, key, lookup)
        content.close({**metadata, RECONCILIATION_KEY: json.dumps(reconciliation)})
    return PseudonymiseResult(
        spec.name,
        len(pseudonyms),
        len(files),
        path,
        content_path(settings, spec.name),
        columns,
        content_columns,
        made,
    )


def _read_identities(files: list[Path], schemas: list[pa.Schema], schema: pa.Schema) -> pa.Table:
    """The identity fields of every record, month after month in file order (`schemas`: each
    file's own, `schema`: all of them unified)."""
    fields = pa.schema([schema.field(name) for name in IDENTITY_FIELDS])
    months = [
        pq.read_table(f, columns=[n for n in IDENTITY_FIELDS if n in s.names])
        for f, s in zip(files, schemas, strict=True)
    ]
    # One contiguous table: a take from a table of many chunks joins them first, a copy of
    # every record's identity each time an encoding chunk is taken.
    return pa.Table.from_batches(
        [_conform(b, fields) for month in months for b in month.to_batches()], schema=fields
    ).combine_chunks()


@dataclass(frozen=True)
class SameIdentity:
    """Records grouped by identical identity fields (given without the record id), the groups
    numbered in order of their first record, so the grouping says nothing the file order did
    not."""

    groups: np.ndarray  # each record's group
    order: np.ndarray  # record positions, group by group, in file order within a group
    bounds: np.ndarray  # group g's records are order[bounds[g] : bounds[g + 1]]

    @classmethod
    def of(cls, people: pa.Table) -> SameIdentity:
        # Field by field: the records' codes so far and the field's value codes (unknown is a
        # code of its own) make one number, renumbered by first appearance. Joining every
        # record's fields into one string would hold 0.2 GB more at 2.4 million records.
        groups = np.zeros(people.num_rows, np.int64)
        for column in people.columns:
            encoded = pc.dictionary_encode(column)
            values = len(encoded.chunks[0].dictionary) if encoded.num_chunks else 0
            codes = np.concatenate(
                [c.indices.fill_null(-1).to_numpy() for c in encoded.chunks] or [[]]
            ).astype(np.int64)
            groups = pd.factorize(groups * (values + 1) + codes + 1)[0]
        order = np.argsort(groups, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(groups))]).astype(np.int64)
        return cls(groups, order, bounds)

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def spans(self, max_rows: int) -> Iterator[tuple[int, int]]:
        """(first group, stop group) ranges of at most `max_rows` groups and, unless one group
        alone has more, at most `max_rows` records."""
        start = 0
        while start < len(self):
            by_records = int(np.searchsorted(self.bounds, self.bounds[start] + max_rows, "right"))
            stop = min(start + max_rows, len(self), max(by_records - 1, start + 1))
            yield start, stop
            start = stop


def _write_encodings(
    out: StagedParquet,
    source: str,
    identity: pa.Table,
    pseudonyms: pa.Array,
    encoder: IdentityEncoder,
) -> tuple[str, ...]:
    """Each distinct identity encoded once; its records' rows written together."""
    people = identity.drop_columns(["record_id"])
    same = SameIdentity.of(people)
    if not len(same):  # not one valid row in any month: the file still has its columns
        table = _linkage_rows(source, pseudonyms, _encode(encoder, people))
        out.write(table)
        return tuple(table.column_names)
    for start, stop in same.spans(CHUNK_ROWS):
        encoded = _encode(encoder, people.take(same.order[same.bounds[start:stop]]))
        records = same.order[same.bounds[start] : same.bounds[stop]]
        for at in range(0, len(records), LINKAGE_ROWS):
            rows = records[at : at + LINKAGE_ROWS]
            table = _linkage_rows(
                source, pseudonyms.take(rows), encoded.take(same.groups[rows] - start)
            )
            out.write(table)
    return tuple(table.column_names)


def _encode(encoder: IdentityEncoder, people: pa.Table) -> pa.Table:
    """The identities' identity keys and encodings."""
    frame = people.to_pandas(types_mapper=pd.ArrowDtype)
    encoded = pa.Table.from_pandas(encoder(frame), preserve_index=False)
    return encoded.add_column(0, IDENTITY_KEY, identity_keys(encoded))


def _linkage_rows(source: str, pseudonyms: pa.Array, encoded: pa.Table) -> pa.Table:
    """The linkage zone's rows: source, record pseudonym, identity key and encodings, nothing
    else."""
    return pa.table(
        {
            "source": pa.array([source] * len(pseudonyms), pa.string()),
            "record_id": pseudonyms,
            **dict(zip(encoded.column_names, encoded.columns, strict=True)),
        }
    )


def _write_content(
    content: StagedParquet,
    spec: SourceSpec,
    files: list[Path],
    schema: pa.Schema,
    pseudonyms: pa.Array,
    key: LinkageKey,
    lookup: pa.Table,
) -> tuple[str, ...]:
    """The content zone's rows, chunk by chunk in file order (the pseudonyms' order)."""

    def read(month_file: Path) -> Iterator[pa.RecordBatch]:
        for batch in pq.ParquetFile(month_file).iter_batches(batch_size=BATCH_ROWS):
            yield _conform(batch, schema)

    chunks = in_chunks(read_in_order(files, read, is_small_file), CHUNK_ROWS)
    tables = (pa.Table.from_batches([b for _, b in chunk]).combine_chunks() for chunk in chunks)
    offset, attributes = 0, None
    for table in tables:
        attributes = _content_rows(
            spec, table, pseudonyms.slice(offset, table.num_rows), key, lookup
        )
        content.write(attributes)
        offset += table.num_rows
    if attributes is None:  # not one valid row in any month: the file still has its columns
        attributes = _content_rows(spec, schema.empty_table(), pseudonyms, key, lookup)
        content.write(attributes)
    return tuple(attributes.column_names)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch with the columns and types of `schema` (a column it lacks is null)."""
    columns = [
        batch.column(f.name).cast(f.type)
        if f.name in batch.schema.names
        else pa.nulls(batch.num_rows, f.type)
        for f in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _content_rows(
    spec: SourceSpec, table: pa.Table, pseudonym: pa.Array, key: LinkageKey, lookup: pa.Table
) -> pa.Table:
    """The content zone's rows for a chunk of standardised rows: no identifier, no encoding."""
    source = pa.array([spec.name] * table.num_rows, pa.string())
    geography = postcode_geography(table.column("postcode"), lookup)
    events = table.drop_columns(list(IDENTITY_FIELDS))
    for name in spec.pseudonymise:  # a source's own identifiers: pseudonyms in their domain
        values = events.column(name).combine_chunks()
        events = events.set_column(
            events.schema.get_field_index(name),
            name,
            record_pseudonyms(key, f"{spec.name}.{name}", values),
        )
    return pa.table(
        {
            "source": source,
            "record_id": pseudonym,
            **dict(zip(geography.column_names, geography.columns, strict=True)),
            "age_at_event": age_at(table.column("date_of_birth"), _age_date(spec, table)),
            "sex": table.column("sex"),
            **dict(zip(events.column_names, events.columns, strict=True)),
        }
    )


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
