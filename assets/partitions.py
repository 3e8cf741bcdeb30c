"""The monthly partitions every source's extracts arrive in."""

from dagster import MonthlyPartitionsDefinition

PERIOD_START = "2023-04"

monthly_partitions = MonthlyPartitionsDefinition(start_date=PERIOD_START, fmt="%Y-%m")
