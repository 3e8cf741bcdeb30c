"""The pseudonymise step: age on the event date (the only trace of the date of birth past the
edge), and the encoded file whatever the pull left."""

from dataclasses import replace
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from placelink import encode, pseudonymise
from placelink.encode import (
    OUTPUT_COLUMNS,
    LinkageKey,
    encode_identities,
    identity_keys,
    record_pseudonyms,
)
from placelink.errors import PlacelinkError
from placelink.pseudonymise import (
    GEOGRAPHY,
    RecordPseudonyms,
    SameIdentity,
    age_at,
    largest_first,
    pseudonymise_source,
)
from placelink.pull import pull_month
from placelink.settings import Settings
from placelink.sources import IDENTITY_FIELDS
from tests.unit.apc_extract import GOOD, HEADER, TODAY, csv_spec, land

KEY = LinkageKey(bytes(range(32)), created=False, source="test")

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31))


def whole_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@given(st.lists(st.tuples(dates, dates), min_size=1, max_size=50))
def test_age_is_whole_years_completed_on_the_event_date(pairs):
    born = pa.chunked_array([pa.array([b for b, _ in pairs], pa.date32())])
    on = pa.chunked_array([pa.array([o for _, o in pairs], pa.date32())])
    assert age_at(born, on).to_pylist() == [whole_years(b, o) for b, o in pairs]


def test_a_missing_date_gives_a_missing_age():
    born = pa.chunked_array([pa.array([date(1950, 2, 28), None], pa.date32())])
    on = pa.chunked_array([pa.array([None, date(2024, 1, 1)], pa.date32())])
    assert age_at(born, on).to_pylist() == [None, None]


def test_the_day_before_a_birthday_is_still_the_younger_age():
    born = pa.chunked_array([pa.array([date(1960, 3, 15)], pa.date32())])
    on = pa.chunked_array([pa.array([date(2024, 3, 14)], pa.date32())])
    assert age_at(born, on).to_pylist() == [63]


LOOKUP = pa.table(
    {
        "postcode": ["PL1 4AB"],
        **{c: ["x"] for c in GEOGRAPHY if c != "imd_decile"},
        "imd_decile": pa.array([3], pa.int64()),
    }
)


def _landed(home, row: str) -> Settings:
    settings = Settings.from_env(environ={}, home=home)
    land(settings, HEADER + row + "\n")
    return settings


def test_a_source_with_every_row_quarantined_still_gets_its_encoded_file(tmp_path):
    settings = _landed(tmp_path, GOOD[0].replace("1950-03-04", "1950-02-31"))
    good_settings = _landed(tmp_path / "good", GOOD[0])
    for s in (settings, good_settings):
        pull_month(csv_spec(), "2024-01", s, today=TODAY)
    empty = pseudonymise_source(csv_spec(), settings, KEY, LOOKUP)
    full = pseudonymise_source(csv_spec(), good_settings, KEY, LOOKUP)
    assert (empty.records, full.records) == (0, 1)
    assert pq.read_schema(empty.path) == pq.read_schema(full.path)
    assert empty.columns == full.columns and "given_token" in empty.columns


def test_pseudonymising_before_any_pull_says_so(tmp_path):
    settings = _landed(tmp_path, GOOD[0])
    with pytest.raises(PlacelinkError, match="no standardised months"):
        pseudonymise_source(csv_spec(), settings, KEY, LOOKUP)


