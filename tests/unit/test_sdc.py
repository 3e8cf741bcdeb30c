"""Disclosure control: small counts vanish, the rest are rounded, rates follow the counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from placelink.errors import PlacelinkError
from placelink.sdc import ColumnSdc, apply_sdc, round_half_up, sdc_columns

SPEC = {
    "place": ColumnSdc("none"),
    "numerator": ColumnSdc("count"),
    "denominator": ColumnSdc("count"),
    "rate": ColumnSdc("rate", "numerator", "denominator", 1000),
}

counts = st.one_of(st.none(), st.integers(min_value=0, max_value=100_000))
rows = st.lists(st.tuples(counts, counts), min_size=1, max_size=40)


def frame(pairs) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "place": [f"N{i}" for i in range(len(pairs))],
            "numerator": pd.array([a for a, _ in pairs], dtype="Int64"),
            "denominator": pd.array([b for _, b in pairs], dtype="Int64"),
            "rate": [0.5] * len(pairs),
        }
    )


@settings(max_examples=200, deadline=None)
@given(rows)
def test_every_published_count_is_null_or_a_rounded_multiple_of_base_of_at_least_ten(pairs):
    out, summary = apply_sdc(frame(pairs), SPEC, threshold=8, base=5)
    for column in ("numerator", "denominator"):
        for before, after in zip(frame(pairs)[column], out[column], strict=True):
            if pd.isna(before) or before < 8:
                assert pd.isna(after)
            else:
                assert after % 5 == 0 and after >= 10 and abs(after - before) <= 2
    assert summary.cells_total == 2 * len(pairs)
    assert summary.cells_suppressed == sum(
        1 for pair in pairs for v in pair if v is not None and v < 8
    )


@settings(max_examples=200, deadline=None)
@given(rows)
def test_rates_are_recomputed_from_the_published_counts(pairs):
    out, _ = apply_sdc(frame(pairs), SPEC, threshold=8, base=5)
    for num, den, rate in zip(out.numerator, out.denominator, out.rate, strict=True):
        if pd.isna(num) or pd.isna(den) or den == 0:
            assert pd.isna(rate)
        else:
            assert rate == pytest.approx(num * 1000 / den)


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=1, max_value=50))
def test_round_half_up_is_the_nearest_multiple_with_halves_up(value, base):
    rounded = int(round_half_up(np.array([value]), base)[0])
    assert rounded % base == 0
    assert -base / 2 < rounded - value <= base / 2


@pytest.mark.parametrize(
    ("count", "published"),
    [(0, None), (7, None), (8, 10), (12, 10), (13, 15), (17, 15), (18, 20), (22, 20)],
)
def test_threshold_and_halves_up_with_the_defaults(count, published):
    df = pd.DataFrame({"n": pd.array([count], dtype="Int64")})
    out, summary = apply_sdc(df, {"n": ColumnSdc("count")}, threshold=8, base=5)
    value = out.n.iloc[0]
    assert (None if pd.isna(value) else int(value)) == published
    assert summary.cells_rounded == int(published is not None and published != count)


def test_a_rate_scale_can_come_from_a_column():
    df = pd.DataFrame({"n": [10, 20], "d": [100, 100], "per": [100, 1000], "r": [0.0, 0.0]})
    spec = {
        "n": ColumnSdc("count"),
        "d": ColumnSdc("count"),
        "per": ColumnSdc("none"),
        "r": ColumnSdc("rate", "n", "d", "per"),
    }
    out, _ = apply_sdc(df, spec, threshold=8, base=5)
    assert list(out.r) == [10.0, 200.0]


def test_a_column_without_a_rule_is_refused():
    with pytest.raises(PlacelinkError, match="secret"):
        apply_sdc(pd.DataFrame({"secret": [1]}), {}, threshold=8, base=5)


def test_specs_come_from_schema_meta():
    specs = sdc_columns(
        {
            "n": {"sdc": "count"},
            "d": {"sdc": "count"},
            "r": {"sdc": "rate", "numerator": "n", "denominator": "d", "per": 1000},
        }
    )
    assert specs["r"] == ColumnSdc("rate", "n", "d", 1000)
    with pytest.raises(PlacelinkError, match="meta.sdc"):
        sdc_columns({"x": {}})


# --- differencing across tables and person-level coarsening ----------------------------------

COUNT = {"group": ColumnSdc("none"), "people": ColumnSdc("count")}


def _published_interval(value, threshold: int, base: int) -> tuple[int, int]:
    """The true counts an attacker knows a published count could have come from."""
    if pd.isna(value):
        return 0, threshold - 1
    return max(threshold, int(value) - base // 2), int(value) + (base - 1) // 2


def _pinned(parts: list[int], threshold: int = 8, base: int = 5) -> list[int]:
    """The suppressed parts an attacker pins to one value from the published parts and total."""
    detail = pd.DataFrame({"group": [f"g{i}" for i in range(len(parts))], "people": parts})
    total = pd.DataFrame({"group": ["all"], "people": [sum(parts)]})
    detail_out, _ = apply_sdc(detail, COUNT, threshold, base)
    total_out, _ = apply_sdc(total, COUNT, threshold, base)
    bounds = [_published_interval(v, threshold, base) for v in detail_out["people"]]
    total_lo, total_hi = _published_interval(total_out["people"].iloc[0], threshold, base)
    pinned = []
    for i, value in enumerate(detail_out["people"]):
        if not pd.isna(value):
            continue
        others_lo = sum(lo for j, (lo, _) in enumerate(bounds) if j != i)
        others_hi = sum(hi for j, (_, hi) in enumerate(bounds) if j != i)
        lo = max(0, total_lo - others_hi)
        hi = min(threshold - 1, total_hi - others_lo)
        assert lo <= parts[i] <= hi  # the attacker's interval always holds the truth
        if hi == lo:
            pinned.append(i)
    return pinned


@settings(max_examples=500)
@given(st.lists(st.integers(min_value=0, max_value=60), min_size=2, max_size=3))
def test_a_total_beside_up_to_three_parts_pins_no_suppressed_part(parts):
    """One aggregate table publishes the parts, another their total: with the default rule
    (suppress below 8, round to 5) differencing never pins a suppressed part of three or fewer."""
    assert _pinned(parts) == [], parts


def test_a_total_beside_four_suppressed_parts_would_pin_them():
    """Why placelink publishes no aggregate table that is a margin of another (see the e2e
    guard test): four parts of 7 total 28, published 30, so each part must be 7."""
    assert _pinned([7, 7, 7, 7]) == [0, 1, 2, 3]


def test_a_share_is_published_only_where_its_count_is():
    frame = pd.DataFrame({"records": [3, 40], "f1": [0.91, 0.99]})
    spec = {"records": ColumnSdc("count"), "f1": ColumnSdc("share", of="records")}
    out, _ = apply_sdc(frame, spec, 8, 5)
    assert out["records"].isna().tolist() == [True, False]
    assert out["f1"].isna().tolist() == [True, False] and out["f1"].iloc[1] == pytest.approx(0.99)


def test_person_tables_top_code_ages_and_publish_months_not_days():
    from placelink.sdc import apply_person_disclosure

    frame = pd.DataFrame(
        {"age": [34, 90, 97, None], "admitted": ["2024-03-17", "2023-12-01", None, "2024-02-29"]}
    )
    out = apply_person_disclosure(
        frame, {"age": {"disclose": "age"}, "admitted": {"disclose": "month"}}
    )
    assert out["age"].tolist()[:3] == [34, 90, 90] and pd.isna(out["age"].iloc[3])
    assert [None if pd.isna(d) else str(d) for d in out["admitted"]] == [
        "2024-03-01", "2023-12-01", None, "2024-02-01"
    ]  # fmt: skip
    assert str(out["admitted"].dtype) == "date32[day][pyarrow]"
