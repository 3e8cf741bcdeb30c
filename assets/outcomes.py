"""One asset per dbt_like_sql model, in the DAG its refs make, each with its schema tests."""

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

from assets.concurrency import WAREHOUSE_WRITER
from assets.linkage import RAW_TABLES
from assets.resources import PlacelinkResource
from placelink.sqlmodels import SqlProject, run_model
from placelink.sqltests import run_schema_tests
from placelink.warehouse import make_engine


def outcome_key(model: str) -> AssetKey:
    return AssetKey(["outcomes", model])


def build_model_assets(project: SqlProject) -> list[AssetsDefinition]:
    return [_model_asset(project, name) for name in project.order()]


def _model_asset(project: SqlProject, name: str) -> AssetsDefinition:
    model = project.models[name]
    key = outcome_key(name)
    deps = [outcome_key(r) for r in model.refs] + ([RAW_TABLES] if model.sources else [])

    @asset(
        key=key,
        group_name="outcomes",
        op_tags=WAREHOUSE_WRITER,
        deps=deps,
        kinds={"sql", "duckdb"},
        owners=["team:analytics"],
        description=model.description or f"dbt_like_sql/models/{name}.sql",
        check_specs=[
            AssetCheckSpec(
                "schema_tests",
                asset=key,
                blocking=True,
                description="schema.yml tests (unique, not_null, accepted_values, relationships)",
            )
        ],
        metadata={"sql": MetadataValue.path(str(model.path))},
    )
    def _model(placelink: PlacelinkResource):
        engine = make_engine(placelink.settings())
        result = run_model(engine, project, name)
        tests = run_schema_tests(engine, project, name)
        engine.dispose()
        failed = [t for t in tests if not t.passed]
        return MaterializeResult(
            metadata={
                "dagster/row_count": MetadataValue.int(result.rows),
                "seconds": MetadataValue.float(round(result.seconds, 3)),
                "columns": MetadataValue.text(", ".join(result.columns)),
            },
            check_results=[
                AssetCheckResult(
                    check_name="schema_tests",
                    passed=not failed,
                    severity=AssetCheckSeverity.ERROR,
                    description="; ".join(f"{t.label}: {t.failures} rows" for t in failed)
                    or f"{len(tests)} tests passed",
                    metadata={"tests": MetadataValue.int(len(tests))},
                )
            ],
        )

    return _model
