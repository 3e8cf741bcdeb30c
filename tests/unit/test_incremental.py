"""The pieces of a monthly increment that need no town: rules, rows, merged persons."""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from placelink.encode import KEY_FINGERPRINT, LIST_COLUMNS, OUTPUT_COLUMNS
from placelink.files import write_text_atomic
from placelink.link.incremental import (
    STATE_VERSION,
    LinkState,
    Plan,
    _current_person,
    _mirrored,
    _read_new_records,
    assign_increment,
    model_sha256,
    plan_linkage,
    read_candidates,
    read_rows,
    state_dir,
)
from placelink.link.model import PROFILE_COLUMNS, SPLINK_COLUMNS
from placelink.link.person_index import assign_person_ids
from placelink.settings import Settings


def test_a_one_sided_rule_is_also_tried_the_other_way_round():
    rules = [
        "l.nhs_token = r.nhs_token",
        "l.dob_token = r.dob_token AND l.given_phonetic_token = r.family_phonetic_token",
        "l.dob_swap_token = r.dob_token",
    ]
    assert _mirrored(rules) == [
        "l.nhs_token = r.nhs_token",
        "l.dob_token = r.dob_token AND l.given_phonetic_token = r.family_phonetic_token",
        "l.dob_token = r.dob_token AND l.family_phonetic_token = r.given_phonetic_token",
        "l.dob_swap_token = r.dob_token",
        "l.dob_token = r.dob_swap_token",
    ]


def test_read_rows_reads_the_rows_asked_for_across_row_groups(tmp_path):
    n = 1000
    table = pa.table(
        {
            "source": ["s"] * n,
            "record_id": [f"r{i}" for i in range(n)],
            **{c: [None] * n for c in OUTPUT_COLUMNS},
        }
    )
    path = tmp_path / "encoded.parquet"
    pq.write_table(table, path, row_group_size=128)
    rows = pd.Series([3, 127, 128, 640, 999]).to_numpy()
    assert read_rows(path, rows).column("record_id").to_pylist() == [f"r{i}" for i in rows]


def test_every_person_id_ever_given_maps_to_the_live_person_it_merged_into():
    index = pd.DataFrame(
        {
            "person_id": [1, 2, 3, 4, 5],
            "merged_into": pd.array([pd.NA, 1, 2, pd.NA, pd.NA], dtype="Int64"),
        }
    )
    assert _current_person(index).to_dict() == {1: 1, 2: 1, 3: 1, 4: 4, 5: 5}


def test_an_increment_assigns_person_ids_as_the_person_index_would():
    previous_links = pd.DataFrame(
        {
            "source": ["s"] * 5,
            "record_id": ["a1", "a2", "b1", "c1", "d1"],
            "person_id": [1, 1, 2, 3, 5],
            "first_seen_run": ["r1", "r1", "r1", "r2", "r2"],
        }
    )
    previous_index = pd.DataFrame(
        {
            "person_id": pd.array([1, 2, 3, 4, 5], dtype="int64"),
            "created_run": pd.array(["r1", "r1", "r1", "r1", "r2"], dtype="string"),
            "merged_into": pd.array([pd.NA, pd.NA, pd.NA, 3, pd.NA], dtype="Int64"),
        }
    )
    # Person 2 merges into 1 through a new record; n2 and n3 make a person, n4 another.
    clusters = pd.DataFrame(
        {
            "source": ["s"] * 9,
            "record_id": ["a1", "a2", "b1", "c1", "d1", "n1", "n4", "n3", "n2"],
            "cluster_id": [1, 1, 1, 3, 5, 1, -2, -1, -1],
        }
    )
    con = duckdb.connect()
    arriving = clusters[clusters["record_id"].str.startswith("n")]
    con.register("arriving", arriving)
    con.execute("create table new_clustered as select * from arriving")
    con.execute("create table remap as select 2::bigint as person_id, 1::bigint as cluster_id")
    links, index = assign_increment(con, pa.Table.from_pandas(previous_links), previous_index, "r3")
    expected_links, expected_index = assign_person_ids(
        clusters, "r3", previous_links, previous_index
    )
    # The last link's records keep their order; the new ones follow, sorted.
    assert links.slice(0, 5)["record_id"].to_pylist() == ["a1", "a2", "b1", "c1", "d1"]
    assert links.slice(5)["record_id"].to_pylist() == ["n1", "n2", "n3", "n4"]
    assert links.sort_by([("source", "ascending"), ("record_id", "ascending")]).equals(
        expected_links
    )
    assert index.equals(expected_index)
    links = links.to_pandas()
    assert links.set_index("record_id").person_id.to_dict() == {
        "a1": 1, "a2": 1, "b1": 1, "c1": 3, "d1": 5, "n1": 1, "n2": 6, "n3": 6, "n4": 7,
    }  # fmt: skip


