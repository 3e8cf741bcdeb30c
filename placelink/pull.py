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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from placelink import standardise as st
from placelink.connectors import read_batches, source_location
from placelink.files import IO_THREADS, atomic_write_many, parquet_writer, remove_durably
from placelink.settings import Settings
from placelink.sources import SourceSpec

RECONCILIATION_KEY = "placelink.reconciliation"
ALWAYS_QUARANTINED = frozenset({st.BAD_DATE, st.BAD_DOB, st.MISSING_ID, st.DUPLICATE_ID})


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
    """The PullResult stored in a standardised file's schema metadata."""
    metadata = pq.read_schema(path).metadata or {}
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
    """Pull several months of `spec` at once, with one result and one pair of files per month.

    Standardising every month in one pass, rather than month by month, spares a backfill the
    fixed cost of each step per file; checks that belong to a month (duplicate record ids)
    still look within the month. Raise SourceError when any month cannot be read at all.
    """
    with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
        tables = list(pool.map(lambda m: _read_month(spec, m, settings.home), months))
    sizes = [t.num_rows for t in tables]
    table = pa.concat_tables(tables, promote_options="permissive")
    # Strings stay Arrow-backed: the standardisers work in Arrow, so no Python str objects are
    # made but for distinct identity values.
    raw = table.to_pandas(types_mapper=_arrow_string_types)
    raw.index = pd.RangeIndex(len(raw))
    month_of_row = pd.Series(np.repeat(np.array(months, dtype=object), sizes), index=raw.index)
    clean, checks = standardise_rows(spec, raw, today or date.today(), month_of_row)
    quarantine_codes = ALWAYS_QUARANTINED | spec.quarantine_on
    rejected = pd.Series(False, index=raw.index)
    for code, mask in checks.items():
        if code in quarantine_codes:
            rejected |= mask
    # Convert to Arrow once and slice per month: a backfill pays no per-month conversion.
    codes = {c: m for c, m in checks.items() if c in quarantine_codes}
    row_in_month = raw.index.to_numpy() - np.repeat(np.cumsum([0, *sizes[:-1]]), sizes)
    valid_rows = clean.loc[~rejected].assign(extract_month=month_of_row[~rejected])
    valid = _storage_types(pa.Table.from_pandas(valid_rows, preserve_index=False))
    quarantined = pa.Table.from_pandas(
        raw.loc[rejected]
        .astype("string")
        .assign(
            row_number=(row_in_month[rejected.to_numpy()] + 1).astype("int64"),
            reasons=pd.array(_reason_strings(codes, rejected), dtype="string"),
        ),
        preserve_index=False,
    )
    month_codes = pd.Categorical(month_of_row, categories=months).codes
    valid_sizes = np.bincount(month_codes[~rejected.to_numpy()], minlength=len(months))
    rejected_sizes = np.bincount(month_codes[rejected.to_numpy()], minlength=len(months))
    results, writes, stale = [], [], []
    for i, month in enumerate(months):
        in_month = month_codes == i
        month_valid = valid.slice(int(valid_sizes[:i].sum()), int(valid_sizes[i]))
        month_quarantined = quarantined.slice(int(rejected_sizes[:i].sum()), int(rejected_sizes[i]))
        reasons = Counter(
            code
            for text in month_quarantined.column("reasons").to_pylist()
            for code in text.split(";")
        )
        result = PullResult(
            source=spec.name,
            month=month,
            location=source_location(spec, month, settings.home),
            rows_in=int(sizes[i]),
            valid=month_valid.num_rows,
            quarantined=month_quarantined.num_rows,
            reasons=dict(sorted(reasons.items())),
            warnings={
                code: int(mask.to_numpy()[in_month].sum())
                for code, mask in sorted(checks.items())
                if code not in quarantine_codes and mask.to_numpy()[in_month].any()
            },
        )
        results.append(result)
        if month_quarantined.num_rows:
            writes.append(
                (quarantine_path(settings, spec.name, month), parquet_writer(month_quarantined))
            )
        else:
            stale.append(quarantine_path(settings, spec.name, month))
        stamped = month_valid.replace_schema_metadata(
            {**(valid.schema.metadata or {}), RECONCILIATION_KEY: json.dumps(asdict(result))}
        )
        writes.append((standardised_path(settings, spec.name, month), parquet_writer(stamped)))
    atomic_write_many(writes)
    remove_durably(stale)
    return results


def _read_month(spec: SourceSpec, month: str, home: Path) -> pa.Table:
    batches = [pa.Table.from_batches([b]) for b in read_batches(spec, month, home)]
    return _join_lists(pa.concat_tables(batches, promote_options="permissive"))


def standardise_rows(
    spec: SourceSpec, raw: pd.DataFrame, today: date, partition: pd.Series | None = None
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Standardise identity and event fields; return the rows and each check's mask.

    `partition` labels each row's month, within which a record id must be unique.
    """
    ident = spec.identity
    checks: dict[str, pd.Series] = {}
    out: dict[str, pd.Series] = {}
    none = pd.Series(pd.NA, index=raw.index, dtype="string")

    record_id = raw[ident["record_id"]].astype(st.STRING).str.strip()
    record_id = record_id.mask(record_id == "")
    out["record_id"] = record_id
    checks[st.MISSING_ID] = record_id.isna()
    keys = [record_id] if partition is None else [record_id, partition]
    checks[st.DUPLICATE_ID] = record_id.notna() & pd.concat(keys, axis=1).duplicated(keep=False)

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
    return pd.DataFrame(out, index=raw.index), checks


def _code_for(field_name: str) -> str:
    return {"nhs_number": st.BAD_NHS, "ni_number": st.BAD_NI, "postcode": st.BAD_POSTCODE}[
        field_name
    ]


def _reason_strings(checks: dict[str, pd.Series], rejected: pd.Series) -> list[str]:
    """Per rejected row, its codes `;`-joined in the order of `checks`."""
    rows = np.flatnonzero(rejected.to_numpy(dtype=bool))
    codes: list[list[str]] = [[] for _ in rows]
    for code, mask in checks.items():
        for i in np.flatnonzero(mask.to_numpy(dtype=bool)[rows]):
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


def _arrow_string_types(arrow_type: pa.DataType):
    return pd.StringDtype("pyarrow") if pa.types.is_string(arrow_type) else None
