"""The governance report: one page a lead can sign off, rebuilt after every publish."""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.resources import PlacelinkResource
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
            "linkage quality, disclosure control and the key's fingerprint, for sign-off; with "
            "reports/data_docs/, one page per kept GX validation result, linked from it."
        ),
    )
    def quality_report(context: AssetExecutionContext, placelink: PlacelinkResource):
        report = build_report(placelink.settings(), run_id=context.run_id)
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(report.path)),
                "sources": MetadataValue.int(report.sources),
                "published_tables": MetadataValue.int(report.tables),
                "checks_failed": MetadataValue.int(report.checks_failed),
                "data_docs": MetadataValue.int(report.data_docs),
            }
        )

    return quality_report
