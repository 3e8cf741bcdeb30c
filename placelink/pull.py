"""The pull step: one month of one source, read, standardised and validated, no row lost.

Valid rows go to secure/standardised/<source>/<month>.parquet and rejected rows, with their
reason codes, to quarantine/<source>/<month>.parquet, so that rows_in = valid + quarantined. A
month with nothing quarantined has no quarantine file (a stale one from an earlier pull of the
month is removed); its count of zero is in the reconciliation either way.
A problem with a single field that linkage can live without (a bad NHS check digit, a malformed
postcode, an unknown sex code) nulls that field and counts a warning, unless the source lists the
reason in `quarantine_on`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from placelink import standardise as st
from placelink.connectors import in_chunks, read_months, source_location
from placelink.files import StagedFiles, StagedParquet
from placelink.settings import Settings
from placelink.sources import SourceSpec

RECONCILIATION_KEY = "placelink.reconciliation"
ALWAYS_QUARANTINED = frozenset(
    {st.BAD_DATE, st.BAD_DOB, st.MISSING_ID, st.DUPLICATE_ID, st.END_BEFORE_START, st.FUTURE_EVENT}
)
CHUNK_ROWS: Final = 100_000
"""Rows standardised together: enough that a step's fixed cost per call is small beside the
work, few enough that memory stays bounded (a few hundred MB at most) however large the file."""


@dataclass(frozen=True)
class PullResult:
    """What one month of a source gave: the reconciliation a governance lead checks."""

    source: str
    month: str
    location: str
    rows_in: int
    valid: int
    quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return self.rows_in == self.valid + self.quarantined


@dataclass(frozen=True)
class PullTotals:
    """Several months of a source added up, as the asset metadata and the report show them."""

    months: int
    rows_in: int
    valid: int
    quarantined: int
    reasons: dict[str, int]
    warnings: dict[str, int]
    reconciles: bool


def add_up(results: list[PullResult]) -> PullTotals:
    reasons: Counter = Counter()
    nulled: Counter = Counter()
    for result in results:
        reasons.update(result.reasons)
        nulled.update(result.warnings)
    return PullTotals(
        months=len(results),
        rows_in=sum(r.rows_in for r in results),
        valid=sum(r.valid for r in results),
        quarantined=sum(r.quarantined for r in results),
        reasons=dict(sorted(reasons.items())),
        warnings=dict(sorted(nulled.items())),
        reconciles=bool(results) and all(r.reconciles for r in results),
    )


def read_reconciliation(path: Path) -> PullResult:
    """The PullResult stored in a standardised file's key-value metadata."""
    metadata = pq.ParquetFile(path).metadata.metadata or {}
    return PullResult(**json.loads(metadata[RECONCILIATION_KEY.encode()]))


def standardised_path(settings: Settings, source: str, month: str) -> Path:
    return settings.standardised / source / f"{month}.parquet"


def quarantine_path(settings: Settings, source: str, month: str) -> Path:
    return settings.quarantine / source / f"{month}.parquet"


def pull_month(
    spec: SourceSpec, month: str, settings: Settings, today: date | None = None
) -> PullResult:
    """Pull one month of `spec`; raise SourceError when the extract cannot be read at all."""
    return pull_months(spec, [month], settings, today)[0]


def pull_months(
    spec: SourceSpec, months: list[str], settings: Settings, today: date | None = None
) -> list[PullResult]:
    """Pull several months of `spec`, with one result and one pair of files per month.

    Rows stream from the connector in batches and are standardised up to CHUNK_ROWS at a time,
    across month boundaries: a backfill pays the fixed cost of each step per chunk rather than
    per file, and memory stays bounded however large a file is. A record id must be unique
    within its month; a month found to repeat one is pulled again knowing which, so that every
    row carrying it is quarantined (repeats are sought among 64-bit hashes of the ids, 8 bytes
    a row, then confirmed on the ids themselves). Every file is staged and put in place only
    once all months have been read, so a SourceError for any month leaves the earlier pull's
    files as they were.
    """
    today = today or date.today()
    with StagedFiles() as staged:
        pulled = _stream(spec, months, settings, today, staged, repeated={})
        suspects = {m.month: m.repeated_hashes for m in pulled if len(m.repeated_hashes)}
        repeated = {
            month: ids
            for month, hashes in suspects.items()
            if len(ids := _repeated_ids(spec, month, settings.home, hashes))
        }
        if repeated:
            again = {
                m.month: m for m in _stream(spec, list(repeated), settings, today, staged, repeated)
            }
            pulled = [again.get(m.month, m) for m in pulled]
    return [m.result for m in pulled]


