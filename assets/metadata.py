"""Typed metadata shared by every asset, so the UI shows numbers and tables, not strings."""

from __future__ import annotations

import resource
from collections.abc import Mapping

import pandas as pd
import pyarrow as pa
from dagster import MetadataValue, TableColumn, TableSchema


def table_schema(schema: pa.Schema):
    """The Arrow schema as Dagster's column schema, with any column descriptions."""
    return MetadataValue.table_schema(
        TableSchema(
            columns=[
                TableColumn(
                    name=f.name,
                    type=str(f.type),
                    description=(f.metadata or {}).get(b"description", b"").decode() or None,
                )
                for f in schema
            ]
        )
    )


def peak_rss_mib() -> int:
    """The peak resident memory of this process so far: the step's own process under the
    multiprocess executor, the whole run's so far in process."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def frame_preview(frame: pd.DataFrame, rows: int = 5):
    """A Markdown preview of pseudonymised rows (never call it on identifiable ones)."""
    return MetadataValue.md(frame.head(rows).to_markdown(index=False))


def counts_table(counts: Mapping[str, int], label: str):
    lines = [f"| {label} | count |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(counts.items())] or ["| (none) | 0 |"]
    return MetadataValue.md("\n".join(lines))
