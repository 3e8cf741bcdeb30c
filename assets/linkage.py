"""Linkage and warehouse assets: Splink over every source's encodings, then the raw tables."""

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.sources import OWNERS, pseudonymise_key
from pipelines.resources import PlacelinkResource
from placelink.encode import load_release_key
from placelink.link import record_links_path, run_linkage
from placelink.pseudonymise import content_path, encoded_path, truth_path
from placelink.sources import SourceSpec
from placelink.warehouse import load_warehouse, make_engine

RECORD_LINKS = AssetKey(["linkage", "record_links"])
RAW_TABLES = AssetKey(["warehouse", "raw_tables"])


class LinkageConfig(Config):
    retrain: bool = True


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
            settings, [encoded_path(settings, n) for n in names], context.run_id, config.retrain
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
                "model_trained_this_run": MetadataValue.bool(result.trained),
                "key_fingerprint": MetadataValue.text(result.key_fingerprint),
                "model": MetadataValue.path(str(result.model)),
            }
        )

    @asset(
        key=RAW_TABLES,
        group_name="warehouse",
        deps=[RECORD_LINKS],
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        description=(
            "The warehouse's raw tables: raw_<source> (one row per record of content/, with its "
            "release person_id), raw_record_links, raw_linkage_quality, raw_population and "
            "raw_neighbourhoods. Reads no encoding and no linkage key."
        ),
    )
    def raw_tables(placelink: PlacelinkResource):
        settings = placelink.settings()
        release_key = load_release_key(settings)
        truths = [truth_path(settings, n) for n in names]
        engine = make_engine(settings)
        results = load_warehouse(
            engine,
            settings,
            {n: content_path(settings, n) for n in names},
            record_links_path(settings),
            release_key,
            [t for t in truths if t.exists()],
        )
        engine.dispose()
        return MaterializeResult(
            metadata={
                "tables": MetadataValue.md(
                    pd.DataFrame([r.__dict__ for r in results]).to_markdown(index=False)
                ),
                "rows": MetadataValue.int(sum(r.rows for r in results)),
            }
        )

    return [record_links, raw_tables]