@dataclass
class _MonthPull:
    """One month's pull as its rows go by: its two staged files and its counts."""

    spec: SourceSpec
    month: str
    settings: Settings
    staged: StagedFiles
    raw_columns: list[str] = field(default_factory=list)  # the extract's, from its first batch
    rows_in: int = 0
    valid: int = 0
    quarantined: int = 0
    reasons: Counter = field(default_factory=Counter)
    warnings: Counter = field(default_factory=Counter)
    id_hashes: list[np.ndarray] = field(default_factory=list)
    repeated_hashes: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    result: PullResult | None = None
    _valid_file: StagedParquet | None = None
    _quarantine_file: StagedParquet | None = None

    def add(self, valid: pa.Table, quarantined: pa.Table, warnings: dict[str, int]) -> None:
        if self._valid_file is None:
            dest = standardised_path(self.settings, self.spec.name, self.month)
            self._valid_file = self.staged.parquet(dest)
        self._valid_file.write(valid)
        self.valid += valid.num_rows
        if quarantined.num_rows:
            if self._quarantine_file is None:
                dest = quarantine_path(self.settings, self.spec.name, self.month)
                self._quarantine_file = self.staged.parquet(dest)
            self._quarantine_file.write(
                quarantined.select([*self.raw_columns, "row_number", "reasons"])
            )
            self.quarantined += quarantined.num_rows
            self.reasons.update(
                code
                for text in quarantined.column("reasons").to_pylist()
                for code in text.split(";")
            )
        self.warnings.update(warnings)

    def finish(self) -> None:
        """Close the month's files, the valid one stamped with the reconciliation."""
        hashes = np.concatenate([np.empty(0, np.uint64), *self.id_hashes])
        self.id_hashes = []  # freed before sorting in place: 16 bytes a row at the most
        hashes.sort()
        self.repeated_hashes = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
        self.result = PullResult(
            source=self.spec.name,
            month=self.month,
            location=source_location(self.spec, self.month, self.settings.home),
            rows_in=self.rows_in,
            valid=self.valid,
            quarantined=self.quarantined,
            reasons=dict(sorted(self.reasons.items())),
            warnings=dict(sorted((c, n) for c, n in self.warnings.items() if n)),
        )
        self._valid_file.close({RECONCILIATION_KEY: json.dumps(asdict(self.result))})
        if self._quarantine_file is None:
            self.staged.remove(quarantine_path(self.settings, self.spec.name, self.month))
        else:
            self._quarantine_file.close()


def _stream(
    spec: SourceSpec,
    months: list[str],
    settings: Settings,
    today: date,
    staged: StagedFiles,
    repeated: dict[str, pa.Array],
) -> list[_MonthPull]:
    """Pull `months` chunk by chunk; `repeated` holds each month's record ids known to repeat."""
    pulled = [_MonthPull(spec, month, settings, staged) for month in months]
    for chunk in in_chunks(read_months(spec, months, settings.home), CHUNK_ROWS):
        for i, batch in chunk:
            pulled[i].raw_columns = pulled[i].raw_columns or batch.schema.names
        _pull_chunk(spec, chunk, pulled, today, repeated)
        for month in pulled[: chunk[-1][0]]:  # a chunk's last month may go on in the next
            if month.result is None:
                month.finish()
    for month in pulled:
        if month.result is None:
            month.finish()
    return pulled


