"""The data period: the months a data home's extracts may cover (the monthly partitions).

In order: PLACELINK_PERIOD_START / PLACELINK_PERIOD_END (Settings), else the sources file's
`period: {first: YYYY-MM, last: YYYY-MM}` (last optional), else the demo's: from 2023-04.
Without a last month, the period runs to the last whole month before today.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from placelink.errors import ConfigError, PlacelinkError
from placelink.settings import Settings

DEFAULT_FIRST = "2023-04"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Period:
    first: str
    last: str | None = None
    origin: str = "the default"  # where it was set, for messages

    def __str__(self) -> str:
        return f"{self.first} to {self.last or 'the last whole month'}"

    def last_month(self, today: dt.date | None = None) -> str:
        """The last month in the period (without `last`, the last whole month before today)."""
        if self.last is not None:
            return self.last
        today = today or dt.date.today()
        return (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")

    def __contains__(self, month: str) -> bool:
        return self.first <= month <= self.last_month()

    def end_exclusive(self) -> str | None:
        """The month after `last` (None without one): the partitions' end."""
        if self.last is None:
            return None
        year, month = map(int, self.last.split("-"))
        return f"{year + month // 12}-{month % 12 + 1:02d}"


def month(value: object, where: str) -> str:
    """A month as YYYY-MM, or a ConfigError naming where it was read."""
    text = str(value).strip() if value is not None else ""
    if not _MONTH.match(text):
        raise ConfigError(f"{where} must be a month YYYY-MM, not {value!r}")
    return text


def make_period(first: object, last: object, origin: str) -> Period:
    period = Period(
        month(first, f"{origin}: the first month"),
        None if last in (None, "") else month(last, f"{origin}: the last month"),
        origin,
    )
    if period.last is not None and period.last < period.first:
        raise ConfigError(
            f"{origin}: the last month {period.last} is before the first {period.first}"
        )
    return period


def period_in_file(path: Path) -> Period | None:
    """The sources file's `period:`, or None when it has none (or the file is missing)."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict) or raw.get("period") is None:
        return None
    entry = raw["period"]
    if not isinstance(entry, dict) or "first" not in entry:
        raise ConfigError(
            f"{path}: period must be {{first: YYYY-MM, last: YYYY-MM}} (last optional)"
        )
    unknown = set(entry) - {"first", "last"}
    if unknown:
        raise ConfigError(f"{path}: period has unknown key(s) {sorted(unknown)}")
    return make_period(entry["first"], entry.get("last"), f"{path}: period")


def resolve_period(settings: Settings) -> Period:
    """The period in force: the settings', else the sources file's, else the default."""
    if settings.period_start:
        return make_period(settings.period_start, settings.period_end, "PLACELINK_PERIOD_START")
    in_file = period_in_file(settings.sources_file)
    if in_file is not None:
        if settings.period_end:
            return make_period(in_file.first, settings.period_end, "PLACELINK_PERIOD_END")
        return in_file
    return make_period(DEFAULT_FIRST, settings.period_end, "the default period")


def check_months(months: list[str], period: Period) -> None:
    """Stop with one line naming the first month outside the period, and the period."""
    outside = [m for m in months if m not in period]
    if outside:
        more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
        raise PlacelinkError(
            f"month {outside[0]}{more} is outside the period {period} (set in {period.origin}): "
            "widen the period (sources file `period:` or PLACELINK_PERIOD_START / _END) or "
            "remove the extract"
        )
