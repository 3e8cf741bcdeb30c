"""Sensors: newly landed months ask for one run of the whole chain."""

from __future__ import annotations

from dagster import (
    MonthlyPartitionsDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from assets.partitions import monthly_partitions
from assets.resources import PlacelinkResource
from assets.sources import pull_key
from placelink.connectors import landed_months
from placelink.sources import SourceSpec

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def new_months(landed: list[str], pulled: dict[str, set[str]]) -> list[str]:
    """Landed months that some source has not pulled yet, in order."""
    return [m for m in landed if any(m not in months for months in pulled.values())]


def outside_period(landed: list[str], keys: list[str]) -> str | None:
    """One line naming the landed months outside the period's partitions, or None."""
    outside = [m for m in landed if m not in set(keys)]
    if not outside:
        return None
    period = f"{keys[0]} to {keys[-1]}" if keys else "empty"
    return (
        f"landed month(s) {', '.join(outside)} outside the period {period}: not requested "
        "(widen the period: the sources file's `period:` or PLACELINK_PERIOD_START / _END)"
    )


def build_sensors(
    specs: list[SourceSpec], partitions_def: MonthlyPartitionsDefinition = monthly_partitions
) -> list[SensorDefinition]:
    @sensor(job_name="monthly_job", minimum_interval_seconds=300, name="landing_sensor")
    def landing_sensor(context: SensorEvaluationContext, placelink: PlacelinkResource):
        """Once every file-based source has landed a month that is not yet pulled, request one
        run over the new months: each is pulled, and linkage, the models, publishing and the
        report follow once for all of them, not once per month."""
        keys = partitions_def.get_partition_keys()
        every = landed_months(specs, placelink.settings().home)
        landed = [m for m in every if m in set(keys)]
        outside = outside_period(every, keys)
        if outside:
            context.log.warning(outside)
        pulled = {
            spec.name: context.instance.get_materialized_partitions(pull_key(spec.name))
            for spec in specs
        }
        months = new_months(landed, pulled)
        if not months:
            note = f"; {outside}" if outside else ""
            return SkipReason(f"{len(landed)} landed month(s), every one already pulled{note}")
        first, last = months[0], months[-1]
        return RunRequest(
            run_key=f"{first}..{last}",
            tags={RANGE_START: first, RANGE_END: last},
        )

    return [landing_sensor]
