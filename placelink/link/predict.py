"""Training, prediction and clustering with Splink over the encodings of every source.

Records are first reduced to distinct encoded identities ("profiles"): a person's repeated
events in one service usually carry the same identity, so Splink scores each distinct identity
once, and every record inherits its profile's cluster.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from splink import DuckDBAPI, Linker

from placelink.link.model import (
    DETERMINISTIC_RULES,
    PROFILE_COLUMNS,
    TRAINING_BLOCKS,
    UNIQUE_ID,
    splink_settings,
)

MATCH_THRESHOLD = 0.9


@dataclass(frozen=True)
class Clustering:
    """The records' clusters, and what a lead asks of a linkage run."""

    records: pd.DataFrame  # source, record_id, cluster_id
    profiles: int
    pairs_scored: int
    pairs_matched: int
    trained: bool
    threshold: float


def link_encoded(
    encoded_files: list[Path], model_path: Path, retrain: bool = True, seed: int = 42
) -> Clustering:
    """Link every encoded record across and within sources; save or reuse the model."""
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    files = ", ".join(f"'{p}'" for p in encoded_files)
    columns = ", ".join(f'"{c}"' for c in PROFILE_COLUMNS)
    identity = ", ".join(
        f"coalesce(array_to_string(\"{c}\", ','), '~')"
        if c == "family_part_tokens"
        else f"coalesce(cast(\"{c}\" as varchar), '~')"
        for c in PROFILE_COLUMNS
        if not c.endswith("_bloom")
    )
    con.execute(
        f"""
        create table records as
        select source, record_id, md5(concat_ws('|', {identity})) as identity_key, {columns}
        from read_parquet([{files}], union_by_name = true)
        """
    )
    profile_columns = ", ".join(
        f'any_value("{c}")::bit as "{c}"' if c.endswith("_bloom") else f'any_value("{c}") as "{c}"'
        for c in PROFILE_COLUMNS
    )
    con.execute(
        f"""
        create table profiles as
        select row_number() over (order by identity_key) as {UNIQUE_ID}, identity_key,
               {profile_columns}
        from records
        group by identity_key
        """
    )
    db_api = DuckDBAPI(con)
    profiles = db_api.register("profiles")
    trained = retrain or not model_path.exists()
    if trained:
        linker = Linker(profiles, splink_settings(), log_level=logging.WARNING)
        _train(linker, seed)
        model_path.parent.mkdir(parents=True, exist_ok=True)
        linker.misc.save_model_to_json(str(model_path), overwrite=True)
    else:
        linker = Linker(profiles, str(model_path), log_level=logging.WARNING)
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=MATCH_THRESHOLD
    )
    pairs = con.sql(
        f"select count(*), count(*) filter (where match_probability >= {MATCH_THRESHOLD}) "
        f"from {predictions.physical_name}"
    ).fetchall()[0]
    records = con.sql(
        f"""
        select r.source, r.record_id, c.cluster_id
        from records r
        join profiles p using (identity_key)
        join {clusters.physical_name} c on c.{UNIQUE_ID} = p.{UNIQUE_ID}
        """
    ).df()
    n_profiles = con.sql("select count(*) from profiles").fetchall()[0][0]
    con.close()
    return Clustering(records, n_profiles, pairs[0], pairs[1], trained, MATCH_THRESHOLD)


def _train(linker: Linker, seed: int) -> None:
    training = linker.training
    training.estimate_probability_two_random_records_match(list(DETERMINISTIC_RULES), recall=0.7)
    training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    for rule in TRAINING_BLOCKS:
        training.estimate_parameters_using_expectation_maximisation(
            rule, max_pairs=5e6, record_sample_proportion=1.0
        )
