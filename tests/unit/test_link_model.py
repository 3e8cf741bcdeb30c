"""The linkage model is built from the identity fields present, and clusters at a stated rule."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from splink import DuckDBAPI

from placelink.encode import KEY_FINGERPRINT, TOKEN_SCHEME, TOKENS
from placelink.errors import ConfigError
from placelink.link.model import (
    BLOCKING_RULES,
    FIELD_COLUMNS,
    NAMES_AND_DOB,
    NARROWING,
    columns_read,
    comparisons,
    narrowed,
    prior_rules,
    splink_settings,
    usable,
)
from placelink.link.predict import (
    PREDICT_THRESHOLD,
    _candidate_thresholds,
    bound_rules,
    count_comparisons,
    expected_f1_threshold,
    key_of_files,
    present_fields,
)

EVERY_FIELD = frozenset(FIELD_COLUMNS)


def _levels(fields: frozenset[str]) -> dict[str, list[str]]:
    built = (c.get_comparison("duckdb") for c in comparisons(fields))
    return {
        c.output_column_name: [lvl.label_for_charts for lvl in c.comparison_levels] for c in built
    }


def test_names_and_dates_of_birth_alone_get_only_their_comparisons_and_rules():
    levels = _levels(NAMES_AND_DOB)
    assert set(levels) == {"given_name", "family_name", "date_of_birth"}
    rules = [rule.sql for rule in usable(BLOCKING_RULES, NAMES_AND_DOB)]
    assert rules and not any("nhs" in r or "ni_token" in r or "postcode" in r for r in rules)
    settings = splink_settings(NAMES_AND_DOB).get_settings("duckdb")
    assert len(settings._blocking_rules_to_generate_predictions) == len(rules)


def test_one_name_drops_the_levels_that_need_both():
    levels = _levels(frozenset({"given_name", "date_of_birth"}))
    assert "given and family swapped" not in levels["given_name"]
    assert "same name, two of three parts" not in levels["date_of_birth"]
    assert "one name the same, two of three parts" in levels["date_of_birth"]


def test_every_field_keeps_the_demo_model():
    levels = _levels(EVERY_FIELD)
    assert set(levels) == {
        "nhs_token", "ni_token", "given_name", "family_name", "date_of_birth", "postcode",
        "names_at_postcode", "sex",
    }  # fmt: skip
    # A swap is scored once, by the given name; the family name takes it as no evidence.
    assert "given and family swapped" in levels["given_name"]
    assert "swapped, one name varied" in levels["given_name"]
    assert not any("swapped" in label for label in levels["family_name"][1:])
    assert "one edit apart" in levels["given_name"] and "one edit apart" in levels["family_name"]
    assert levels["sex"][1:] == ["exact", "All other comparisons"]


def test_names_at_a_postcode_need_a_postcode_and_a_name():
    assert "names_at_postcode" not in _levels(NAMES_AND_DOB)
    levels = _levels(frozenset({"family_name", "date_of_birth", "postcode"}))
    assert levels["names_at_postcode"][1:] == ["family name", "All other comparisons"]


def test_the_prior_never_uses_a_rule_on_every_field_present():
    # With names and dates of birth alone, two profiles agreeing on all three are one profile.
    rules = prior_rules(NAMES_AND_DOB)
    assert rules and all(not rule.needs >= NAMES_AND_DOB for rule in rules)
    assert not any("given_token" in r.sql and "family_token" in r.sql for r in rules)
    assert all("nhs" not in r.sql for r in prior_rules(NAMES_AND_DOB | {"postcode"}))
    assert [r.needs for r in prior_rules(EVERY_FIELD)][0] == {"nhs_number", "date_of_birth"}


def test_the_names_read_the_date_of_birth_token_so_no_block_on_it_trains_them():
    reads = columns_read(EVERY_FIELD)
    assert "dob_token" in reads["given_name"] and "dob_token" in reads["family_name"]
    assert "dob_block_token" not in set().union(*reads.values())


def _profiles(con: duckdb.DuckDBPyConnection, records: dict[int, int]) -> None:
    con.execute("create table profiles (profile_id bigint, records bigint)")
    con.executemany("insert into profiles values (?, ?)", list(records.items()))


def _scores(con: duckdb.DuckDBPyConnection, pairs: list[tuple[int, int, float]]) -> str:
    con.execute(
        "create table scored (profile_id_l bigint, profile_id_r bigint, match_probability double)"
    )
    if pairs:
        con.executemany("insert into scored values (?, ?, ?)", pairs)
    return "scored"


def test_a_middling_pair_that_chains_two_families_is_left_out():
    con = duckdb.connect()
    _profiles(con, {i: 1 for i in range(1, 9)})
    family_a = [(1, 2, 0.999), (1, 3, 0.999), (2, 3, 0.999), (3, 4, 0.999)]
    family_b = [(5, 6, 0.999), (5, 7, 0.999), (6, 7, 0.999), (7, 8, 0.999)]
    table = _scores(con, [*family_a, *family_b, (4, 5, 0.7)])
    # Joining at 0.7 implies 16 cross pairs of which the model vouches for one, at 0.7.
    assert expected_f1_threshold(con, table) > 0.7


def test_middling_pairs_that_stand_alone_are_kept():
    con = duckdb.connect()
    _profiles(con, {i: 1 for i in range(1, 13)})
    table = _scores(con, [(1, 2, 0.999), (3, 4, 0.999), *[(i, i + 1, 0.7) for i in (5, 7, 9, 11)]])
    # Each lone 0.7 pair adds 0.7 expected true links for 0.3 false: worth keeping.
    assert expected_f1_threshold(con, table) <= 0.7


def test_no_scored_pair_leaves_the_prediction_threshold():
    con = duckdb.connect()
    _profiles(con, {1: 1, 2: 1})
    assert expected_f1_threshold(con, _scores(con, [])) == PREDICT_THRESHOLD


def test_records_with_no_usable_identity_field_are_refused_with_one_message():
    con = duckdb.connect()
    columns = ", ".join(f"cast(null as varchar) as {c}" for c in FIELD_COLUMNS.values())
    con.execute(f"create table profiles as select {columns}")
    con.execute("update profiles set postcode_district_token = 'x'")
    with pytest.raises(ConfigError, match="linkage needs"):
        present_fields(con)


def test_dice_over_bloom_words_equals_dice_over_the_whole_filter():
    """The portable Dice (BIGINT words, as Spark and DuckDB both run it) gives the filter's
    Dice exactly, dense filters (more than 127 shared bits: DuckDB's TINYINT) and nulls too."""
    import numpy as np
    import pyarrow as pa

    from placelink.encode import BLOOM_BYTES, dice
    from placelink.link.model import _dice
    from placelink.link.predict import bloom_word_columns

    rng = np.random.default_rng(3)
    # Sparse to dense filters; the dense pair shares far more than 127 bits.
    filters = [np.packbits(rng.random(512) < d).tobytes() for d in (0.05, 0.1, 0.3, 0.9, 0.9)]
    filters.append(filters[0])
    table = pa.table(
        {
            "id": list(range(len(filters) + 1)),
            "given_bloom": pa.array([*filters, None], pa.binary(BLOOM_BYTES)),
        }
    )
    con = duckdb.connect()
    con.register("t", table)
    words = bloom_word_columns('any_value("given_bloom")', "given_bloom")
    con.execute(f"create table p as select id, {words} from t group by id")
    columns = [c for c in con.table("p").columns if c != "id"]
    pairs = ", ".join(f'l."{c}" as "{c}_l", r."{c}" as "{c}_r"' for c in columns)
    got = con.sql(
        f"select l_id, r_id, {_dice('given_bloom')} from "
        f"(select l.id as l_id, r.id as r_id, {pairs} from p l cross join p r)"
    ).fetchall()
    assert len(got) == len(table) ** 2
    for left, right, value in got:
        a, b = table["given_bloom"][left].as_py(), table["given_bloom"][right].as_py()
        if a is None or b is None:
            assert value is None
        else:
            assert value == dice(a, b)  # exactly: both are 2|A∩B| / (|A|+|B|) in doubles


def test_the_model_sql_has_no_duckdb_only_functions_for_spark():
    """Spark runs the same model: its rendering uses Spark's array functions, and nothing in
    any level is DuckDB's alone (BIT casts, list functions, :: casts)."""
    from placelink.link.model import level_sql

    spark = " ".join(c for lvls in level_sql(EVERY_FIELD, "spark").values() for c in lvls).lower()
    assert "array_intersect" in spark and "bit_count" in spark
    for duckdb_only in ("::", "list_", "array_length", " bit)", "as bit"):
        assert duckdb_only not in spark


def test_a_rule_over_the_bound_is_narrowed_to_one_postcode_district():
    everything = frozenset(FIELD_COLUMNS)
    rules = ["l.family_md_token = r.family_md_token", "l.nhs_token = r.nhs_token"]
    bounded = bound_rules(rules, [6_000_000, 6_000_000], everything, 5_000_000)
    assert bounded[0] == f"{rules[0]} AND {NARROWING}"
    assert bounded[1] == f"{rules[1]} AND {NARROWING}"
    assert bound_rules(rules, [5_000_000, 10], everything, 5_000_000) == rules


def test_a_rule_on_postcodes_or_records_without_them_is_left_as_it_is():
    no_postcode = frozenset(FIELD_COLUMNS) - {"postcode"}
    rule = "l.family_pc_token = r.family_pc_token"
    assert narrowed(rule, frozenset(FIELD_COLUMNS)) is None
    assert narrowed("l.given_md_token = r.given_md_token", no_postcode) is None
    assert bound_rules([rule], [10**9], frozenset(FIELD_COLUMNS), 1) == [rule]


def test_a_city_blocking_rule_is_narrowed_before_predicting():
    # Splink counts each rule's pairs on the profiles; one over the bound pairs only within a
    # postcode district, and the count printed is the narrowed rule's.
    con = duckdb.connect()
    con.execute(
        "create table profiles as select range as profile_id, 'same' as family_md_token, "
        "'PK' || (range % 4) as postcode_district_token from range(40)"
    )
    profiles = DuckDBAPI(con).register("profiles")
    rules = ["l.family_md_token = r.family_md_token"]
    counts = count_comparisons(profiles, rules, 40)
    assert counts == [40 * 39 // 2]
    bounded = bound_rules(rules, counts, frozenset(FIELD_COLUMNS), 100)
    assert count_comparisons(profiles, bounded, 40) == [4 * (10 * 9 // 2)]


def _expected_f1(records: dict[int, int], pairs: list[tuple[int, int, float]], t: float) -> float:
    """Expected pairwise F1 of clustering at t, by union-find: the reference for the search."""
    parent = {i: i for i in records}

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b, p in pairs:
        if p >= t:
            parent[root(a)] = root(b)
    sizes: dict[int, int] = {}
    for i, n in records.items():
        sizes[root(i)] = sizes.get(root(i), 0) + n
    same = sum(n * (n - 1) / 2 for n in records.values())
    true = same + sum(p * records[a] * records[b] for a, b, p in pairs if root(a) == root(b))
    expected = same + sum(p * records[a] * records[b] for a, b, p in pairs)
    implied = sum(s * (s - 1) / 2 for s in sizes.values())
    return 2 * true / (implied + expected)


@pytest.mark.parametrize("seed", range(12))
def test_the_threshold_search_finds_the_best_candidates_f1(seed):
    """Trying a coarse grid, then every candidate near its best, loses no expected F1 against
    trying every candidate, on families joined by chains of middling scores."""
    rng = np.random.default_rng(seed)
    records = {i: int(rng.integers(1, 4)) for i in range(1, 121)}
    pairs = []
    for start in range(1, 121, 6):  # families of six: strong pairs, some chained weakly
        family = list(range(start, start + 6))
        for a, b in zip(family, family[1:], strict=False):
            pairs.append((a, b, float(rng.choice([0.9999, 0.99, 0.9, 0.7, 0.55]))))
        if start + 6 <= 120:
            pairs.append((family[-1], start + 6, float(rng.uniform(0.5, 0.999))))
    con = duckdb.connect()
    _profiles(con, records)
    chosen = expected_f1_threshold(con, _scores(con, pairs))
    scores = np.array([p for _, _, p in pairs])
    best = max(_expected_f1(records, pairs, t) for t in _candidate_thresholds(scores))
    assert _expected_f1(records, pairs, chosen) >= best - 1e-9


def test_encoded_files_of_two_token_schemes_are_not_linked_together(tmp_path):
    def encoded(name: str, **metadata: str):
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"record_id": ["r"]}).replace_schema_metadata(metadata), path)
        return path

    new = [encoded(s, **{KEY_FINGERPRINT: "k1", TOKEN_SCHEME: TOKENS}) for s in ("apc", "ecds")]
    assert key_of_files(new) == "k1"
    older = encoded("housing", **{KEY_FINGERPRINT: "k1"})  # pseudonymised before SipHash
    with pytest.raises(ConfigError, match="different placelink versions") as err:
        key_of_files([*new, older])
    assert f"older: housing.parquet; {TOKENS}: apc.parquet, ecds.parquet" in str(err.value)
