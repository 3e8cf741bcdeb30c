"""Linkage and warehouse assets: Splink over every source's encodings, then the raw tables."""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.concurrency import WAREHOUSE_WRITER
from assets.metadata import counts_table, peak_rss_mib
from assets.resources import PlacelinkResource
from assets.sources import OWNERS, pseudonymise_key
from placelink.encode import load_release_key
from placelink.link import record_links_path, run_linkage
from placelink.link.evaluate import load_truth, write_evaluation
from placelink.link.predict import WEIGHT_BIN
from placelink.pseudonymise import content_path, encoded_path
from placelink.settings import Settings
from placelink.sources import SourceSpec
from placelink.warehouse import load_warehouse, make_engine

RECORD_LINKS = AssetKey(["linkage", "record_links"])
RAW_TABLES = AssetKey(["warehouse", "raw_tables"])
MIN_TRUE_PAIRS = 100  # a pair of sources with fewer true pairs is too small to judge alone


class LinkageConfig(Config):
    retrain: bool = True  # on a full link; an increment always predicts with the saved model
    # A monthly run links only its new records against the last link's persons once there
    # is one (placelink.link.incremental); full_relink links everything again and reconciles.
    full_relink: bool = False


def build_linkage_assets(specs: list[SourceSpec]) -> list[AssetsDefinition]:
    names = [s.name for s in specs]

    @asset(
        key=RECORD_LINKS,
        group_name="linkage",
        deps=[pseudonymise_key(n) for n in names],
        kinds={"splink", "duckdb"},
        owners=OWNERS,
        description=(
            "One row per valid record of every source with its person_id: Splink over the "
            "keyed encodings only (dedupe within and link across sources), clustered, with "
            "person_ids kept stable across runs (linkage/person_index.parquet, model.json)."
        ),
    )
    def record_links(
        context: AssetExecutionContext, config: LinkageConfig, placelink: PlacelinkResource
    ):
        settings = placelink.settings()
        result = run_linkage(
            settings,
            [encoded_path(settings, n) for n in names],
            context.run_id,
            config.retrain,
            full_relink=config.full_relink,
        )
        return MaterializeResult(
            metadata={
                "records": MetadataValue.int(result.records),
                "persons": MetadataValue.int(result.persons),
                "persons_in_two_or_more_sources": MetadataValue.int(result.multi_source_persons),
                "distinct_encoded_identities": MetadataValue.int(result.profiles),
                "pairs_scored": MetadataValue.int(result.pairs_scored),
                "pairs_matched": MetadataValue.int(result.pairs_matched),
                "match_threshold": MetadataValue.float(result.threshold),
                "peak_rss_mib": MetadataValue.int(peak_rss_mib()),
                "seconds_by_phase": MetadataValue.md(
                    "| phase | wall seconds |\n|---|---|\n"
                    + "\n".join(f"| {k} | {v:.1f} |" for k, v in result.phase_seconds.items())
                ),
                "duckdb_memory_limit": MetadataValue.text(settings.link_memory_limit),
                "identity_fields_compared": MetadataValue.text(
                    ", ".join(result.diagnostics.fields)
                ),
                "comparisons_per_blocking_rule": counts_table(
                    result.diagnostics.comparisons_per_rule, "blocking rule (Splink's count)"
                ),
                "pairs_per_blocking_rule": counts_table(
                    result.diagnostics.pairs_per_rule, "blocking rule"
                ),
                "training_blocks": MetadataValue.md(
                    "\n".join(f"- `{b}`" for b in result.diagnostics.training_blocks)
                    or "model reused: not trained this run"
                ),
                "comparisons_left_untrained": MetadataValue.text(
                    ", ".join(result.diagnostics.untrained) or "none"
                ),
                "match_weight_distribution": counts_table(
                    {
                        f"{w:+.0f} to {w + WEIGHT_BIN:+.0f}": n
                        for w, n in result.diagnostics.match_weight_histogram.items()
                    },
                    "match weight of scored pairs",
                ),  # fmt: skip
                "persons_by_cluster_size": counts_table(
                    {f"{k:>4} records": v for k, v in result.cluster_sizes.items()}, "cluster size"
                ),
                "share_linked_to_another_source": MetadataValue.md(
                    "| source | share of records |\n|---|---|\n"
                    + "\n".join(
                        f"| {k} | {v:.3f} |" for k, v in sorted(result.linked_other_source.items())
                    )
                ),
                "linkage_mode": MetadataValue.text(f"{result.mode} ({result.mode_reason})"),
                "new_records": MetadataValue.int(result.new_records),
                "model_trained_this_run": MetadataValue.bool(result.trained),
                "key_fingerprint": MetadataValue.text(result.key_fingerprint),
                "model": MetadataValue.path(str(result.model)),
            }
        )

    @asset(
        key=RAW_TABLES,
        op_tags=WAREHOUSE_WRITER,
        group_name="warehouse",
        deps=[RECORD_LINKS],
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        description=(
            "The warehouse's raw tables: raw_<source> (one row per record of content/, with its "
            "release person_id), raw_record_links, raw_linkage_quality, raw_population and "
            "raw_neighbourhoods. Reads no encoding and no linkage key."
        ),
        check_specs=[
            AssetCheckSpec(
                "linkage_quality",
                asset=RAW_TABLES,
                blocking=True,
                description=(
                    "Pairwise precision and recall against truth, where there is one, at least "
                    "PLACELINK_LINKAGE_MIN_PRECISION and PLACELINK_LINKAGE_MIN_RECALL, and F1 of "
                    "each pair of sources at least PLACELINK_LINKAGE_MIN_PAIR_F1: a failed "
                    "linkage stops the models and publishing"
                ),
            )
        ],
    )
    def raw_tables(placelink: PlacelinkResource):
        settings = placelink.settings()
        release_key = load_release_key(settings)
        truth = load_truth(settings)
        engine = make_engine(settings)
        results = load_warehouse(
            engine,
            settings,
            {n: content_path(settings, n) for n in names},
            record_links_path(settings),
            release_key,
            truth,
        )
        engine.dispose()
        return MaterializeResult(
            metadata={
                "tables": MetadataValue.md(
                    pd.DataFrame([r.__dict__ for r in results]).to_markdown(index=False)
                ),
                "rows": MetadataValue.int(sum(r.rows for r in results)),
            },
            check_results=[_linkage_quality_check(settings, truth)],
        )

    return [record_links, raw_tables]


