"""Days as integers (days since 1970-01-01) so that every date step is vectorised numpy."""

from __future__ import annotations

import numpy as np

NEVER = 10**9
"""A day after everything: a person who never dies, a service that never ends."""

PERIOD_START = "2023-04"
_TABLE_FIRST = int(np.datetime64("1900-01-01", "D").astype(np.int64))
_TABLE_LAST = int(np.datetime64("2032-12-31", "D").astype(np.int64))


class Timeline:
    """The months of the extract period and fast date formatting through lookup tables."""

    def __init__(self, months: int) -> None:
        first = np.datetime64(PERIOD_START, "M")
        bounds = (first + np.arange(months + 1)).astype("datetime64[D]").astype(np.int64)
        self.months = months
        self.month_start = bounds
        self.start = int(bounds[0])
        self.end = int(bounds[-1])
        self.labels = [str(first + i) for i in range(months)]
        iso = np.datetime_as_string(
            np.arange(_TABLE_FIRST, _TABLE_LAST + 1).astype("datetime64[D]"), unit="D"
        ).astype(object)
        self._tables = {
            "%Y-%m-%d": iso,
            "%d/%m/%Y": np.array([f"{s[8:10]}/{s[5:7]}/{s[0:4]}" for s in iso], dtype=object),
            "%d-%m-%Y": np.array([f"{s[8:10]}-{s[5:7]}-{s[0:4]}" for s in iso], dtype=object),
        }

    def month_of(self, days: np.ndarray) -> np.ndarray:
        """Index of the month (0-based) that holds each day."""
        return np.searchsorted(self.month_start, days, side="right") - 1

    def fmt(self, days: np.ndarray, style: str) -> np.ndarray:
        """Dates as strings in `style`; NEVER (or any out-of-table day) becomes None."""
        days = np.asarray(days, dtype=np.int64)
        ok = (days >= _TABLE_FIRST) & (days <= _TABLE_LAST)
        out = np.full(days.shape, None, dtype=object)
        out[ok] = self._tables[style][days[ok] - _TABLE_FIRST]
        return out


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split day numbers into year, month and day arrays."""
    d = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dd = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return y, m, dd


def from_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Day numbers from year, month and day arrays (days past the month's end roll over)."""
    months = (np.asarray(y, dtype=np.int64) - 1970) * 12 + np.asarray(m, dtype=np.int64) - 1
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + d - 1


def days_in_month(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Length of each (year, month)."""
    months = (np.asarray(y, dtype=np.int64) - 1970) * 12 + np.asarray(m, dtype=np.int64) - 1
    start = months.astype("datetime64[M]").astype("datetime64[D]")
    end = (months + 1).astype("datetime64[M]").astype("datetime64[D]")
    return (end - start).astype(np.int64)
