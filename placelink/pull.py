"""The pull step: one month of one source, read, standardised and validated, no row lost.

Valid rows go to secure/standardised/<source>/<month>.parquet and rejected rows, with their
reason codes, to quarantine/<source>/<month>.parquet, so that rows_in = valid + quarantined.
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
from placelink.files import write_parquet_atomic
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
    location = source_location(spec, month, settings.home)
    batches = list(read_batches(spec, month, settings.home))
    table = _join_lists(
        pa.concat_tables(
            [pa.Table.from_batches([b]) for b in batches], promote_options="permissive"
        )
    )
    # Strings stay Arrow-backed: the standardisers work in Arrow, so no Python str objects are
    # made for identity fields (kept text fields become pandas strings in standardise_rows).
    raw = table.to_pandas(types_mapper=_arrow_string_types)
    raw.index = pd.RangeIndex(len(raw))
    clean, checks, warnings = standardise_rows(spec, raw, today or date.today())
    quarantine_codes = ALWAYS_QUARANTINED | spec.quarantine_on
    rejected = pd.Series(False, index=raw.index)
    for code, mask in checks.items():
        if code in quarantine_codes:
            rejected |= mask
        else:
            warnings[code] += int(mask.sum())
    any_rejected = bool(rejected.any())
    valid = (clean.loc[~rejected] if any_rejected else clean).assign(extract_month=month)
    reasons = _reason_strings({c: m for c, m in checks.items() if c in quarantine_codes}, rejected)
    quarantined = (
        (raw.loc[rejected] if any_rejected else raw.iloc[:0])
        .astype("string")
        .assign(row_number=(raw.index[rejected] + 1).astype("int64"), reasons=reasons)
    )
    reason_counts = Counter(code for text in reasons for code in text.split(";"))
    result = PullResult(
        source=spec.name,
        month=month,
        location=location,
        rows_in=len(raw),
        valid=len(valid),
        quarantined=int(rejected.sum()),
        reasons=dict(sorted(reason_counts.items())),
        warnings={k: v for k, v in sorted(warnings.items()) if v},
    )
    standardised = _dates_as_date32(pa.Table.from_pandas(valid, preserve_index=False))
    standardised = standardised.replace_schema_metadata(
        {RECONCILIATION_KEY: json.dumps(asdict(result))}
    )
    # The two files are written side by side: most of a small write is waiting on fsync.
    with ThreadPoolExecutor(max_workers=1) as pool:
        quarantine_written = pool.submit(
            write_parquet_atomic,
            pa.Table.from_pandas(quarantined, preserve_index=False),
            quarantine_path(settings, spec.name, month),
        )
        try:
            write_parquet_atomic(standardised, standardised_path(settings, spec.name, month))
        finally:
            quarantine_written.result()
    return result


def standardise_rows(
    spec: SourceSpec, raw: pd.DataFrame, today: date
) -> tuple[pd.DataFrame, dict[str, pd.Series], Counter]:
    """Standardise identity and event fields; return the rows, each check's mask, warnings."""
    ident = spec.identity
    checks: dict[str, pd.Series] = {}
    out: dict[str, pd.Series] = {}
    none = pd.Series(pd.NA, index=raw.index, dtype="string")

    record_id = raw[ident["record_id"]].astype("string").str.strip()
    record_id = record_id.mask(record_id == "")
    out["record_id"] = record_id
    checks[st.MISSING_ID] = record_id.isna()
    checks[st.DUPLICATE_ID] = record_id.notna() & record_id.duplicated(keep=False)

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
        elif _is_arrow_string(values.dtype):
            values = values.astype(pd.StringDtype())  # kept text is written as pandas strings
        out[column] = values
    checks[st.BAD_DATE] = bad_date
    return pd.DataFrame(out, index=raw.index), checks, Counter()


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


def _dates_as_date32(table: pa.Table) -> pa.Table:
    for i, field_ in enumerate(table.schema):
        if pa.types.is_timestamp(field_.type):
            table = table.set_column(i, field_.name, pc.cast(table.column(i), pa.date32()))
    return table


def _arrow_string_types(arrow_type: pa.DataType):
    return pd.StringDtype("pyarrow") if pa.types.is_string(arrow_type) else None


def _is_arrow_string(dtype) -> bool:
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
