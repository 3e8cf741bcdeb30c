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

from placelink.encode import file_key_fingerprint
from placelink.errors import ConfigError
from placelink.link.model import (
    BLOCKING_RULES,
    DETERMINISTIC_RULES,
    PROFILE_COLUMNS,
    SAME_YEAR,
    TRAINING_BLOCKS,
    TWO_OF_THREE_PARTS,
    UNIQUE_ID,
    splink_settings,
)

MATCH_THRESHOLD = 0.9
WEIGHT_BIN = 2.0  # match-weight bins of the diagnostics' histogram
NAME_COMPARISONS = ("given_name", "family_name")
U_PAIRS = 2_000_000  # random pairs for u
MIN_U_PAIRS = 1000  # fewer pairs of different people than this: NAME_U_FALLBACK
# u of each agreeing name level (all but else), measured among 46,958 pairs of different people
# sharing a date of birth in the demo town of 50,000 people (2026-12-01).
NAME_U_FALLBACK = {
    "given_name": (0.0094, 0.00004, 0.0011, 0.0003, 0.0011, 0.0025),
    "family_name": (0.019, 0.00004, 0.0005, 0.00045, 0.0011, 0.0049),
}


@dataclass(frozen=True)
class Diagnostics:
    pairs_per_rule: dict[str, int]  # pairs each blocking rule scored (first rule to find them)
    match_weight_histogram: dict[float, int]  # scored pairs by match weight, bins of WEIGHT_BIN


@dataclass(frozen=True)
class Clustering:
    """The records' clusters, and what a lead asks of a linkage run."""

    records: pd.DataFrame  # source, record_id, cluster_id
    profiles: int
    pairs_scored: int
    pairs_matched: int
    trained: bool
    threshold: float
    key_fingerprint: str
    diagnostics: Diagnostics


def link_encoded(
    encoded_files: list[Path],
    model_path: Path,
    retrain: bool = True,
    seed: int = 42,
    memory_limit: str = "3GB",
    spill_to: Path | None = None,
) -> Clustering:
    """Link every encoded record across and within sources; save or reuse the model.

    DuckDB holds to `memory_limit` and spills to `spill_to` beyond it, so a large town slows
    down rather than exhausting the machine.
    """
    fingerprint = key_of_files(encoded_files)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    if spill_to is not None:
        spill_to.mkdir(mode=0o700, parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = '{spill_to}'")
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
        linker = _train(profiles, con, seed)
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
    diagnostics = _diagnostics(con, predictions.physical_name)
    con.close()
    return Clustering(
        records, n_profiles, pairs[0], pairs[1], trained, MATCH_THRESHOLD, fingerprint, diagnostics
    )


def _diagnostics(con: duckdb.DuckDBPyConnection, predictions: str) -> Diagnostics:
    """What the model says of itself, truth or no truth: the pairs each blocking rule scored,
    and how the scored pairs' match weights fall (a well-separated model leaves few between)."""
    rules = dict(con.sql(f"select match_key, count(*) from {predictions} group by all").fetchall())
    weights = con.sql(
        f"select floor(match_weight / {WEIGHT_BIN}) * {WEIGHT_BIN} as low, count(*) "
        f"from {predictions} group by all order by low"
    ).fetchall()
    return Diagnostics(
        pairs_per_rule={rule: int(rules.get(str(i), 0)) for i, rule in enumerate(BLOCKING_RULES)},
        match_weight_histogram={float(low): int(n) for low, n in weights},
    )


def key_of_files(encoded_files: list[Path]) -> str:
    """The one key fingerprint every encoded file carries; a mix, or a file without, is refused.

    Tokens made under two keys never agree, so a source re-encoded under another key would
    link to nothing, silently: stop instead, naming the files and their fingerprints.
    """
    by_key: dict[str, list[str]] = {}
    for path in encoded_files:
        fingerprint = file_key_fingerprint(path) or "none"
        by_key.setdefault(fingerprint, []).append(Path(path).name)
    if len(by_key) != 1 or "none" in by_key:
        found = "; ".join(f"{fp}: {', '.join(names)}" for fp, names in sorted(by_key.items()))
        raise ConfigError(
            "encoded files were made under different keys (key fingerprint: files): "
            f"{found}; pseudonymise every source again under one key"
        )
    return next(iter(by_key))


def _train(profiles, con: duckdb.DuckDBPyConnection, seed: int) -> Linker:
    """Prior from near-certain rules, u by random sampling, u of the names from pairs known to
    be different people, then m by EM, each block training the comparisons it leaves free."""
    linker = Linker(profiles, splink_settings(), log_level=logging.WARNING)
    training = linker.training
    training.estimate_probability_two_random_records_match(list(DETERMINISTIC_RULES), recall=0.7)
    training.estimate_u_using_random_sampling(max_pairs=U_PAIRS, seed=seed)
    model = linker.misc.save_model_to_json()
    comparisons = {c["output_column_name"]: c for c in model["comparisons"]}
    for comparison in comparisons.values():
        for level in comparison["comparison_levels"]:
            # Not one random pair agreed (NI numbers, say): rarer than one in the sample, not
            # unknown, which Splink would otherwise replace by a default that makes it no
            # evidence at all.
            if not level.get("is_null_level") and level.get("u_probability") is None:
                level["u_probability"] = 1 / U_PAIRS
    for name in NAME_COMPARISONS:
        _set_u_from_distinct_people(con, comparisons[name])
    _set_u_of_name_and_dob_levels(comparisons)
    linker = Linker(profiles, model, log_level=logging.WARNING)
    for rule in TRAINING_BLOCKS:
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, max_pairs=5e6, record_sample_proportion=1.0
        )
    return linker