def _profiles(rows: list[dict]) -> pa.Table:
    """Profiles as the state stores them: every encoding, null where a row leaves it out."""
    n = len(rows)
    columns = {
        "profile_id": pa.array([r["profile_id"] for r in rows], pa.int64()),
        "identity_key": pa.array([f"key{r['profile_id']}" for r in rows]),
    }
    for c in SPLINK_COLUMNS:
        kind = (
            pa.list_(pa.string())
            if c in LIST_COLUMNS
            else pa.string()
            if c in PROFILE_COLUMNS
            else pa.int32()
            if c.endswith("_bits")
            else pa.int64()  # a Bloom filter's word
        )
        columns[c] = pa.array([r.get(c) for r in rows] if n else [], kind)
    columns["person_id"] = pa.array([r["profile_id"] for r in rows], pa.int64())
    return pa.table(columns)


def _candidates(tmp_path, known: list[dict], new: list[dict], rules: list[str]) -> set[int]:
    part = tmp_path / "part.parquet"
    pq.write_table(_profiles(known), part)
    con = duckdb.connect()
    new_profiles = _profiles(new).drop(["person_id"])
    con.register("arriving", new_profiles)
    con.execute("create table new_profiles as select * from arriving")
    con.execute(
        "create table person_of as select profile_id as stored, profile_id as person_id "
        f"from '{part}'"
    )
    read_candidates(con, [part], rules)
    return set(con.sql("select profile_id from known").fetchnumpy()["profile_id"].tolist())


RULES = [
    "l.nhs_token = r.nhs_token",
    "l.dob_token = r.dob_token AND l.family_phonetic_token = r.family_phonetic_token",
    "l.dob_swap_token = r.dob_token",
]


def test_only_known_profiles_a_blocking_rule_can_pair_with_a_new_one_are_read(tmp_path):
    new = [
        {"profile_id": 100, "nhs_token": "N1", "dob_token": "D1", "family_phonetic_token": "F1"},
        {"profile_id": 101, "dob_token": "D2", "dob_swap_token": "S1"},
    ]
    known = [
        {"profile_id": 1, "nhs_token": "N1"},  # the NHS number
        {"profile_id": 2, "dob_token": "D1", "family_phonetic_token": "F1"},  # both keys
        {"profile_id": 3, "dob_token": "D1", "family_phonetic_token": "F9", "nhs_token": "N9"},
        {"profile_id": 4, "dob_swap_token": "D2"},  # the one-sided rule, mirrored
        {"profile_id": 5, "dob_token": "S1"},  # the one-sided rule as written
        {"profile_id": 6, "given_token": "G1"},  # no key, nulls pair nothing
        {"profile_id": 7, "given_token": "G2", "given_bloom": bytes(64)},
    ]
    assert _candidates(tmp_path, known, new, _mirrored(RULES)) == {1, 2, 4, 5}
    # The rules as written, unmirrored, would miss profile 4.
    assert _candidates(tmp_path, known, new, RULES) == {1, 2, 5}
    # A rule that is not a conjunction of equalities cannot filter: every profile is read.
    fuzzy = [*RULES, "levenshtein(l.given_token, r.given_token) < 2"]
    assert _candidates(tmp_path, known, new, fuzzy) == {1, 2, 3, 4, 5, 6, 7}


def test_the_candidates_are_the_known_profiles_the_rules_pair(tmp_path):
    """Against the rules themselves, joined as Splink joins them, on random small tokens."""
    rng = random.Random(3)

    def profile(i: int) -> dict:
        return {
            "profile_id": i,
            **{
                c: rng.choice([None, "a", "b", "c", "d", "e", "f"])
                for c in ("nhs_token", "dob_token", "dob_swap_token", "family_phonetic_token")
            },
        }

    known = [profile(i) for i in range(1, 200)]
    new = [profile(i) for i in range(1000, 1004)]
    rules = _mirrored(RULES)
    part = tmp_path / "all.parquet"
    pq.write_table(_profiles(known), part)
    con = duckdb.connect()
    con.register("n", _profiles(new))
    paired = set()
    for rule in rules:
        paired |= {
            row[0]
            for row in con.sql(f"select r.profile_id from n l join '{part}' r on {rule}").fetchall()
        }
    found = _candidates(tmp_path, known, new, rules)
    assert found == paired and 0 < len(found) < len(known)


