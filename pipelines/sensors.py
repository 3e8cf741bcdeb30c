"""Sensors: a new month's landing files ask for that month's run."""

from dagster import RunRequest, SensorDefinition, SensorEvaluationContext, SkipReason, sensor

from assets.partitions import monthly_partitions
from pipelines.resources import PlacelinkResource
from placelink.connectors import landed_months
from placelink.sources import SourceSpec


def build_sensors(specs: list[SourceSpec]) -> list[SensorDefinition]:
    @sensor(job_name="monthly_job", minimum_interval_seconds=300, name="landing_sensor")
    def landing_sensor(context: SensorEvaluationContext, placelink: PlacelinkResource):
        """Request a month's run once every file-based source has landed that month."""
        keys = set(monthly_partitions.get_partition_keys())
        ready = [m for m in landed_months(specs, placelink.settings().home) if m in keys]
        if not ready:
            return SkipReason("no month has landed for every file-based source")
        return [RunRequest(run_key=month, partition_key=month) for month in ready]

    return [landing_sensor]
