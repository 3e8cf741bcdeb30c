"""The governance report: one page a lead can sign off, rebuilt after every publish."""

from __future__ import annotations

from dagster import AssetKey, AssetsDefinition, MaterializeResult, MetadataValue, asset

from pipelines.resources import PlacelinkResource
from placelink.report import build_report

REPORT = AssetKey(["report", "quality_report"])


def build_report_asset(published: list[AssetKey]) -> AssetsDefinition:
    @asset(
        key=REPORT,
        group_name="report",
        deps=published,
        kinds={"html"},
        owners=["team:governance"],
        description=(
            "reports/quality/index.html: reconciliation and quarantine per source, GX results, "
            "linkage quality, disclosure control and the key's fingerprint, for sign-off."
        ),
    )
    def quality_report(placelink: PlacelinkResource):
        report = build_report(placelink.settings())
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(report.path)),
                "sources": MetadataValue.int(report.sources),
                "published_tables": MetadataValue.int(report.tables),
                "checks_failed": MetadataValue.int(report.checks_failed),
            }
        )

    return quality_report
