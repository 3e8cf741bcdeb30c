"""Jobs: the whole chain for a month, and pulls alone for backfills."""

from __future__ import annotations

from dagster import AssetSelection, MonthlyPartitionsDefinition, define_asset_job
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from assets.partitions import monthly_partitions


def build_jobs(
    partitions_def: MonthlyPartitionsDefinition = monthly_partitions,
) -> list[UnresolvedAssetJobDefinition]:
    return [
        define_asset_job(
            "monthly_job",
            selection=AssetSelection.all(),
            partitions_def=partitions_def,
            description="A month's extracts through the whole chain, to the report.",
        ),
        define_asset_job(
            "pull_job",
            selection=AssetSelection.key_prefixes("pull"),
            partitions_def=partitions_def,
            description="Pull and validate extracts only: for backfilling months.",
        ),
    ]
