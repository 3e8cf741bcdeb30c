"""Published tables: one asset per published model, plus linkage quality, each GX-checked.

The GX suite runs on the exact frame about to be written; a failure leaves the previous Parquet
in place and, being blocking, stops the report.
"""

from __future__ import annotations

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.linkage import RECORD_LINKS
from assets.outcomes import outcome_key
from assets.sources import OWNERS
from pipelines.resources import PlacelinkResource
from placelink.publish import PublishOutcome, publish_linkage_quality, publish_model
from placelink.sqlmodels import SqlProject
from placelink.warehouse import make_engine

LINKAGE_QUALITY = "linkage_quality"


def published_key(name: str) -> AssetKey:
    return AssetKey(["published", name])


def published_names(project: SqlProject) -> list[str]:
    return [n for n in project.order() if project.models[n].publish] + [LINKAGE_QUALITY]


def build_publish_assets(project: SqlProject) -> list[AssetsDefinition]:
    assets = [
        _published_asset(
            name,
            deps=[outcome_key(name)],
            description=project.models[name].description,
            publisher=lambda settings, name=name: _publish_model(settings, project, name),
        )
        for name in project.order()
        if project.models[name].publish
    ]
    assets.append(
        _published_asset(
            LINKAGE_QUALITY,
            deps=[RECORD_LINKS],
            description=(
                "Linkage quality by source and by source and subgroup: records, persons, "
                "records linked to another source, cluster sizes, and precision, recall and F1 "
                "where synthetic truth exists. Disclosure-controlled."
            ),
            publisher=lambda settings: publish_linkage_quality(settings, project),
        )
    )
    return assets


def _publish_model(settings, project: SqlProject, name: str) -> PublishOutcome:
    engine = make_engine(settings)
    try:
        return publish_model(engine, project, name, settings)
    finally:
        engine.dispose()


def _published_asset(name: str, deps, description: str, publisher) -> AssetsDefinition:
    key = published_key(name)

    @asset(
        key=key,
        group_name="published",
        deps=deps,
        kinds={"parquet"},
        owners=["team:analytics"],
        description=description,
        check_specs=[
            AssetCheckSpec(
                "gx_suite",
                asset=key,
                blocking=True,
                description=f"expectations/published/{name}.json on the table before it is written",
            )
        ],
    )
    def _published(placelink: PlacelinkResource):
        outcome = publisher(placelink.settings())
        metadata = {
            "dagster/row_count": MetadataValue.int(outcome.rows),
            "published": MetadataValue.bool(outcome.published),
            "folder": MetadataValue.text(outcome.kind),
            "path": MetadataValue.path(str(outcome.path)),
        }
        if outcome.sdc is not None:
            metadata["cells_suppressed"] = MetadataValue.int(outcome.sdc.cells_suppressed)
            metadata["cells_rounded"] = MetadataValue.int(outcome.sdc.cells_rounded)
        return MaterializeResult(
            metadata=metadata,
            check_results=[
                AssetCheckResult(
                    check_name="gx_suite",
                    passed=outcome.check.success,
                    severity=AssetCheckSeverity.ERROR,
                    description=outcome.check.describe_failures() or "every expectation met",
                    metadata={"expectations": MetadataValue.int(len(outcome.check.outcomes))},
                )
            ],
        )

    return _published
