"""Age on the event date, the only trace of the date of birth past the edge."""

from datetime import date

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from placelink.pseudonymise import age_at

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
