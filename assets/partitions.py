"""The monthly partitions every source's extracts arrive in, over the data period."""

from dagster import MonthlyPartitionsDefinition

from placelink.period import DEFAULT_FIRST, Period


def monthly_partitions_for(period: Period) -> MonthlyPartitionsDefinition:
    """One partition per month of the period (placelink.period.resolve_period)."""
    return MonthlyPartitionsDefinition(
        start_date=period.first, end_date=period.end_exclusive(), fmt="%Y-%m"
    )


PERIOD_START = DEFAULT_FIRST
monthly_partitions = monthly_partitions_for(Period(DEFAULT_FIRST))
"""The demo's period, the default when neither the settings nor the sources file set one."""