def test_the_plan_finds_new_records_in_file_order_and_refuses_where_one_is_gone(tmp_path):
    """A new record of an identity the state knows needs no encodings read: its key places it."""
    settings = Settings.from_env(environ={}, home=tmp_path)
    state_dir(settings).mkdir(parents=True)
    part = state_dir(settings) / "full.parquet"
    profile = {c: pa.nulls(1, pa.string()) for c in SPLINK_COLUMNS}
    pq.write_table(pa.table({"identity_key": ["known"], **profile}), part)
    model = settings.linkage / "model.json"
    model.write_text("{}")

    def encoded(name: str, ids: list[str]) -> Path:
        path = settings.linkage / f"{name}.parquet"
        keys = ["known" if i == "a2" else f"key-{i}" for i in ids]
        table = pa.table({"source": [name] * len(ids), "record_id": ids, "identity_key": keys})
        pq.write_table(table.replace_schema_metadata({KEY_FINGERPRINT: "k1"}), path)
        return path

    files = [encoded("a", ["a1", "a2", "a3", "a4"]), encoded("b", ["b1", "b2"])]
    links, index = settings.linkage / "record_links.parquet", settings.linkage / "index.parquet"
    ids = {"source": ["a", "a", "b"], "record_id": ["a1", "a3", "b2"], "first_seen_run": ["r"] * 3}
    pq.write_table(pa.table({**ids, "person_id": [1, 1, 1]}), links)
    pq.write_table(pa.table({"person_id": [1]}), index)
    rules = ("l.nhs_token = r.nhs_token",)
    state = LinkState(
        "k1", model_sha256(model), 0.9, ("nhs_number",), rules, 3, ("full.parquet",), "r", 0
    )
    saved = json.dumps({"version": STATE_VERSION, **state.__dict__})
    write_text_atomic(saved, state_dir(settings) / "state.json")
    plan = plan_linkage(settings, files, model, links, index, full_relink=False)
    assert plan.incremental and plan.new_records == 3
    assert {p.name: r.tolist() for p, r in (plan.new_rows or {}).items()} == {
        "a.parquet": [3],
        "b.parquet": [0],
    }
    assert plan.known_new is not None and plan.known_new.to_pylist() == [
        {"source": "a", "record_id": "a2", "identity_key": "known"}
    ]
    files[1] = encoded("b", ["b1"])  # b2 is gone from the encodings
    plan = plan_linkage(settings, files, model, links, index, full_relink=False)
    assert not plan.incremental and plan.reason == "1 linked records are gone from the encodings"
    # A person the index never gave (a run stopped between the two files), or a state an
    # older placelink wrote: a full link, saying why.
    pq.write_table(pa.table({**ids, "person_id": [1, 1, 2]}), links)
    plan = plan_linkage(settings, files, model, links, index, full_relink=False)
    assert plan.reason == "record_links.parquet and person_index.parquet disagree"
    pq.write_table(pa.table({**ids, "person_id": [1, 1, 1]}), links)
    write_text_atomic(
        saved.replace(f'"version": {STATE_VERSION}', '"version": 2'),
        state_dir(settings) / "state.json",
    )
    plan = plan_linkage(settings, files, model, links, index, full_relink=False)
    assert plan.reason == "the last link's state was written by another placelink version"
    write_text_atomic(saved, state_dir(settings) / "state.json")
    # A state made before an encoding existed (an older placelink): a full link, saying why.
    pq.write_table(pa.table({"identity_key": ["known"], **dict(list(profile.items())[1:])}), part)
    plan = plan_linkage(settings, files, model, links, index, full_relink=False)
    assert not plan.incremental and PROFILE_COLUMNS[0] in plan.reason


def test_new_records_have_the_encoded_types_whatever_arrives():
    """Records of known identities carry no encodings, and a month may bring no record at
    all: new_records still has every encoding, typed as the encoded files type it."""
    types = {"ni_masked_tokens": "VARCHAR[]", "given_bloom": "BLOB", "nhs_token": "VARCHAR"}
    known = pa.table({"source": ["a"], "record_id": ["a9"], "identity_key": ["k"]})
    for known_new, rows in ((known, 1), (None, 0)):
        con = duckdb.connect()
        _read_new_records(con, Plan(True, "increment", new_rows={}, known_new=known_new))
        described = {name: kind for name, kind, *_ in con.sql("describe new_records").fetchall()}
        assert set(described) == {"source", "record_id", "identity_key", *PROFILE_COLUMNS}
        assert {c: described[c] for c in types} == types
        assert con.sql("select count(*) from new_records").fetchall()[0][0] == rows