def _linkage_quality_check(settings: Settings, truth: pd.DataFrame | None) -> AssetCheckResult:
    """Scores against truth where it exists (a generated town, a clerical sample); without it
    the check cannot judge, passes, and says so: the linkage diagnostics are what remains."""
    if truth is None:
        return AssetCheckResult(
            check_name="linkage_quality",
            passed=True,
            description="no truth to score against: read the linkage asset's diagnostics",
        )
    evaluation = write_evaluation(settings, truth)
    overall = evaluation["overall"]
    # A source whose identities went wrong hides in the overall figure when others are large:
    # each pair of sources with enough true pairs to judge is held to its own floor.
    judged = {
        pair: score
        for pair, score in evaluation["by_source_pair"].items()
        if score["true_pairs"] >= MIN_TRUE_PAIRS
    }
    worst_pair, worst = min(judged.items(), key=lambda kv: kv[1]["f1"])
    floors = {"precision": settings.linkage_min_precision, "recall": settings.linkage_min_recall}
    below = [f"{k} {overall[k]:.4f} < {v}" for k, v in floors.items() if overall[k] < v]
    below += [
        f"{pair} F1 {score['f1']:.4f} < {settings.linkage_min_pair_f1}"
        for pair, score in judged.items()
        if score["f1"] < settings.linkage_min_pair_f1
    ]
    return AssetCheckResult(
        check_name="linkage_quality",
        passed=not below,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(below) or f"F1 {overall['f1']:.4f} against truth",
        metadata={
            "precision": MetadataValue.float(round(overall["precision"], 5)),
            "recall": MetadataValue.float(round(overall["recall"], 5)),
            "f1": MetadataValue.float(round(overall["f1"], 5)),
            "worst_source_pair": MetadataValue.text(f"{worst_pair} F1 {worst['f1']:.4f}"),
            "min_precision": MetadataValue.float(settings.linkage_min_precision),
            "min_recall": MetadataValue.float(settings.linkage_min_recall),
            "min_source_pair_f1": MetadataValue.float(settings.linkage_min_pair_f1),
        },
    )
