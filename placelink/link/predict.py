"""Training, prediction and clustering with Splink over the encodings of every source.

Records are first reduced to distinct encoded identities ("profiles"): a person's repeated
events in one service usually carry the same identity, so Splink scores each distinct identity
once, and every record inherits its profile's cluster.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from splink import Linker
from splink.blocking_analysis import count_comparisons_from_blocking_rules

from placelink.encode import (
    IDENTITY_KEY,
    IDENTITY_KEY_SQL,
    LIST_COLUMNS,
    file_key_fingerprint,
    file_token_scheme,
)
from placelink.errors import ConfigError
from placelink.link.backends import open_backend
from placelink.link.connection import link_connection
from placelink.link.model import (
    BLOCKING_RULES,
    BLOOM_COLUMNS,
    DOB_BLOCK,
    DOB_M_FALLBACK,
    FALLBACK_TRAINING_BLOCKS,
    FIELD_COLUMNS,
    PROFILE_COLUMNS,
    SAME_YEAR,
    SPLINK_COLUMNS,
    TRAINING_BLOCKS,
    TWO_OF_THREE_PARTS,
    UNIQUE_ID,
    Rule,
    bloom_bits,
    bloom_words,
    columns_read,
    level_sql,
    narrowed,
    prior_rules,
    splink_settings,
    usable,
)
from placelink.link.phases import timed

PREDICT_THRESHOLD = 0.5  # pairs scored below this are not kept
COUNT_SAMPLE_PROFILES = 200_000  # profiles a side when counting each rule's comparisons
# Up to this many profiles, training counts a block's pairs exactly (to skip an empty block,
# and for EM's sampling); beyond, from this many a side: a city trains in a town's time.
EXACT_TRAINING_COUNT_PROFILES = 400_000
WEIGHT_BIN = 2.0  # match-weight bins of the diagnostics' histogram
# Comparisons whose u comes from pairs of different people sharing a token (see
# _set_u_from_distinct_people): the names within a date of birth, the names at a postcode.
U_FROM_DISTINCT_PEOPLE = {
    "given_name": "dob_token",
    "family_name": "dob_token",
    "names_at_postcode": "postcode_token",
}
U_PAIRS = 2_000_000  # random pairs for u
MIN_U_PAIRS = 1000  # fewer pairs of different people than this: NAME_U_FALLBACK
# u of each agreeing name level, measured among pairs of different people sharing a date of
# birth in the demo town of 50,000 people (2026-12-02, with the one-edit level), and among pairs
# of different people at one postcode with different dates of birth; else takes the rest.
NAME_U_FALLBACK = {
    "names_at_postcode": {"both names": 0.0002, "family name": 0.0237, "given name": 0.0086},
    "given_name": {
        "exact": 0.0094,
        "given and family swapped": 0.00004,
        "swapped, one name varied": 0.00002,
        "same canonical name": 0.0011,
        "Dice >= 0.8": 0.0003,
        "one edit apart": 0.0008,
        "same phonetic code": 0.00095,
        "Dice >= 0.6": 0.0004,
    },
    "family_name": {
        "exact": 0.019,
        "Dice >= 0.8": 0.0006,
        "one edit apart": 0.0018,
        "a shared part": 0.0004,
        "same phonetic code": 0.0005,
        "Dice >= 0.5": 0.0038,
    },
}


@dataclass(frozen=True)
class Diagnostics:
    fields: tuple[str, ...]  # identity fields the records fill, which the model compares
    rules: tuple[str, ...]  # the blocking rules predicted with, each bounded (bound_rules)
    comparisons_per_rule: dict[str, int]  # Splink's count before predicting (new pairs per rule)
    pairs_per_rule: dict[str, int]  # pairs each blocking rule scored (first rule to find them)
    match_weight_histogram: dict[float, int]  # scored pairs by match weight, bins of WEIGHT_BIN
    training_blocks: tuple[str, ...]  # the EM blocks chosen from the fields present
    untrained: tuple[str, ...]  # comparisons no block could train: their m is DOB_M_FALLBACK


@dataclass(frozen=True)
class Clustering:
    """The records' clusters, and what a lead asks of a linkage run."""

    records: pa.Table | None  # source, record_id, cluster_id (None: an increment's)
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
    memory_limit: str = "2GB",
    spill_to: Path | None = None,
    backend: str = "duckdb",
    spark_master: str = "local[2]",
    profiles_out: Path | None = None,
    phases: dict[str, float] | None = None,
    max_rule_pairs: int = 5_000_000,
) -> Clustering:
    """Link every encoded record across and within sources; save or reuse the model.

    DuckDB holds to `memory_limit` and spills to `spill_to` beyond it, so a large town slows
    down rather than exhausting the machine. Splink runs on `backend` (placelink.link.backends):
    DuckDB, or Spark at `spark_master` with the same memory for its driver; profiles, the
    names' u and the threshold are DuckDB's either way. With `profiles_out`, every profile's
    encodings and cluster_id are written there too: the state a monthly increment links
    against (placelink.link.incremental). Each phase's wall seconds are added to `phases`. A
    blocking rule that would add more than `max_rule_pairs` pairs is narrowed (bound_rules).
    """
    fingerprint = key_of_files(encoded_files)
    con = link_connection(memory_limit, spill_to)
    files = ", ".join(f"'{p}'" for p in encoded_files)
    encoded = (
        f"read_parquet([{files}], union_by_name = true, filename = true, file_row_number = true)"
    )
    # Records keep their identity_key and where they lie; each profile is then one record's
    # encodings, read again by position: no city-sized aggregate of wide rows.
    with timed(phases, "read records"):
        con.execute(
            f"create table records as select source, record_id, "
            f"{identity_key_of(encoded_files)} as identity_key, filename, file_row_number "
            f"from {encoded}"
        )
    encodings = profile_encodings(lambda column: f'e."{column}"')
    with timed(phases, "profiles"):
        con.execute(
            f"""
            create temp table representatives as
            select row_number() over (order by identity_key) as {UNIQUE_ID}, identity_key,
                   count(*) as records, min((filename, file_row_number)) as first_record
            from records group by identity_key
            """
        )
        con.execute(
            f"""
            create table profiles as
            select r.{UNIQUE_ID}, r.identity_key, {encodings},
                   {token_number('e."dob_token"', False)} as {DOB_BLOCK}, r.records
            from {encoded} e
            join representatives r
              on e.filename = r.first_record[1] and e.file_row_number = r.first_record[2]
            """
        )
        con.execute("drop table representatives")
        con.execute("alter table records drop column filename")
        con.execute("alter table records drop column file_row_number")
    fields = present_fields(con)
    with ExitStack() as stack:
        stack.callback(con.close)
        spark_dir = (spill_to or model_path.parent / "spill") / "spark"
        splink_on = open_backend(backend, con, memory_limit, spark_dir, spark_master)
        stack.callback(splink_on.close)
        return _link_profiles(
            con, splink_on, fields, model_path, retrain, seed, fingerprint, profiles_out, phases,
            max_rule_pairs,
        )  # fmt: skip


