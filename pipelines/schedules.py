"""Schedules: the monthly run once the month's extracts have landed."""

from __future__ import annotations

from dagster import ScheduleDefinition, build_schedule_from_partitioned_job

from pipelines.jobs import UnresolvedAssetJobDefinition


def build_schedules(jobs: list[UnresolvedAssetJobDefinition]) -> list[ScheduleDefinition]:
    monthly = next(j for j in jobs if j.name == "monthly_job")
    return [
        build_schedule_from_partitioned_job(
            monthly, name="monthly_schedule", day_of_month=7, hour_of_day=6
        )
    ]