def _pull_chunk(
    spec: SourceSpec,
    chunk: list[tuple[int, pa.RecordBatch]],
    pulled: list[_MonthPull],
    today: date,
    repeated: dict[str, pa.Array],
) -> None:
    """Standardise and validate a chunk of rows from one or more months; file each month's."""
    table = _join_lists(
        pa.concat_tables(
            [pa.Table.from_batches([b]) for _, b in chunk], promote_options="permissive"
        )
    )
    month_of_row = np.repeat([i for i, _ in chunk], [b.num_rows for _, b in chunk])
    row_number = np.empty(len(month_of_row), dtype=np.int64)  # within its month's file, from 1
    at = 0
    for i, batch in chunk:
        first = pulled[i].rows_in + 1
        row_number[at : at + batch.num_rows] = np.arange(first, first + batch.num_rows)
        pulled[i].rows_in += batch.num_rows
        at += batch.num_rows
    # Rows come in month order: each month's rows are one slice, and counts are bincounts.
    in_chunk = [int(i) for i in np.unique(month_of_row)]
    bounds = dict(zip(in_chunk, np.searchsorted(month_of_row, in_chunk), strict=True))
    ends = dict(zip(in_chunk, np.searchsorted(month_of_row, in_chunk, side="right"), strict=True))

    # Every column stays Arrow-backed: no Python objects but for distinct identity values, and
    # the same Arrow types come back out chunk after chunk.
    raw = table.to_pandas(types_mapper=pd.ArrowDtype)
    ids = st.record_ids(raw[spec.identity["record_id"]])
    hashes, present = _id_hashes(ids), ids.is_valid().to_numpy(zero_copy_only=False)
    repeats = np.zeros(len(raw), dtype=bool)
    for i in in_chunk:
        rows = slice(bounds[i], ends[i])
        pulled[i].id_hashes.append(hashes[rows][present[rows]])
        if pulled[i].month in repeated:
            known = pc.is_in(
                ids.slice(rows.start, rows.stop - rows.start), repeated[pulled[i].month]
            )
            repeats[rows] = pc.fill_null(known, False).to_numpy(zero_copy_only=False)
    clean, checks = standardise_rows(spec, raw, today, pd.Series(repeats, index=raw.index))

    quarantine_codes = ALWAYS_QUARANTINED | spec.quarantine_on
    codes = {c: m.to_numpy(dtype=bool) for c, m in checks.items() if c in quarantine_codes}
    rejected = np.logical_or.reduce([np.zeros(len(raw), dtype=bool), *codes.values()])
    months = np.array([m.month for m in pulled], dtype=object)
    valid = _storage_types(
        pa.Table.from_pandas(
            clean.loc[~rejected].assign(
                extract_month=pd.array(months[month_of_row[~rejected]], dtype=st.STRING)
            ),
            preserve_index=False,
        )
    )
    quarantined = pa.Table.from_pandas(
        raw.loc[rejected]
        .astype("string")
        .assign(
            row_number=row_number[rejected],
            reasons=pd.array(_reason_strings(codes, rejected), dtype="string"),
        ),
        preserve_index=False,
    )
    per_month = len(pulled)
    n_rejected = np.bincount(month_of_row[rejected], minlength=per_month)
    n_valid = np.bincount(month_of_row, minlength=per_month) - n_rejected
    warnings = {
        code: np.bincount(month_of_row[mask.to_numpy(dtype=bool)], minlength=per_month)
        for code, mask in checks.items()
        if code not in quarantine_codes
    }
    valid_at = quarantined_at = 0
    for i in in_chunk:
        pulled[i].add(
            valid.slice(valid_at, int(n_valid[i])),
            quarantined.slice(quarantined_at, int(n_rejected[i])),
            {code: int(counts[i]) for code, counts in warnings.items()},
        )
        valid_at += int(n_valid[i])
        quarantined_at += int(n_rejected[i])


def _id_hashes(ids: pa.Array) -> np.ndarray:
    return pd.util.hash_pandas_object(
        pd.Series(pd.arrays.ArrowStringArray(ids)), index=False
    ).to_numpy()


def _repeated_ids(spec: SourceSpec, month: str, home: Path, hashes: np.ndarray) -> pa.Array:
    """The month's record ids that occur more than once, among those with a repeated hash."""
    suspects = []
    for _, batch in read_months(spec, [month], home):
        ids = st.record_ids(pd.Series(batch.column(spec.identity["record_id"])))
        suspects.append(ids.filter(pa.array(np.isin(_id_hashes(ids), hashes))).drop_null())
    counts = pc.value_counts(pa.concat_arrays([pa.array([], pa.string()), *suspects]))
    if not len(counts):
        return pa.array([], pa.string())
    return counts.field("values").filter(pc.greater(counts.field("counts"), 1))