def profile_encodings(value: Callable[[str], str]) -> str:
    """DuckDB SQL for a profile's encodings (SPLINK_COLUMNS), each from `value(column)`: a
    token as a number (token_number), a Bloom filter as its words and bit count."""
    return ", ".join(
        bloom_word_columns(value(c), c)
        if c in BLOOM_COLUMNS
        else f'{token_number(value(c), c in LIST_COLUMNS)} as "{c}"'
        for c in PROFILE_COLUMNS
    )


def token_number(expression: str, is_list: bool) -> str:
    """DuckDB SQL for a token (16 hex digits of a keyed hash), or a list of them, as the BIGINT
    of its first 15 digits. Splink joins and compares every pair's tokens: a number is half
    the bytes of the text, and 60 bits of a keyed hash stay as distinct as the
    tokens among a region's profiles (two agree by chance about once in 10^18 pairs)."""
    number = "('0x' || left({}, 15))::bigint"
    if is_list:
        return f"list_transform({expression}, lambda t: {number.format('t')})"
    return number.format(expression)


def bloom_word_columns(expression: str, column: str) -> str:
    """DuckDB SQL for a Bloom filter (64 bytes, `expression`) as Splink reads it: its BIGINT
    words, big-endian (placelink.link.model.bloom_words), and its count of set bits."""
    words = ", ".join(
        f'({expression})[{8 * i + 1}:{8 * i + 8}]::bit::bigint as "{word}"'
        for i, word in enumerate(bloom_words(column))
    )
    return f'{words}, bit_count(({expression})::bit)::integer as "{bloom_bits(column)}"'


