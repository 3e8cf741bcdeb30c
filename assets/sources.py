"""The per-source assets, built by one factory from the sources file.

For each source: pull/<source> (monthly partitions; standardise, validate, quarantine, with the
source's GX suite as a blocking check) and pseudonymise/<source> (encodings for linkage).
"""

import warnings

import pyarrow.parquet as pq
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    BetaWarning,
    MaterializeResult,
    MetadataValue,
    MonthlyPartitionsDefinition,
    asset,
)

from assets.metadata import counts_table, frame_preview, table_schema
from assets.partitions import monthly_partitions
from assets.resources import PlacelinkResource
from placelink.encode import load_key
from placelink.expectations import (
    PACKAGED,
    SuiteResult,
    suite_choice,
    validate_source,
    write_result,
)
from placelink.pseudonymise import load_postcode_lookup, pseudonymise_source, pseudonymise_truth
from placelink.pull import CHUNK_ROWS, PullResult, pull_months, standardised_path
from placelink.reference import POSTCODES, reference_warnings
from placelink.sources import SourceSpec

OWNERS = ["team:data-engineering"]

# Single-run backfills (every month of a source in one run) are deliberate, beta or not.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)


def pull_key(source: str) -> AssetKey:
    return AssetKey(["pull", source])


def pseudonymise_key(source: str) -> AssetKey:
    return AssetKey(["pseudonymise", source])


def build_source_assets(
    spec: SourceSpec,
    partitions_def: MonthlyPartitionsDefinition = monthly_partitions,
    priority: int = 0,
) -> list[AssetsDefinition]:
    """pull/<source> (over the period's months) and pseudonymise/<source>, grouped under the
    source's name. The pseudonymise step of a higher `priority` starts first when steps wait
    for a process (the largest source, so the longest step does not start last)."""
    return [_pull_asset(spec, partitions_def), _pseudonymise_asset(spec, priority)]


def _pull_asset(spec: SourceSpec, partitions_def: MonthlyPartitionsDefinition) -> AssetsDefinition:
    key = pull_key(spec.name)

    @asset(
        key=key,
        group_name=spec.name,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"python", spec.connector.kind},
        owners=OWNERS,
        check_specs=[
            AssetCheckSpec(
                "gx_suite",
                asset=key,
                blocking=True,
                description=f"{_suite_description(spec)} on the standardised rows",
            )
        ],
        description=(
            f"{spec.description} One row per {spec.name} record and month: read, standardised "
            "and validated; rejected rows go to quarantine with reason codes "
            "(rows_in = valid + quarantined)."
        ),
    )
    def _pull(context: AssetExecutionContext, placelink: PlacelinkResource):
        settings = placelink.settings()
        results = pull_months(spec, list(context.partition_keys), settings)
        suite, outcomes = validate_source(
            spec,
            {r.month: standardised_path(settings, spec.name, r.month) for r in results},
            max_rows=CHUNK_ROWS,
        )
        failures = []
        for result in results:
            outcome = outcomes[result.month]
            write_result(
                outcome, settings.reports / "validations" / spec.name / f"{result.month}.json"
            )
            if not outcome.success:
                failures.append(f"{result.month}: {outcome.describe_failures()}")
            # Each month's materialisation carries that month's own figures, not the run's.
            context.add_asset_metadata(_month_metadata(result, outcome), partition_key=result.month)
        return MaterializeResult(
            metadata={"months_in_run": MetadataValue.int(len(results))},
            check_results=[
                AssetCheckResult(
                    check_name="gx_suite",
                    passed=not failures,
                    severity=AssetCheckSeverity.ERROR,
                    description="; ".join(failures) or "every expectation met",
                    metadata={
                        "suite": MetadataValue.text(suite.describe()),
                        "suite_origin": MetadataValue.text(suite.origin),
                        "months_checked": MetadataValue.int(len(outcomes)),
                        "months_failed": MetadataValue.int(len(failures)),
                    },
                )
            ],
        )

    return _pull


def _suite_description(spec: SourceSpec) -> str:
    origin, path = suite_choice(spec)
    if path is None:
        return "a default suite generated from its identity fields"
    return f"expectations/sources/{spec.name}.json" if origin == PACKAGED else str(path)


def _month_metadata(result: PullResult, outcome: SuiteResult) -> dict:
    """One month's reconciliation, quarantine reasons and suite result, for its partition."""
    return {
        "rows_in": MetadataValue.int(result.rows_in),
        "valid": MetadataValue.int(result.valid),
        "quarantined": MetadataValue.int(result.quarantined),
        "reconciles": MetadataValue.bool(result.reconciles),
        "quarantine_reasons": counts_table(result.reasons, "reason"),
        "nulled_field_warnings": counts_table(result.warnings, "reason"),
        "gx_suite_passed": MetadataValue.bool(outcome.success),
        "gx_suite_failures": MetadataValue.text(outcome.describe_failures() or "none"),
    }


def _pseudonymise_asset(spec: SourceSpec, priority: int) -> AssetsDefinition:
    @asset(
        key=pseudonymise_key(spec.name),
        group_name=spec.name,
        op_tags={"dagster/priority": str(priority)},
        deps=[pull_key(spec.name)],
        kinds={"python", "parquet"},
        owners=OWNERS,
        description=(
            f"One row per valid {spec.name} record, split in two by the separation principle: "
            "linkage/encoded (record pseudonym and keyed encodings, for the linkage unit) and "
            "content/ (record pseudonym, age at the event, sex, geography and event fields, for "
            "analytics). The edge past which no plaintext identifier travels."
        ),
    )
    def _pseudonymise(context: AssetExecutionContext, placelink: PlacelinkResource):
        settings = placelink.settings()
        key = load_key(settings)
        result = pseudonymise_source(spec, settings, key, load_postcode_lookup(settings))
        pseudonymise_truth(spec, settings, key, result.pseudonyms)
        content = pq.ParquetFile(result.content_path)
        geography = [w for w in reference_warnings(settings) if POSTCODES in w]
        for warning in geography:
            context.log.warning(warning)
        head = content.read_row_group(0).slice(0, 5) if content.num_row_groups else None
        return MaterializeResult(
            metadata={
                "records": MetadataValue.int(result.records),
                "months": MetadataValue.int(result.months),
                "key_fingerprint": MetadataValue.text(key.fingerprint),
                "encoded": MetadataValue.path(str(result.path)),
                "content": MetadataValue.path(str(result.content_path)),
                "encoded_columns": MetadataValue.text(", ".join(result.columns)),
                "dagster/column_schema": table_schema(content.schema_arrow),
                "preview": frame_preview(
                    head.to_pandas() if head is not None else content.schema_arrow.empty_table()
                ),
                **({"warnings": MetadataValue.text("; ".join(geography))} if geography else {}),
            }
        )

    return _pseudonymise