def standardise_rows(
    spec: SourceSpec, raw: pd.DataFrame, today: date, repeated: pd.Series | None = None
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Standardise identity and event fields; return the rows and each check's mask.

    `repeated` marks the rows whose record id is known to occur more than once in its month.
    """
    ident = spec.identity
    checks: dict[str, pd.Series] = {}
    out: dict[str, pd.Series] = {}
    none = pd.Series(pd.NA, index=raw.index, dtype="string")

    record_id = st._series(st.record_ids(raw[ident["record_id"]]), raw.index)
    out["record_id"] = record_id
    checks[st.MISSING_ID] = record_id.isna()
    repeated = pd.Series(False, index=raw.index) if repeated is None else repeated
    checks[st.DUPLICATE_ID] = repeated & record_id.notna()

    for name, fn in (
        ("nhs_number", st.standardise_nhs_number),
        ("ni_number", st.standardise_ni_number),
        ("postcode", st.standardise_postcode),
    ):
        if name in ident:
            value, bad = fn(raw[ident[name]])
            out[name] = value
            checks[_code_for(name)] = bad
        else:
            out[name] = none
    for name in ("given_name", "family_name"):
        out[name] = st.standardise_name(raw[ident[name]]) if name in ident else none
    if "sex" in ident:
        out["sex"], checks[st.BAD_SEX] = st.standardise_sex(raw[ident["sex"]], spec.sex_map)
    else:
        out["sex"] = none

    bad_date = pd.Series(False, index=raw.index)
    if "date_of_birth" in ident:
        column = ident["date_of_birth"]
        dob, bad = st.standardise_date(raw[column], spec.dates.get(column))
        bad_date |= bad
        checks[st.BAD_DOB] = st.check_date_of_birth(dob, today) & ~bad
        out["date_of_birth"] = dob
    else:
        out["date_of_birth"] = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")

    for column in spec.keep:
        values = raw[column]
        if column in spec.dates or pd.api.types.is_datetime64_any_dtype(values):
            values, bad = st.standardise_date(values, spec.dates.get(column))
            bad_date |= bad
        out[column] = values
    checks[st.BAD_DATE] = bad_date
    if spec.has_event:  # an identity-only source has no event to be wrong in time
        checks |= _event_checks(spec, out, today)
    return pd.DataFrame(out, index=raw.index), checks


def _event_checks(spec: SourceSpec, out: dict[str, pd.Series], today: date) -> dict[str, pd.Series]:
    """A row whose event makes no sense in time is one bad row, not a bad month: quarantined."""
    start = _dates(out[spec.event_start])
    checks = {st.FUTURE_EVENT: (start > pd.Timestamp(today)).fillna(False).astype(bool)}
    if spec.event_end is not None:
        end = _dates(out[spec.event_end])
        checks[st.END_BEFORE_START] = (end < start).fillna(False).astype(bool)
    return checks


def _dates(values: pd.Series) -> pd.Series:
    """A standardised date column as timestamps, for comparing (null stays null)."""
    return pd.to_datetime(values.astype(object), errors="coerce")


def _code_for(field_name: str) -> str:
    return {"nhs_number": st.BAD_NHS, "ni_number": st.BAD_NI, "postcode": st.BAD_POSTCODE}[
        field_name
    ]


def _reason_strings(checks: dict[str, np.ndarray], rejected: np.ndarray) -> list[str]:
    """Per rejected row, its codes `;`-joined in the order of `checks`."""
    rows = np.flatnonzero(rejected)
    codes: list[list[str]] = [[] for _ in rows]
    for code, mask in checks.items():
        for i in np.flatnonzero(mask[rows]):
            codes[i].append(code)
    return [";".join(c) for c in codes]


def _join_lists(table: pa.Table) -> pa.Table:
    """List fields (a case's support needs) become `;`-joined strings, the warehouse's form."""
    for i, field_ in enumerate(table.schema):
        if pa.types.is_list(field_.type):
            joined = pc.binary_join(pc.cast(table.column(i), pa.list_(pa.string())), ";")
            table = table.set_column(i, field_.name, joined)
    return table


def _storage_types(table: pa.Table) -> pa.Table:
    """Dates as date32 and text as plain strings (pandas' Arrow strings are large_string)."""
    for i, field_ in enumerate(table.schema):
        if pa.types.is_timestamp(field_.type):
            table = table.set_column(i, field_.name, pc.cast(table.column(i), pa.date32()))
        elif pa.types.is_large_string(field_.type):
            table = table.set_column(i, field_.name, pc.cast(table.column(i), pa.string()))
    return table
