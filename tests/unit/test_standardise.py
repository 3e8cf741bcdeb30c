"""Unit tests for placelink.standardise: examples per reason code and property tests."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from placelink import standardise as s

NAME_RE = re.compile(r"^[A-Z]+( [A-Z]+)*$")


def _list(series: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in series.tolist()]


# --- reason codes ----------------------------------------------------------------------------


def test_reason_codes_are_the_documented_strings():
    assert (s.BAD_DATE, s.BAD_DOB, s.BAD_NHS, s.BAD_NI) == (
        "unparseable_date",
        "impossible_date_of_birth",
        "invalid_nhs_number",
        "invalid_ni_number",
    )
    assert (s.BAD_POSTCODE, s.BAD_SEX, s.MISSING_ID, s.DUPLICATE_ID) == (
        "malformed_postcode",
        "unknown_sex_code",
        "missing_record_id",
        "duplicate_record_id",
    )
    assert (s.END_BEFORE_START, s.FUTURE_EVENT) == (
        "event_ends_before_it_starts",
        "event_date_in_the_future",
    )
    assert len(set(s.REASON_CODES)) == 10


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Dr. Mary-Jane  O'Brien ", "MARY JANE OBRIEN"),
        ("O’Brien", "OBRIEN"),
        ("José", "JOSE"),
        ("Łukasz Żółć", "LUKASZ ZOLC"),
        ("Søren Ærø", "SOREN AERO"),
        ("Straße", "STRASSE"),
        ("Đorđević", "DORDEVIC"),
        ("mrs smith", "SMITH"),
        ("Mr Lord Smith", "SMITH"),
        ("Lord", "LORD"),  # a surname, not a title, when it is the only word
        ("Smith–Jones", "SMITH JONES"),
        ("smith\tjones", "SMITH JONES"),
        ("J0hn", "JHN"),
        ("", None),
        ("  ", None),
        ("--", None),
        (None, None),
    ],
)
def test_standardise_name_examples(raw, expected):
    assert _list(s.standardise_name(pd.Series([raw], dtype=object))) == [expected]


def test_standardise_name_keeps_index_and_nan():
    values = pd.Series(["ann", np.nan, "ann"], index=[7, 8, 9])
    out = s.standardise_name(values)
    assert list(out.index) == [7, 8, 9]
    assert _list(out) == ["ANN", None, "ANN"]
    assert out.dtype == s.STRING


@given(st.lists(st.one_of(st.none(), st.text(max_size=30)), max_size=20))
def test_standardise_name_is_idempotent_and_ascii(values):
    once = s.standardise_name(pd.Series(values, dtype=object))
    twice = s.standardise_name(once)
    assert _list(once) == _list(twice)
    for v in _list(once):
        assert v is None or NAME_RE.match(v)


# --- dates -----------------------------------------------------------------------------------


def test_standardise_date_parses_and_flags():
    values = pd.Series(["2023-01-05", "2023-02-30", "05/01/2023", "", None, " 1980-12-31 "])
    dates, bad = s.standardise_date(values, "%Y-%m-%d")
    assert dates.dtype == s.DATE
    assert _list(dates) == [dt.date(2023, 1, 5), None, None, None, None, dt.date(1980, 12, 31)]
    assert bad.tolist() == [False, True, True, False, False, False]


def test_standardise_date_day_first_with_or_without_zero_padding():
    dates, bad = s.standardise_date(pd.Series(["01/02/2023", "1/2/2023", "31/04/2023"]), "%d/%m/%Y")
    assert _list(dates) == [dt.date(2023, 2, 1), dt.date(2023, 2, 1), None]
    assert bad.tolist() == [False, False, True]


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([dt.date(2020, 1, 2), None]),
        pd.Series(pd.to_datetime(["2020-01-02", None])),
        pd.Series(pa.array([dt.date(2020, 1, 2), None]), dtype=pd.ArrowDtype(pa.date32())),
    ],
)
def test_standardise_date_accepts_dates_without_parsing(values):
    dates, bad = s.standardise_date(values, "%d/%m/%Y")
    assert _list(dates) == [dt.date(2020, 1, 2), None]
    assert not bad.any()


def test_check_date_of_birth():
    dob = pd.Series([dt.date(2020, 1, 2), None, dt.date(1899, 12, 31), dt.date(2030, 1, 1)])
    assert s.check_date_of_birth(dob, dt.date(2025, 1, 1)).tolist() == [False, False, True, True]
    assert s.BAD_DOB == "impossible_date_of_birth"


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_dates_round_trip_every_format(day):
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
        dates, bad = s.standardise_date(pd.Series([day.strftime(fmt)]), fmt)
        assert _list(dates) == [day] and not bad.any()


# --- NHS numbers -----------------------------------------------------------------------------


def _with_check(nine: list[int]) -> str | None:
    check = (11 - sum(d * w for d, w in zip(nine, range(10, 1, -1), strict=True)) % 11) % 11
    return None if check == 10 else "".join(map(str, nine)) + str(check)


nhs_numbers = st.lists(st.integers(0, 9), min_size=9, max_size=9).map(_with_check).filter(bool)


def test_nhs_number_examples():
    values = pd.Series(
        ["943 476 5919", "943-476-5919", "9434765918", "123", "94347659AB", None, ""]
    )
    out, bad = s.standardise_nhs_number(values)
    assert _list(out) == ["9434765919", "9434765919", None, None, None, None, None]
    assert bad.tolist() == [False, False, True, True, True, False, False]


def test_nhs_number_read_as_integer():
    out, bad = s.standardise_nhs_number(pd.Series([9434765919, 9434765918]))
    assert _list(out) == ["9434765919", None] and bad.tolist() == [False, True]


def test_nhs_check_digit_ten_is_never_valid():
    nine = next(
        [int(c) for c in f"{n:09d}"]
        for n in range(10**8, 10**9)
        if _with_check([int(c) for c in f"{n:09d}"]) is None
    )
    candidates = ["".join(map(str, nine)) + str(d) for d in range(10)]
    _, bad = s.standardise_nhs_number(pd.Series(candidates))
    assert bad.all()


@given(nhs_numbers)
def test_valid_nhs_numbers_pass_and_every_error_is_caught(number):
    """Modulus 11 catches 100% of single-digit errors and of transpositions of two different
    digits, adjacent or not: the weights 10..1 differ mod the prime 11."""
    variants = {number}
    for i in range(10):
        for d in "0123456789":
            variants.add(number[:i] + d + number[i + 1 :])
        for j in range(i + 1, 10):
            chars = list(number)
            chars[i], chars[j] = chars[j], chars[i]
            variants.add("".join(chars))
    variants.discard(number)
    values = pd.Series([number, *sorted(variants)])
    out, bad = s.standardise_nhs_number(values)
    assert out.iloc[0] == number and not bad.iloc[0]
    assert bad.iloc[1:].all()
    assert out.iloc[1:].isna().all()


# --- NI numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected", "is_bad"),
    [
        ("ab 12 34 56 c", "AB123456C", False),
        ("JG103759A", "JG103759A", False),
        ("QQ123456C", None, True),  # Q is never a prefix letter
        ("AO123456A", None, True),  # O is never the second letter
        ("DA123456A", None, True),
        ("GB123456A", None, True),  # prefixes never issued
        ("ZZ123456A", None, True),
        ("NT123456A", None, True),
        ("AB123456E", None, True),  # suffix A-D only
        ("AB12345C", None, True),
        ("", None, False),
        (None, None, False),
    ],
)
def test_ni_number(raw, expected, is_bad):
    out, bad = s.standardise_ni_number(pd.Series([raw], dtype=object))
    assert _list(out) == [expected]
    assert bad.tolist() == [is_bad]


# --- postcodes -------------------------------------------------------------------------------

LETTER = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
DIGIT = st.sampled_from("0123456789")
OUTWARD = st.one_of(
    st.tuples(LETTER, DIGIT),
    st.tuples(LETTER, DIGIT, DIGIT),
    st.tuples(LETTER, LETTER, DIGIT),
    st.tuples(LETTER, LETTER, DIGIT, DIGIT),
    st.tuples(LETTER, DIGIT, LETTER),
    st.tuples(LETTER, LETTER, DIGIT, LETTER),
).map("".join)
INWARD = st.tuples(DIGIT, LETTER, LETTER).map("".join)


@given(OUTWARD, INWARD, st.data())
def test_postcode_round_trips_spaces_and_case(outward, inward, data):
    canonical = f"{outward} {inward}"
    chars = []
    for c in outward + inward:
        chars.append(c.lower() if data.draw(st.booleans()) else c)
        chars.append(" " * data.draw(st.integers(0, 2)))
    messy = " " * data.draw(st.integers(0, 2)) + "".join(chars)
    out, bad = s.standardise_postcode(pd.Series([messy, canonical]))
    assert _list(out) == [canonical, canonical]
    assert not bad.any()
    assert _list(s.postcode_district(out)) == [outward, outward]


def test_postcode_examples():
    values = pd.Series(["sw1a1aa", "ab1", "AB12", "1AB 2CD", "AB1 2C", "XX", "", None])
    out, bad = s.standardise_postcode(values)
    assert _list(out) == ["SW1A 1AA", "AB1", "AB12", None, None, None, None, None]
    assert bad.tolist() == [False, False, False, True, True, True, False, False]
    assert s.BAD_POSTCODE == "malformed_postcode"


# --- sex -------------------------------------------------------------------------------------


def test_sex_map():
    sex_map = {"1": "M", "2": "F", "9": "U", "0": "U"}
    out, bad = s.standardise_sex(pd.Series([1, "2", " 9 ", "0", "x", None, "", 1.0]), sex_map)
    assert _list(out) == ["M", "F", None, None, None, None, None, "M"]
    assert bad.tolist() == [False, False, False, False, True, False, False, False]


def test_sex_map_words_case_insensitive():
    out, bad = s.standardise_sex(
        pd.Series(["Male", "female", "Unknown", "Other"]),
        {"Male": "M", "Female": "F", "Unknown": "U"},
    )
    assert _list(out) == ["M", "F", None, None]
    assert bad.tolist() == [False, False, False, True]


@settings(max_examples=50)
@given(st.lists(st.sampled_from(["M", "F", "m", "X", "", None]), max_size=30))
def test_sex_output_is_m_f_or_null(values):
    out, bad = s.standardise_sex(pd.Series(values, dtype=object), {"M": "M", "F": "F"})
    assert set(_list(out)) <= {"M", "F", None}
    assert bad.tolist() == [v == "X" for v in values]


def test_standardise_date_without_format_is_iso():
    dates, bad = s.standardise_date(pd.Series(["2020-01-02", "02/01/2020", None]))
    assert _list(dates) == [dt.date(2020, 1, 2), None, None]
    assert bad.tolist() == [False, True, False]


# --- once per distinct value ----------------------------------------------------------------

REPEATED = st.sampled_from(
    ["943 476 5919", "9434765919", "9434765918", "PL1 4AB", "pl14ab", "AB1", "AB123456C",
     "01/02/1980", "31/02/1980", "1", "2", "Mary-Jane", "MARY JANE", "", "  "]
)  # fmt: skip


@settings(max_examples=60)
@given(st.lists(st.one_of(st.none(), REPEATED, st.text(max_size=12)), max_size=30))
def test_a_column_standardises_as_its_values_would_one_by_one(values):
    """Each standardiser runs once per distinct value: mapping back must not mix rows up."""
    column = pd.Series(values, dtype=object)
    alone = [pd.Series([v], dtype=object) for v in values]
    checks = [
        s.standardise_nhs_number,
        s.standardise_ni_number,
        s.standardise_postcode,
        lambda v: s.standardise_date(v, "%d/%m/%Y"),
        lambda v: s.standardise_sex(v, {"1": "M", "2": "F"}),
    ]
    for check in checks:
        out, bad = check(column)
        one_by_one = [check(v) for v in alone]
        assert _list(out) == [_list(o)[0] for o, _ in one_by_one]
        assert bad.tolist() == [b.tolist()[0] for _, b in one_by_one]
    names = s.standardise_name(column)
    assert _list(names) == [_list(s.standardise_name(v))[0] for v in alone]