def _set_u_of_name_and_dob_levels(comparisons: dict[str, dict]) -> None:
    """u of the date-of-birth levels that require names: the date part's share among different
    people times the u of the exact names required (see TWO_OF_THREE_PARTS in the model)."""

    def level(comparison: str, label: str) -> dict:
        levels = comparisons[comparison]["comparison_levels"]
        return next(lvl for lvl in levels if lvl["label_for_charts"] == label)

    given = level("given_name", "exact")["u_probability"]
    family = level("family_name", "exact")["u_probability"]
    # Phonetic codes agree where the names do, or where only their phonetic level does.
    sounds = (given + level("given_name", "same phonetic code")["u_probability"]) * (
        family + level("family_name", "same phonetic code")["u_probability"]
    )
    swapped = level("date_of_birth", "day and month swapped")["u_probability"]
    for label, u in (
        ("day and month swapped, same name", swapped * given * family),
        ("same name, two of three parts", TWO_OF_THREE_PARTS * given * family),
        ("names sound the same, two of three parts", TWO_OF_THREE_PARTS * sounds),
        ("one name the same, two of three parts", TWO_OF_THREE_PARTS * (given + family)),
        ("same name and year", SAME_YEAR * given * family),
    ):
        level("date_of_birth", label)["u_probability"] = u


def _set_u_from_distinct_people(con: duckdb.DuckDBPyConnection, comparison: dict) -> None:
    """u of a name comparison's levels among pairs with the same date of birth but different
    NHS or NI numbers: different people, compared as the salted names can only be compared.

    Random sampling cannot give it: names are compared only where dates of birth agree, and
    a random pair that agrees on date of birth is mostly one person twice, so its u would be
    the m. Where too few such pairs exist (a small town), the shares measured on the demo town
    of 50,000 people stand in.
    """
    levels = [lvl for lvl in comparison["comparison_levels"] if not lvl.get("is_null_level")]
    cases = " ".join(
        f"when {lvl['sql_condition']} then {i}"
        for i, lvl in enumerate(levels)
        if lvl["sql_condition"] != "ELSE"
    )
    null = next(
        lvl["sql_condition"] for lvl in comparison["comparison_levels"] if lvl.get("is_null_level")
    )
    pairs = ", ".join(f'l."{c}" as "{c}_l", r."{c}" as "{c}_r"' for c in PROFILE_COLUMNS)
    counts = dict(
        con.sql(
            f"""
            with different_people as (
                select {pairs}
                from profiles l join profiles r
                  on l.dob_token = r.dob_token and l.{UNIQUE_ID} < r.{UNIQUE_ID}
                where coalesce(l.nhs_token <> r.nhs_token, false)
                   or coalesce(l.ni_token <> r.ni_token, false)
            )
            select case {cases} else {len(levels) - 1} end as level, count(*)
            from different_people
            where not ({null})
            group by all
            """
        ).fetchall()
    )
    total = sum(counts.values())
    if total >= MIN_U_PAIRS:
        # A level never seen among different people gets the share one pair would have.
        shares = [max(counts.get(i, 0), 1) / total for i in range(len(levels))]
    else:
        agreeing = NAME_U_FALLBACK[comparison["output_column_name"]]
        shares = [*agreeing, 1 - sum(agreeing)]
    for level, share in zip(levels, shares, strict=True):
        level["u_probability"] = share
