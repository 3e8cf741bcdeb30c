"""The pseudonymise step: age on the event date (the only trace of the date of birth past the
edge), and the encoded file whatever the pull left."""

from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from placelink.encode import LinkageKey
from placelink.errors import PlacelinkError
from placelink.pseudonymise import GEOGRAPHY, age_at, pseudonymise_source
from placelink.pull import pull_month
from placelink.settings import Settings
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
