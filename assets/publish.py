"""Published tables: one asset per model marked `meta: {publish: …}`, each GX-checked.

The GX suite runs on the exact frame about to be written (after disclosure control, rounding and
typing); a failure leaves the previous Parquet in place and, being blocking, stops the report.
Each file's metadata names this run, the data period and the key's fingerprint.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.concurrency import WAREHOUSE_WRITER
from assets.outcomes import outcome_key
from assets.resources import PlacelinkResource
from placelink.expectations import published_suite, write_result
from placelink.publish import publish_model, run_metadata
from placelink.sqlmodels import SqlProject
from placelink.warehouse import make_engine


def published_key(name: str) -> AssetKey:
    return AssetKey(["published", name])


def published_names(project: SqlProject) -> list[str]:
    return [n for n in project.order() if project.models[n].publish]


def build_publish_assets(project: SqlProject) -> list[AssetsDefinition]:
    return [_published_asset(project, name) for name in published_names(project)]


def _published_asset(project: SqlProject, name: str) -> AssetsDefinition:
    key = published_key(name)
    model = project.models[name]

    @asset(
        key=key,
        group_name="published",
        op_tags=WAREHOUSE_WRITER,
        deps=[outcome_key(name)],
        kinds={"parquet"},
        owners=["team:analytics"],
        description=model.description,
        metadata={"folder": MetadataValue.text(f"published/{model.publish}/")},
        check_specs=[
            AssetCheckSpec(
                "gx_suite",
                asset=key,
                blocking=True,
                description=f"expectations/published/{name}.json on the table before it is written",
            )
        ],
    )
    def _published(context: AssetExecutionContext, placelink: PlacelinkResource):
        settings = placelink.settings()
        suite = published_suite(name, settings.reference)
        engine = make_engine(settings)
        try:
            result = publish_model(
                engine,
                project,
                name,
                settings.published,
                settings.sdc_threshold,
                settings.sdc_base,
                suite=suite.suite,
                extra_metadata=run_metadata(settings.content, context.run_id),
            )
        finally:
            engine.dispose()
        write_result(result.check, settings.reports / "validations" / "published" / f"{name}.json")
        metadata = {
            "dagster/row_count": MetadataValue.int(result.rows),
            "published": MetadataValue.bool(result.published),
            "path": MetadataValue.path(str(result.path)),
        }
        if suite.warning:
            context.log.warning(suite.warning)
            metadata["warnings"] = MetadataValue.text(suite.warning)
        if result.sdc is not None:
            metadata["cells_suppressed"] = MetadataValue.int(result.sdc.cells_suppressed)
            metadata["cells_rounded"] = MetadataValue.int(result.sdc.cells_rounded)
            metadata["cells_total"] = MetadataValue.int(result.sdc.cells_total)
        return MaterializeResult(
            metadata=metadata,
            check_results=[
                AssetCheckResult(
                    check_name="gx_suite",
                    passed=result.check.success,
                    severity=AssetCheckSeverity.ERROR,
                    description=result.check.describe_failures() or "every expectation met",
                    metadata={"expectations": MetadataValue.int(len(result.check.outcomes))},
                )
            ],
        )

    return _published