def _link_profiles(
    con: duckdb.DuckDBPyConnection,
    splink_on,
    fields: frozenset[str],
    model_path: Path,
    retrain: bool,
    seed: int,
    fingerprint: str,
    profiles_out: Path | None,
    phases: dict[str, float] | None,
    max_rule_pairs: int,
) -> Clustering:
    """Train or load the model, predict, choose the threshold and cluster: Splink on the
    backend, everything else on `con`, which holds `profiles` and `records`."""
    profiles = splink_on.profiles(con)
    trained = retrain or not model_path.exists()
    blocks: list[Rule] = []
    untrained: list[str] = []
    if trained:
        with timed(phases, "train"):
            linker, blocks, untrained = _train(profiles, con, fields, seed)
        model_path.parent.mkdir(parents=True, exist_ok=True)
        linker.misc.save_model_to_json(str(model_path), overwrite=True)
    else:
        linker = Linker(profiles, str(model_path), log_level=logging.WARNING)
    n_profiles = con.sql("select count(*) from profiles").fetchall()[0][0]
    model = json.loads(model_path.read_text())
    rules = [rule["blocking_rule"] for rule in model["blocking_rules_to_generate_predictions"]]
    with timed(phases, "count comparisons"):
        counts = count_comparisons(profiles, rules, n_profiles)
        bounded = bound_rules(rules, counts, fields, max_rule_pairs)
        if bounded != rules:
            linker = Linker(profiles, with_rules(model, bounded), log_level=logging.WARNING)
            rules, counts = bounded, count_comparisons(profiles, bounded, n_profiles)
    with timed(phases, "predict"):
        predicted = linker.inference.predict(threshold_match_probability=PREDICT_THRESHOLD)
        predictions = splink_on.local(
            con,
            predicted,
            [f"{UNIQUE_ID}_l", f"{UNIQUE_ID}_r", "match_probability", "match_weight", "match_key"],
        )
    with timed(phases, "threshold"):
        threshold = expected_f1_threshold(con, predictions)
    with timed(phases, "cluster"):
        clusters = splink_on.local(
            con,
            linker.clustering.cluster_pairwise_predictions_at_threshold(
                predicted, threshold_match_probability=threshold
            ),
            [UNIQUE_ID, "cluster_id"],
        )
    pairs = con.sql(
        f"select count(*), count(*) filter (where match_probability >= {threshold}) "
        f"from {predictions}"
    ).fetchall()[0]
    with timed(phases, "records to clusters"):
        records = con.sql(
            f"""
            select r.source, r.record_id, c.cluster_id
            from records r
            join profiles p using (identity_key)
            join {clusters} c on c.{UNIQUE_ID} = p.{UNIQUE_ID}
            """
        ).to_arrow_table()
    scored = dict(con.sql(f"select match_key, count(*) from {predictions} group by all").fetchall())
    weights = con.sql(
        f"select floor(match_weight / {WEIGHT_BIN}) * {WEIGHT_BIN} as low, count(*) "
        f"from {predictions} group by all order by low"
    ).fetchall()
    if profiles_out is not None:
        clustered = f"(select {UNIQUE_ID}, cluster_id from {clusters})"
        with timed(phases, "write profiles"):
            write_profiles(con, f"profiles join {clustered} using ({UNIQUE_ID})", profiles_out)
    # What the model says of itself, truth or no truth: the pairs each rule would and did
    # score, and how the match weights fall (a well-separated model leaves few between).
    diagnostics = Diagnostics(
        fields=tuple(sorted(fields)),
        rules=tuple(rules),
        comparisons_per_rule=dict(zip(rules, counts, strict=True)),
        pairs_per_rule={rule: int(scored.get(str(i), 0)) for i, rule in enumerate(rules)},
        match_weight_histogram={float(low): int(n) for low, n in weights},
        training_blocks=tuple(block.sql for block in blocks),
        untrained=tuple(untrained),
    )
    return Clustering(
        records, n_profiles, pairs[0], pairs[1], trained, threshold, fingerprint, diagnostics
    )


