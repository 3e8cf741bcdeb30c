"""Typed metadata shared by every asset, so the UI shows numbers and tables, not strings."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from dagster import MetadataValue, TableColumn, TableSchema


def table_schema(frame: pd.DataFrame, descriptions: Mapping[str, str] | None = None):
    descriptions = descriptions or {}
    return MetadataValue.table_schema(
        TableSchema(
            columns=[
                TableColumn(name=str(c), type=str(t), description=descriptions.get(str(c)))
                for c, t in frame.dtypes.items()
            ]
        )
    )


def frame_preview(frame: pd.DataFrame, rows: int = 5, exclude_suffixes: tuple[str, ...] = ()):
    """A Markdown preview of pseudonymised rows; encoding columns can be left out."""
    columns = [c for c in frame.columns if not str(c).endswith(exclude_suffixes)]
    return MetadataValue.md(frame[columns].head(rows).to_markdown(index=False))


def counts_table(counts: Mapping[str, int], label: str):
    lines = [f"| {label} | count |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(counts.items())] or ["| (none) | 0 |"]
    return MetadataValue.md("\n".join(lines))