@pytest.mark.parametrize("piece", [None, 2])
def test_a_person_in_every_month_is_encoded_as_each_record_alone_would_be(
    tmp_path, monkeypatch, piece
):
    """Records grouped by identity (a person recurs month after month) keep each record's own
    encodings; every record is written once, its content in file order. So too when the
    linkage rows are written, and the record ids pseudonymised, a few at a time."""
    if piece:
        monkeypatch.setattr(pseudonymise, "LINKAGE_ROWS", piece)
        monkeypatch.setattr(encode, "PSEUDONYM_SLICE", piece)
    settings = Settings.from_env(environ={}, home=tmp_path)
    months = {
        "2024-01": [GOOD[0], GOOD[1]],
        "2024-02": [GOOD[1].replace("E2", "E3"), GOOD[0].replace("E1", "E4")],
        "2024-03": [GOOD[0].replace("E1", "E5").replace("PL1 4AB", "PL2 1AA")],
    }
    for month, rows in months.items():
        land(settings, HEADER + "\n".join(rows) + "\n", month)
        pull_month(csv_spec(), month, settings, today=TODAY)
    result = pseudonymise_source(csv_spec(), settings, KEY, LOOKUP)
    standardised = pa.concat_tables(
        pq.read_table(f) for f in sorted((settings.standardised / "apc").glob("*.parquet"))
    )
    expected = encode_identities(standardised.to_pandas(types_mapper=pd.ArrowDtype), KEY)
    ids = standardised["record_id"].combine_chunks()
    expected.insert(0, "record_id", record_pseudonyms(KEY, "apc", ids))
    encoded = pq.read_table(result.path).to_pandas(types_mapper=pd.ArrowDtype)
    assert result.records == len(encoded) == 5
    assert encoded["given_token"].nunique() == 2  # two people, as three identities
    mine = encoded.drop(columns="source").sort_values("record_id").reset_index(drop=True)
    theirs = expected.sort_values("record_id").reset_index(drop=True)
    keys = identity_keys(pa.Table.from_pandas(theirs[list(OUTPUT_COLUMNS)], preserve_index=False))
    theirs.insert(1, "identity_key", keys.to_pylist())
    pd.testing.assert_frame_equal(mine, theirs[mine.columns], check_dtype=False)
    assert mine["identity_key"].nunique() == 3
    assert pq.ParquetFile(result.path).num_row_groups == (3 if piece else 1)
    content = pq.read_table(result.content_path)
    assert content["record_id"].to_pylist() == expected["record_id"].tolist()


identity_values = st.sampled_from(["A", "B", "", None])


@given(st.lists(st.tuples(identity_values, identity_values), max_size=40))
def test_records_share_a_group_exactly_when_their_identities_agree(rows):
    """Unknown is its own value (not the empty string); groups are numbered by first record."""
    table = pa.table(
        {
            n: pa.array(
                [r[0] if n == "given_name" else r[1] if n == "postcode" else None for r in rows]
                if n != "record_id"
                else [str(i) for i in range(len(rows))],
                pa.string(),
            )
            for n in IDENTITY_FIELDS
        }
    )
    same = SameIdentity.of(table.drop_columns(["record_id"]))
    firsts = list(dict.fromkeys(rows))
    assert len(same) == len(firsts)
    assert [firsts.index(r) for r in rows] == same.groups.tolist()
    for g in range(len(same)):
        members = same.order[same.bounds[g] : same.bounds[g + 1]].tolist()
        assert members == [i for i, r in enumerate(rows) if r == firsts[g]]
    spans = list(same.spans(3))
    assert [a for a, _ in spans] == [0, *(b for _, b in spans[:-1])][: len(spans)]
    assert all(0 < b - a <= 3 for a, b in spans) and (not spans or spans[-1][1] == len(same))


def test_the_largest_source_is_pseudonymised_first_and_an_unpulled_one_last(tmp_path):
    settings = Settings.from_env(environ={}, home=tmp_path)
    specs = [csv_spec(), *(replace(csv_spec(), name=n) for n in ("big", "small", "none"))]
    for name, size in (("apc", 300), ("big", 900), ("small", 10)):
        folder = settings.standardised / name
        folder.mkdir(parents=True)
        (folder / "2024-01.parquet").write_bytes(b"x" * size)
    assert largest_first(settings, specs) == [3, 4, 2, 0]


@given(
    made=st.lists(st.text(min_size=1, max_size=6), unique=True, max_size=20),
    asked=st.lists(st.one_of(st.none(), st.text(min_size=1, max_size=6)), max_size=30),
)
def test_pseudonyms_looked_up_are_those_made_afresh(made, asked):
    """The truth's record ids take the pseudonyms the step made (or, for an id it did not
    see, a fresh one): the same as hashing them all again, nulls staying null."""
    ids = pa.array(made, pa.string())
    known = RecordPseudonyms(ids, record_pseudonyms(KEY, "apc", ids))
    wanted = pa.array(asked + made[:3], pa.string())
    assert known.of(KEY, "apc", wanted).to_pylist() == (
        record_pseudonyms(KEY, "apc", wanted).to_pylist()
    )


def test_the_record_ids_a_step_made_pseudonyms_of_are_never_shown():
    ids = pa.array(["APC-000123"], pa.string())
    made = RecordPseudonyms(ids, record_pseudonyms(KEY, "apc", ids))
    assert "APC-000123" not in repr(made)