def count_comparisons(profiles, rules: list[str], n_profiles: int) -> list[int]:
    """Splink's count of the new pairs each rule adds to those before it, from a sample of at
    most COUNT_SAMPLE_PROFILES profiles a side."""
    with warnings.catch_warnings():
        # Below 1,000 sampled pairs Splink warns the estimate is rough: it is only a count.
        warnings.simplefilter("ignore", UserWarning)
        counts = count_comparisons_from_blocking_rules(
            profiles,
            blocking_rules=rules,
            link_type="dedupe_only",
            unique_id_column_name=UNIQUE_ID,
            record_sample_proportion=min(1.0, COUNT_SAMPLE_PROFILES / max(n_profiles, 1)),
        )
    return [int(count["marginal_comparison_count"]) for count in counts]


def bound_rules(
    rules: list[str], counts: list[int], fields: frozenset[str], max_pairs: int
) -> list[str]:
    """The rules, each that would add more than `max_pairs` pairs narrowed to one postcode
    district (placelink.link.model.narrowed), where it can be."""
    return [
        (narrowed(rule, fields) or rule) if count > max_pairs else rule
        for rule, count in zip(rules, counts, strict=True)
    ]


def with_rules(model: dict, rules: list[str] | tuple[str, ...]) -> dict:
    """The saved model (Splink's settings) predicting with `rules` instead of its own."""
    dialect = model["blocking_rules_to_generate_predictions"][0]["sql_dialect"]
    blocking = [{"blocking_rule": rule, "sql_dialect": dialect} for rule in rules]
    return {**model, "blocking_rules_to_generate_predictions": blocking}


def write_profiles(con: duckdb.DuckDBPyConnection, source: str, path: Path) -> None:
    """Write profile_id, identity_key, cluster_id and the encodings of `source` (a table or a
    join holding them) to Parquet, as Splink reads them: an increment reads them back as they
    are."""
    encodings = ", ".join(f'"{c}"' for c in SPLINK_COLUMNS)
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"copy (select {UNIQUE_ID}, identity_key, cluster_id, {encodings} from {source}) "
        f"to '{path}' (format parquet)"
    )


def expected_f1_threshold(con: duckdb.DuckDBPyConnection, predictions: str) -> float:
    """The match probability whose clusters have the highest expected pairwise F1.

    A pair scored p is one person with probability p. Clustering at threshold t joins every
    pair at or above t and then, transitively, whole chains of them; each pair of records a
    cluster implies is expected true with its score's probability, or not at all where the
    model never scored it at PREDICT_THRESHOLD or above. So for each candidate t the expected
    true links are the sum of p over the scored pairs inside clusters, the false ones the rest
    of the implied pairs, and the missed ones the sum of p outside; records of one profile
    are one person. No truth is needed, and the threshold moves with the model: a chain of
    middling scores joining two families costs more than it adds, where a source whose
    identifiers are thin gains from its middling scores.
    """
    n = con.sql("select max(profile_id) from profiles").fetchall()[0][0] or 0
    records = np.zeros(n + 1)
    ids, counts = con.sql(f"select {UNIQUE_ID}, records from profiles").fetchnumpy().values()
    records[ids] = counts
    scored = con.sql(
        f"select {UNIQUE_ID}_l, {UNIQUE_ID}_r, match_probability from {predictions}"
    ).fetchnumpy()
    left, right, p = (scored[k] for k in scored)
    if not len(p):
        return PREDICT_THRESHOLD
    same_profile = float((records * (records - 1) / 2).sum())
    # Thresholds fall one by one, so the pairs joined grow by a block of falling scores and
    # clusters only merge: each step merges the clusters its block joins (connected
    # components over those clusters alone), and a pair counts as true from the step its
    # two profiles first share a cluster. One sweep, however many candidates.
    present = np.zeros(n + 1, dtype=bool)
    present[left] = present[right] = True
    number = np.cumsum(present) - 1  # the profiles in some pair, numbered 0..
    order = np.argsort(-p, kind="stable")
    left, right, p = number[left[order]], number[right[order]], p[order]
    size = records[present]  # records of each cluster, by its smallest profile
    weighted = p * size[left] * size[right]
    expected_true = same_profile + float(weighted.sum())
    implied = true = same_profile
    cluster = np.arange(len(size))
    apart = np.ones(len(p), dtype=bool)  # pairs whose profiles are not yet in one cluster
    incident = _Incident(left, right)
    joined = 0
    best, best_f1 = PREDICT_THRESHOLD, -1.0
    for t in _candidate_thresholds(p)[::-1]:
        stop = int(np.searchsorted(-p, -t, side="right"))
        a, b = cluster[left[joined:stop]], cluster[right[joined:stop]]
        joined = stop
        merging = a != b
        if merging.any():  # else every pair of the block was inside a cluster already
            more, moved = _merge(cluster, size, a[merging], b[merging])
            implied += more
            # A pair comes inside a cluster when one of its profiles moves to the other's.
            pairs = incident.of(moved)
            pairs = pairs[apart[pairs]]
            pairs = np.unique(pairs[cluster[left[pairs]] == cluster[right[pairs]]])
            true += float(weighted[pairs].sum())
            apart[pairs] = False
        f1 = 2 * true / (implied + expected_true)
        if f1 >= best_f1:  # the lowest threshold of equal F1
            best, best_f1 = float(t), f1
    return best


