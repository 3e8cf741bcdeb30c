"""Publishing: atomic Parquet with column descriptions, disclosure control and a data dictionary.

A table is written to a temporary file beside its destination, synced and renamed over it, so
a crash mid-write leaves the previous table readable and a re-run completes the job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, text

from placelink.errors import PlacelinkError
from placelink.expectations import SuiteResult, validate_frame
from placelink.files import atomic_write, write_text_atomic
from placelink.sdc import SdcSummary, apply_person_disclosure, apply_sdc, sdc_columns
from placelink.sqlmodels import SqlModel, SqlProject

__all__ = ["PublishResult", "publish_model", "publish_table", "write_data_dictionary"]

FOLDERS = ("person", "aggregate")


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
    suite: Path | None = None,
    extra_metadata: Mapping[str, Any] | None = None,
) -> PublishResult:
    """Read a model's table and publish it to `published/<person|aggregate>/<name>.parquet`.

    Aggregate tables go through disclosure control first and carry its summary in their
    metadata; person tables are written as they are and never into aggregate/. With a `suite`,
    the exact frame about to be written is validated first, and a failure leaves the previous
    table in place (`published` is False).
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
    dest = Path(published) / model.publish / f"{name}.parquet"
    check = validate_frame(df, suite) if suite is not None else None
    if check is not None and not check.success:
        return PublishResult(dest, len(df), list(df.columns), summary, check, published=False)
    descriptions = {c: col.description for c, col in model.columns.items()}
    result = publish_table(df, dest, descriptions, model.description, extras)
    return PublishResult(result.path, result.rows, result.columns, summary, check)


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
    header = "| column | description |" + (" disclosure control |" if aggregate else "")
    lines += [header, "|---|---|" + ("---|" if aggregate else "")]
    for col in model.columns.values():
        tests = f" ({', '.join(map(str, col.tests))})" if col.tests else ""
        row = f"| `{col.name}` | {_cell(col.description)}{tests} |"
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
    return {"count": "count: suppressed and rounded", "none": "none (dimension)"}.get(kind, "")


def _cell(value: str) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")
