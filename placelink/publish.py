"""Publishing: atomic Parquet with column descriptions, disclosure control and a data dictionary.

A table is written to a temporary file beside its destination, synced and renamed over it, so
a crash mid-write leaves the previous table readable and a re-run completes the job. Every
column is cast to the Arrow type schema.yml declares for it (`meta.type`), rates and shares are
rounded by ROUNDING_RULE, and each file's metadata names the run, the data period and the key's
fingerprint (run_metadata).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Engine, text

from placelink.encode import file_key_fingerprint
from placelink.errors import PlacelinkError
from placelink.expectations import SuiteResult, validate_frame
from placelink.files import atomic_write, write_text_atomic
from placelink.pseudonymise import content_reconciliation
from placelink.sdc import SdcSummary, apply_person_disclosure, apply_sdc, sdc_columns
from placelink.sqlmodels import SqlModel, SqlProject

__all__ = [
    "ARROW_TYPES",
    "ROUNDING_RULE",
    "PublishResult",
    "conform",
    "data_period",
    "decimals",
    "key_fingerprint",
    "publish_model",
    "publish_table",
    "run_metadata",
    "write_data_dictionary",
]

FOLDERS = ("person", "aggregate")

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "date32": pa.date32(),
}
"""The types a published column may declare in schema.yml `meta.type`, by their Arrow names."""

RATE_DECIMALS = 1
SHARE_DECIMALS = 3
ROUNDING_RULE = (
    "Rates (`sdc: rate`: a percentage, or a rate per 1,000 or per 100,000) are published to "
    f"{RATE_DECIMALS} decimal place and shares between 0 and 1 (`sdc: share`: precision, recall, "
    f"F1) to {SHARE_DECIMALS}, halves rounded up; a column's `meta.round: N` (a person-level "
    "ratio, say) sets its places instead. Rates are rounded after they are computed from the "
    "published counts."
)
"""The one rounding rule for published figures, as the data dictionary states it."""

RUN_ID_KEY, PERIOD_KEY, FINGERPRINT_KEY = (
    "placelink.run_id",
    "placelink.period",
    "placelink.key_fingerprint",
)


@dataclass(frozen=True)
class PublishResult:
    """A written table: where, how many rows, which columns, and its disclosure control."""

    path: Path
    rows: int
    columns: list[str]
    sdc: SdcSummary | None = None
    check: SuiteResult | None = None
    published: bool = True

    @property
    def folder(self) -> str:
        return self.path.parent.name


def publish_table(
    data: pd.DataFrame | pa.Table,
    dest: Path,
    descriptions: Mapping[str, str],
    table_description: str,
    extra_metadata: Mapping[str, Any] | None = None,
) -> PublishResult:
    """Write `data` to `dest` as Parquet atomically, descriptions in the schema.

    Each column's description goes into its Arrow field metadata under b"description"; the
    table's description under b"description" and each extra (JSON-encoded unless a string)
    under its own key in the schema metadata.
    """
    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    fields = [
        f.with_metadata({b"description": descriptions.get(f.name, "").encode()})
        for f in table.schema
    ]
    metadata = {b"description": table_description.encode()}
    for key, value in (extra_metadata or {}).items():
        encoded = value if isinstance(value, str) else json.dumps(value, default=str)
        metadata[key.encode()] = encoded.encode()
    table = table.cast(pa.schema(fields, metadata=metadata))
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, lambda fh: pq.write_table(table, fh))
    return PublishResult(dest, table.num_rows, table.column_names)


def publish_model(
    engine: Engine,
    project: SqlProject,
    name: str,
    published: Path,
    threshold: int,
    base: int,
    suite: Path | dict | None = None,
    extra_metadata: Mapping[str, Any] | None = None,
) -> PublishResult:
    """Read a model's table and publish it to `published/<person|aggregate>/<name>.parquet`.

    Aggregate tables go through disclosure control first and carry its summary in their
    metadata; person tables are coarsened (apply_person_disclosure) and never go into
    aggregate/. Then every column is rounded and typed (conform). With a `suite`, the exact
    frame about to be written is validated first, and a failure leaves the previous table in
    place (`published` is False). `extra_metadata` (run_metadata's, from the pipeline) goes
    into the schema metadata beside the description.
    """
    model = project.models.get(name)
    if model is None or model.publish not in FOLDERS:
        raise PlacelinkError(f"model {name!r} is not marked meta.publish: person or aggregate")
    with engine.connect() as conn:
        df = pd.read_sql(
            text(f"select * from {project.table_name(name)}"), conn, dtype_backend="pyarrow"
        )
    extras: dict[str, Any] = {"placelink.publish": model.publish, **(extra_metadata or {})}
    summary = None
    meta = {c: col.meta for c, col in model.columns.items()}
    if model.publish == "aggregate":
        df, summary = apply_sdc(df, sdc_columns(meta), threshold, base)
        extras["placelink.sdc"] = {"threshold": threshold, "base": base, **asdict(summary)}
    else:
        df = apply_person_disclosure(df, meta)
        extras["placelink.safe_setting"] = (
            "person-level: for analysts inside the safe setting only; ages top-coded at 90, "
            "dates published as the first day of their month"
        )
    table = conform(df, model)
    dest = Path(published) / model.publish / f"{name}.parquet"
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    check = validate_frame(frame, suite) if suite is not None else None
    if check is not None and not check.success:
        return PublishResult(dest, len(df), list(df.columns), summary, check, published=False)
    descriptions = {c: col.description for c, col in model.columns.items()}
    result = publish_table(table, dest, descriptions, model.description, extras)
    return PublishResult(result.path, result.rows, result.columns, summary, check)


def decimals(meta: Mapping[str, Any]) -> int | None:
    """Decimal places a published column is rounded to (ROUNDING_RULE), or None: not rounded."""
    if meta.get("round") is not None:
        return int(meta["round"])
    return {"rate": RATE_DECIMALS, "share": SHARE_DECIMALS}.get(meta.get("sdc"))


def conform(df: pd.DataFrame, model: SqlModel) -> pa.Table:
    """The frame as published: each column rounded (ROUNDING_RULE) and cast to its declared type.

    Every column must declare `meta.type` in schema.yml, so the Parquet schema (and the data
    dictionary that states it) cannot drift with the warehouse or with an all-null column. A
    date arrives as a date, a timestamp or ISO text and leaves as date32.
    """
    undeclared = [c for c in df.columns if "type" not in _column_meta(model, c)]
    if undeclared:
        raise PlacelinkError(f"{model.name}: no meta.type in schema.yml for column(s) {undeclared}")
    table = pa.Table.from_pandas(df, preserve_index=False)
    columns = []
    for name in table.column_names:
        meta = _column_meta(model, name)
        target = ARROW_TYPES.get(meta["type"])
        if target is None:
            raise PlacelinkError(
                f"{model.name}.{name}: meta.type must be one of {', '.join(ARROW_TYPES)}"
            )
        column = _cast(table.column(name), target, f"{model.name}.{name}")
        places = decimals(meta)
        if places is not None:
            if target != pa.float64():
                raise PlacelinkError(f"{model.name}.{name}: only a double column is rounded")
            column = pc.round(column, ndigits=places, round_mode="half_up")
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _column_meta(model: SqlModel, name: str) -> Mapping[str, Any]:
    spec = model.columns.get(name)
    return spec.meta if spec is not None else {}


def _cast(column: pa.ChunkedArray, target: pa.DataType, label: str) -> pa.ChunkedArray:
    if column.type == target:
        return column
    try:
        if target == pa.date32() and pa.types.is_timestamp(column.type):
            return pc.cast(column, target, safe=False)  # the date part of the timestamp
        if target == pa.date32() and (
            pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        ):
            # ISO dates, with or without a time (a warehouse may render a date as text)
            return pc.cast(pc.utf8_slice_codeunits(column, 0, 10), target)
        return pc.cast(column, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise PlacelinkError(f"{label}: cannot publish {column.type} as {target}: {exc}") from None


def data_period(content: Path) -> tuple[str, str] | None:
    """The first and last month of the data, from the content files' reconciliation."""
    months = sorted(
        r.month for f in Path(content).glob("*.parquet") for r in content_reconciliation(f)
    )
    return (months[0], months[-1]) if months else None


def key_fingerprint(content: Path) -> str | None:
    """The key fingerprint the content files carry (comma-joined if they disagree), or None."""
    found = {file_key_fingerprint(f) for f in Path(content).glob("*.parquet")}
    return ", ".join(sorted(f for f in found if f)) or None


def run_metadata(content: Path, run_id: str) -> dict[str, Any]:
    """What every published file says about where it came from: the run that wrote it, the
    first and last month of the data, and the fingerprint of the key the data was encoded with
    (read from the content files, so publishing needs no key)."""
    period = data_period(content)
    return {
        RUN_ID_KEY: run_id,
        PERIOD_KEY: {"first_month": period[0], "last_month": period[1]} if period else None,
        FINGERPRINT_KEY: key_fingerprint(content) or "none",
    }


def write_data_dictionary(project: SqlProject, path: Path) -> Path:
    """Write a Markdown data dictionary of every model, published tables first, from schema.yml."""
    models = sorted(
        project.models.values(),
        key=lambda m: (FOLDERS.index(m.publish) if m.publish in FOLDERS else 2, m.name),
    )
    lines = [
        "# placelink data dictionary",
        "",
        "Generated from `dbt_like_sql/schema.yml`; do not edit by hand. Person-level tables",
        "(`published/person/`) stay inside the safe setting; aggregate tables",
        "(`published/aggregate/`) are disclosure-controlled: a count below the threshold is null,",
        "every other count is rounded to the base, and rates are computed from published counts.",
        "",
        "Types are the published Parquet's Arrow types, as `meta.type` in schema.yml declares",
        "them: a date is `date32` (a calendar date; person-level dates marked as published by",
        "month are the first day of their month); `dp`: the decimal places a figure is rounded to.",
        *textwrap.wrap(f"Rounding: {ROUNDING_RULE}", width=90),
        "",
        "Each published file's schema metadata also carries `placelink.run_id` (the Dagster run",
        "that wrote it), `placelink.period` (first and last month of the data, as JSON) and",
        "`placelink.key_fingerprint` (the linkage key's fingerprint, never the key).",
        "",
    ]
    section = None
    for model in models:
        heading = {
            "person": "## Published: person level",
            "aggregate": "## Published: aggregate",
        }.get(model.publish or "", "## Internal models (warehouse only)")
        if heading != section:
            lines += [heading, ""]
            section = heading
        lines += _model_section(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    content = "\n".join(lines).rstrip() + "\n"
    write_text_atomic(content, path)
    return path


def _model_section(model: SqlModel) -> list[str]:
    where = f"`published/{model.publish}/{model.name}.parquet`" if model.publish else "warehouse"
    lines = [f"### {model.name}", "", model.description, "", f"Where: {where}.", ""]
    aggregate = model.publish == "aggregate"
    typed = model.publish is not None
    header = "| column |" + (" type |" if typed else "") + " description |"
    header += " disclosure control |" if aggregate else ""
    lines += [header, "|---|" + ("---|" if typed else "") + "---|" + ("---|" if aggregate else "")]
    for col in model.columns.values():
        tests = f" ({', '.join(map(str, col.tests))})" if col.tests else ""
        row = f"| `{col.name}` |"
        if typed:
            places = decimals(col.meta)
            rounding = f", {places} dp" if places is not None else ""
            row += f" {col.meta.get('type', '?')}{rounding} |"
        row += f" {_cell(col.description)}{tests} |"
        if aggregate:
            row += f" {_sdc_text(col.meta)} |"
        lines.append(row)
    measures = model.meta.get("measures") or []
    if measures:
        lines += ["", "Measures:", "", "| id | measure | numerator | denominator | per |"]
        lines.append("|---|---|---|---|---|")
        for m in measures:
            lines.append(
                f"| {m['id']} | `{m['name']}` | {_cell(m['numerator'])} | "
                f"{_cell(m['denominator'])} | {m['per']:,} |"
            )
    return lines + [""]


def _sdc_text(meta: Mapping[str, Any]) -> str:
    kind = meta.get("sdc")
    if kind == "rate":
        return (
            f"rate of `{meta.get('numerator')}` / `{meta.get('denominator')}` x {meta.get('per')}"
        )
    if kind == "share":
        return f"share: null where `{meta.get('of')}` is suppressed"
    return {"count": "count: suppressed and rounded", "none": "none (dimension)"}.get(kind, "")


def _cell(value: str) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")