class _Incident:
    """The pairs each profile is in, as one sorted index (CSR), for `of` many at once."""

    def __init__(self, left: np.ndarray, right: np.ndarray) -> None:
        ends = np.concatenate([left, right])
        self._pairs = np.argsort(ends, kind="stable") % len(left)
        self._starts = np.concatenate([[0], np.cumsum(np.bincount(ends))])

    def of(self, profiles: np.ndarray) -> np.ndarray:
        """The pairs any of `profiles` is in (a pair of two of them, twice)."""
        first, counts = self._starts[profiles], np.diff(self._starts)[profiles]
        at = np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        return self._pairs[at]


def _merge(
    cluster: np.ndarray, size: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[float, np.ndarray]:
    """Join clusters a[i] and b[i] (and so, transitively, chains of them) in place: every
    profile's cluster becomes its merged cluster's smallest, whose size becomes the sum.
    Returns how many more record pairs the clusters now imply, and the profiles moved."""
    clusters, local = np.unique(np.concatenate([a, b]), return_inverse=True)
    pairs = coo_matrix(
        (np.ones(len(a)), (local[: len(a)], local[len(a) :])), (len(clusters), len(clusters))
    )
    _, group = connected_components(pairs, directed=False)
    merged = np.full(group.max() + 1, len(cluster))
    np.minimum.at(merged, group, clusters)  # clusters come sorted: the group's smallest
    sizes = size[clusters]
    totals = np.bincount(group, weights=sizes)
    size[merged] = totals
    moves = np.arange(len(cluster))
    moves[clusters] = merged[group]
    now = moves[cluster]
    moved = np.flatnonzero(now != cluster)
    cluster[:] = now
    return float(((totals**2).sum() - (sizes**2).sum()) / 2), moved


def _candidate_thresholds(p: np.ndarray) -> np.ndarray:
    """Thresholds a quarter of a bit of match weight apart over the scores' range."""
    weight = np.log2(p / np.maximum(1 - p, 1e-300))
    steps = np.arange(np.floor(weight.min() * 4), np.ceil(min(weight.max(), 60) * 4) + 1) / 4
    return 2.0**steps / (1 + 2.0**steps)


def present_fields(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The identity fields some profile fills: the model compares and blocks on these alone.

    A field no source declares, or one every source leaves empty, pairs nothing; a comparison
    on it would only be left untrained, and a training block on it would find no pairs.
    """
    filled = ", ".join(f"count({column}) > 0" for column in FIELD_COLUMNS.values())
    present = con.sql(f"select {filled} from profiles").fetchall()[0]
    fields = frozenset(f for f, has in zip(FIELD_COLUMNS, present, strict=True) if has)
    if not usable(BLOCKING_RULES, fields):
        raise ConfigError(
            f"the records fill only {sorted(fields) or 'no identity field'}: linkage needs an "
            "NHS or NI number, or a date of birth (with names or a postcode beside it)"
        )
    return fields


def identity_key_of(encoded_files: list[Path]) -> str:
    """The SQL of a record's identity key: the column the pseudonymise step writes, or, where
    some file lacks it (written before it did), the key computed from the encodings."""
    if all(IDENTITY_KEY in pq.read_schema(f).names for f in encoded_files):
        return IDENTITY_KEY
    return IDENTITY_KEY_SQL


def key_of_files(encoded_files: list[Path]) -> str:
    """The one key fingerprint every encoded file carries; a mix, or a file without, is refused,
    and so is a mix of token schemes (placelink.encode.TOKENS).

    Tokens made under two keys, or by two schemes, never agree, so a source re-encoded under
    another key or by another placelink would link to nothing, silently: stop instead, naming
    the files and what they carry.
    """
    by_key = _files_by(encoded_files, file_key_fingerprint)
    if len(by_key) != 1 or None in by_key:
        raise ConfigError(
            "encoded files were made under different keys (key fingerprint: files): "
            f"{_listed(by_key, 'none')}; pseudonymise every source again under one key"
        )
    by_scheme = _files_by(encoded_files, file_token_scheme)
    if len(by_scheme) != 1:
        raise ConfigError(
            "encoded files hold tokens of different placelink versions (token scheme: files): "
            f"{_listed(by_scheme, 'older')}; pseudonymise every source again"
        )
    return next(iter(by_key))


def _files_by(files: list[Path], read: Callable[[Path], str | None]) -> dict[str | None, list[str]]:
    by: dict[str | None, list[str]] = {}
    for path in files:
        by.setdefault(read(path), []).append(Path(path).name)
    return by


def _listed(by: dict[str | None, list[str]], unmarked: str) -> str:
    return "; ".join(sorted(f"{k or unmarked}: {', '.join(names)}" for k, names in by.items()))


def _train(
    profiles, con: duckdb.DuckDBPyConnection, fields: frozenset[str], seed: int
) -> tuple[Linker, list[Rule], list[str]]:
    """Prior from near-certain rules, u by random sampling, u of the names from pairs known to
    be different people, then m by EM, each block training the comparisons it leaves free.

    Returns the trained linker, the EM blocks chosen (training_blocks) and the comparisons no
    block could train, whose m stays at DOB_M_FALLBACK.
    """
    settings = splink_settings(fields)
    n_profiles = con.sql("select count(*) from profiles").fetchall()[0][0]
    counted = min(1.0, EXACT_TRAINING_COUNT_PROFILES / max(n_profiles, 1))
    blocks, untrained = training_blocks(profiles, fields, counted)
    linker = Linker(profiles, settings, log_level=logging.WARNING)
    training = linker.training
    training.estimate_probability_two_random_records_match(
        [rule.sql for rule in prior_rules(fields)], recall=0.7
    )
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
    duckdb_sql = level_sql(fields)
    for name, shared in U_FROM_DISTINCT_PEOPLE.items():
        if name in comparisons:
            _set_u_from_distinct_people(con, comparisons[name], shared, duckdb_sql[name])
    _set_u_of_name_and_dob_levels(comparisons)
    _set_u_of_both_names_at_postcode(comparisons)
    _set_u_of_sex(comparisons)
    for name in untrained:
        _set_fallback_m(comparisons[name])
    linker = Linker(profiles, model, log_level=logging.WARNING)
    for block in blocks:
        with _quiet_splink(block.fixes):
            linker.training.estimate_parameters_using_expectation_maximisation(
                block.sql, max_pairs=5e6, record_sample_proportion=counted
            )
        if block.fixes:
            # Splink also trained the fixed comparisons, on pairs where they never vary (and
            # said so, level by level): their m goes back to what it was.
            linker = Linker(
                profiles, _restore_m(linker, model, block.fixes), log_level=logging.WARNING
            )
        model = linker.misc.save_model_to_json()
    return linker, blocks, untrained


@contextmanager
def _quiet_splink(quiet: bool) -> Iterator[None]:
    """Splink's log held to errors while `quiet`."""
    splink_log = logging.getLogger("splink")
    level = splink_log.level
    if quiet:
        splink_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        splink_log.setLevel(level)


def _restore_m(linker: Linker, before: dict, names: frozenset[str]) -> dict:
    """The linker's model with the m of the named comparisons as they were `before`."""
    model = linker.misc.save_model_to_json()
    kept = {c["output_column_name"]: c for c in before["comparisons"]}
    model["comparisons"] = [
        kept[c["output_column_name"]] if c["output_column_name"] in names else c
        for c in model["comparisons"]
    ]
    return model


def training_blocks(
    profiles, fields: frozenset[str], sample: float = 1.0
) -> tuple[list[Rule], list[str]]:
    """The EM blocks for the fields present, and the comparisons none of them can train.

    Every primary block that pairs anything is used, as on the demo town; then each fallback,
    in order, that pairs anything and trains a comparison still untrained. A block trains the
    comparisons that read none of its columns (Splink deactivates the rest). Pairs are counted
    with Splink before training, so an empty block is skipped rather than failing EM.
    """
    reads = columns_read(fields)

    def trains(block: Rule) -> set[str]:
        return {
            name
            for name, columns in reads.items()
            if not columns & block.columns and name not in block.fixes
        }

    chosen = [b for b in usable(TRAINING_BLOCKS, fields) if pairs_anything(profiles, b.sql, sample)]
    trained = set().union(*map(trains, chosen))
    for block in usable(FALLBACK_TRAINING_BLOCKS, fields):
        if trains(block) - trained and pairs_anything(profiles, block.sql, sample):
            chosen.append(block)
            trained |= trains(block)
    return chosen, sorted(set(reads) - trained)


def pairs_anything(profiles, rule: str, sample: float = 1.0) -> bool:
    """Whether a blocking rule pairs any two profiles, counted by Splink: on a `sample` of
    each side first, and exactly only where the sample finds none."""
    for proportion in dict.fromkeys((sample, 1.0)):
        (count,) = count_comparisons_from_blocking_rules(
            profiles,
            blocking_rules=rule,
            link_type="dedupe_only",
            unique_id_column_name=UNIQUE_ID,
            record_sample_proportion=proportion,
        )
        if count["marginal_comparison_count"] > 0:
            return True
    return False


def _set_fallback_m(comparison: dict) -> None:
    """m of a comparison no block can train, from DOB_M_FALLBACK, renormalised over its levels."""
    levels = [lvl for lvl in comparison["comparison_levels"] if not lvl.get("is_null_level")]
    labels = [lvl["label_for_charts"] for lvl in levels[:-1]] + ["else"]
    shares = [DOB_M_FALLBACK.get(label, 0.0) for label in labels]
    if not sum(shares):
        return
    for level, share in zip(levels, shares, strict=True):
        level["m_probability"] = max(share, 1e-6) / sum(shares)


def _set_u_of_name_and_dob_levels(comparisons: dict[str, dict]) -> None:
    """u of the date-of-birth levels that require names: the date part's share among different
    people times the u of the exact names required (see TWO_OF_THREE_PARTS in the model).
    A level the model left out (one name only, say) is skipped; a name not compared agrees
    with probability 0."""

    def level(comparison: str, label: str) -> dict | None:
        levels = comparisons.get(comparison, {}).get("comparison_levels", [])
        return next((lvl for lvl in levels if lvl["label_for_charts"] == label), None)

    def u(comparison: str, label: str) -> float:
        found = level(comparison, label)
        return found["u_probability"] if found else 0.0

    given, family = u("given_name", "exact"), u("family_name", "exact")
    # Phonetic codes agree where the names do, or where only their phonetic level does.
    sounds = (given + u("given_name", "same phonetic code")) * (
        family + u("family_name", "same phonetic code")
    )
    swapped = u("date_of_birth", "day and month swapped")
    for label, share in (
        ("day and month swapped, same name", swapped * given * family),
        ("same name, two of three parts", TWO_OF_THREE_PARTS * given * family),
        ("names sound the same, two of three parts", TWO_OF_THREE_PARTS * sounds),
        ("one name the same, two of three parts", TWO_OF_THREE_PARTS * (given + family)),
        ("same name and year", SAME_YEAR * given * family),
    ):
        if found := level("date_of_birth", label):
            found["u_probability"] = share


def _set_u_of_both_names_at_postcode(comparisons: dict[str, dict]) -> None:
    """u of "both names" at a postcode: the u of the given name there times that of the family
    name, as independence has it. Measured directly it is mostly one person twice, with an NHS
    or NI number mistyped, which reads as two people (a household shares a family name and
    rarely a given name, so few different people agree on both)."""
    levels = {
        lvl["label_for_charts"]: lvl
        for lvl in comparisons.get("names_at_postcode", {}).get("comparison_levels", [])
    }
    if {"both names", "given name", "family name"} <= set(levels):
        levels["both names"]["u_probability"] = (
            levels["given name"]["u_probability"] * levels["family name"]["u_probability"]
        )


def _set_u_of_sex(comparisons: dict[str, dict]) -> None:
    """u of sex: two different people of one family name and date of birth (twins, or two
    strangers) are of one sex about half the time. Random pairs rarely share a family name and
    date of birth, and those that do are mostly one person twice, always of one sex: sampled,
    agreement would look like no evidence and disagreement like certainty against."""
    levels = [
        lvl for lvl in comparisons.get("sex", {}).get("comparison_levels", [])
        if not lvl.get("is_null_level")
    ]  # fmt: skip
    for level in levels:
        level["u_probability"] = 1 / len(levels)


def _set_u_from_distinct_people(
    con: duckdb.DuckDBPyConnection, comparison: dict, shared: str, duckdb_sql: list[str]
) -> None:
    """u of a comparison's levels among pairs that share the token `shared` (a date of birth,
    a postcode) but have different NHS or NI numbers: different people, compared as the
    comparison can only compare them. The pairs are counted on DuckDB, with each level's
    condition in its dialect (`duckdb_sql`, in the comparison's order), whichever backend
    Splink trains on. Where the tokens pair more than U_PAIRS profiles, a share of the tokens
    (chosen by hash) is read, so a city trains in the time a town does.

    Random sampling cannot give it: names are compared only where dates of birth agree (or, at
    a postcode, where they differ), and a random pair that agrees on date of birth or postcode
    is mostly one person twice, so its u would be the m. Where too few such pairs exist (a
    small town, no NHS or NI numbers), the shares measured on the demo town of 50,000 people
    stand in.
    """
    conditions = dict(zip(map(id, comparison["comparison_levels"]), duckdb_sql, strict=True))
    levels = [lvl for lvl in comparison["comparison_levels"] if not lvl.get("is_null_level")]
    cases = " ".join(
        f"when {conditions[id(lvl)]} then {i}"
        for i, lvl in enumerate(levels)
        if conditions[id(lvl)] != "ELSE"
    )
    null = next(
        conditions[id(lvl)] for lvl in comparison["comparison_levels"] if lvl.get("is_null_level")
    )
    pairs = ", ".join(f'l."{c}" as "{c}_l", r."{c}" as "{c}_r"' for c in SPLINK_COLUMNS)
    # Pairs grow with the square of a town's size: a city's are sampled, by whole token.
    (all_pairs,) = con.sql(
        f"select coalesce(sum(n * (n - 1) / 2), 0) from "
        f"(select count(*) as n from profiles where {shared} is not null group by {shared})"
    ).fetchall()[0]
    kept = min(1.0, U_PAIRS / max(all_pairs, 1))
    sampled = f"hash(l.{shared}) % 1000000 < {round(kept * 1_000_000)}"
    counts = dict(
        con.sql(
            f"""
            with different_people as (
                select {pairs}
                from profiles l join profiles r
                  on l.{shared} = r.{shared} and l.{UNIQUE_ID} < r.{UNIQUE_ID}
                where {sampled}
                  and (coalesce(l.nhs_token <> r.nhs_token, false)
                       or coalesce(l.ni_token <> r.ni_token, false))
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
        shares = [agreeing.get(lvl["label_for_charts"], 1 / U_PAIRS) for lvl in levels[:-1]]
        shares.append(1 - sum(shares))
    for level, share in zip(levels, shares, strict=True):
        level["u_probability"] = share
