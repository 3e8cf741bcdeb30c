"""Statistical disclosure control for aggregate tables (OUTCOMES.md section D).

Small counts are suppressed and the rest rounded, so no published count is small or exact; rates
are then recomputed from the published counts, so a rate can never be used to undo the rounding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from placelink.errors import PlacelinkError

__all__ = [
    "ColumnSdc",
    "SdcSummary",
    "apply_person_disclosure",
    "apply_sdc",
    "round_half_up",
    "sdc_columns",
]

Kind = Literal["count", "rate", "share", "none"]
TOP_AGE = 90


@dataclass(frozen=True)
class ColumnSdc:
    """How one column is controlled: a count, a rate of two count columns, or a label.

    `per` is the rate's scale: a number, or the name of a column holding it row by row. A
    share is a figure computed from a count's records outside disclosure control (a linkage
    precision, say): it is published only where that count (`of`) is.
    """

    kind: Kind
    numerator: str | None = None
    denominator: str | None = None
    per: float | str = 1
    of: str | None = None


@dataclass(frozen=True)
class SdcSummary:
    """Count cells: suppressed (published null), rounded (value changed), and in all."""

    cells_suppressed: int
    cells_rounded: int
    cells_total: int


def sdc_columns(meta_by_column: Mapping[str, Mapping[str, Any]]) -> dict[str, ColumnSdc]:
    """Build the column specs from schema.yml `meta` (column name -> meta mapping)."""
    out: dict[str, ColumnSdc] = {}
    for name, meta in meta_by_column.items():
        kind = meta.get("sdc")
        if kind not in ("count", "rate", "share", "none"):
            raise PlacelinkError(f"column {name}: meta.sdc must be count, rate, share or none")
        if kind == "share":
            out[name] = ColumnSdc("share", of=meta.get("of"))
        elif kind == "rate":
            out[name] = ColumnSdc(
                "rate", meta.get("numerator"), meta.get("denominator"), meta.get("per", 1)
            )
        else:
            out[name] = ColumnSdc(kind)
    return out


def round_half_up(values: np.ndarray, base: int) -> np.ndarray:
    """Round non-negative integers to the nearest multiple of `base`, halves up."""
    quotient, remainder = np.divmod(values, base)
    return (quotient + (2 * remainder >= base)) * base


def apply_sdc(
    df: pd.DataFrame, columns: Mapping[str, ColumnSdc], threshold: int, base: int
) -> tuple[pd.DataFrame, SdcSummary]:
    """Suppress and round every count column, then recompute every rate from the results.

    A count below `threshold` (zero included) becomes null; any other is rounded to the nearest
    multiple of `base`, halves up. A rate is numerator / denominator x per over the published
    counts, null when either is null or the denominator is 0. Every column of `df` must have a
    spec, so nothing leaves uncontrolled by omission.
    """
    if threshold < 1 or base < 1:
        raise PlacelinkError("disclosure control needs a threshold and a base of at least 1")
    unspecified = [c for c in df.columns if c not in columns]
    if unspecified:
        raise PlacelinkError(f"no disclosure-control rule for column(s): {unspecified}")
    out = df.copy()
    suppressed = rounded = total = 0
    for name, spec in columns.items():
        if spec.kind != "count" or name not in out.columns:
            continue
        values = pd.to_numeric(out[name], errors="raise").astype("Float64")
        if (values < 0).any():
            raise PlacelinkError(f"column {name}: counts cannot be negative")
        known = values.notna().to_numpy()
        raw = values.fillna(0).round().astype("int64").to_numpy()
        small = known & (raw < threshold)
        published = np.where(small, 0, round_half_up(raw, base))
        total += len(values)
        suppressed += int(small.sum())
        rounded += int((known & ~small & (published != raw)).sum())
        out[name] = pd.array(
            [
                int(p) if k and not s else None
                for p, k, s in zip(published, known, small, strict=True)
            ],
            dtype="Int64",
        )
    for name, spec in columns.items():
        if spec.kind == "rate":
            out[name] = _rate(out, name, spec, columns)
        elif spec.kind == "share":
            if columns.get(spec.of or "", ColumnSdc("none")).kind != "count":
                raise PlacelinkError(f"share {name}: `of` must name a count column")
            out[name] = out[name].astype("Float64").where(out[spec.of].notna())
    return out, SdcSummary(suppressed, rounded, total)


def apply_person_disclosure(
    df: pd.DataFrame, meta_by_column: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """Coarsen a person-level table as schema.yml says: `disclose: age` top-codes at TOP_AGE
    (90 means 90 or over), `disclose: month` publishes a date as the first day of its month.

    Person tables stay inside the safe setting, but a single-year age of 97 and an exact
    admission date single a person out among discharges; the measures' intervals (days to
    social care, readmission within 30 days) are computed from exact dates before this.
    """
    out = df.copy()
    for name, meta in meta_by_column.items():
        rule = meta.get("disclose")
        if rule is None or name not in out.columns:
            continue
        if rule == "age":
            out[name] = pd.to_numeric(out[name]).clip(upper=TOP_AGE)
        elif rule == "month":
            dates = pd.to_datetime(out[name].astype(object), errors="raise")
            months = dates.dt.to_period("M").dt.start_time.dt.date
            out[name] = pd.array(
                [None if pd.isna(d) else d for d in months], dtype=pd.ArrowDtype(pa.date32())
            )
        else:
            raise PlacelinkError(f"column {name}: meta.disclose must be age or month")
    return out


def _rate(
    out: pd.DataFrame, name: str, spec: ColumnSdc, columns: Mapping[str, ColumnSdc]
) -> pd.Series:
    for part in (spec.numerator, spec.denominator):
        if part is None or columns.get(part, ColumnSdc("none")).kind != "count":
            raise PlacelinkError(f"rate {name}: numerator and denominator must be count columns")
    numerator = out[spec.numerator].astype("Float64")
    denominator = out[spec.denominator].astype("Float64")
    per = out[spec.per].astype("Float64") if isinstance(spec.per, str) else float(spec.per)
    rate = numerator * per / denominator.where(denominator != 0)
    return rate.astype("Float64")
