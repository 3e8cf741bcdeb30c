"""The SQL models on a hand-made town whose every measure has a known answer.

The town (people, places and their records) is described and defined in raw_fixture.py.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text

from placelink.publish import publish_model
from placelink.sqlmodels import run_all
from placelink.sqltests import run_schema_tests
from tests.demo_project import demo_project
from tests.integration.raw_fixture import RAW, load_raw


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    engine = create_engine(f"duckdb:///{tmp_path_factory.mktemp('wh') / 'placelink.duckdb'}")
    load_raw(engine)
    project = demo_project()
    results = run_all(engine, project)
    yield engine, project, {r.name: r for r in results}
    engine.dispose()


def table(warehouse, name: str) -> pd.DataFrame:
    engine, _, _ = warehouse
    with engine.connect() as conn:
        return pd.read_sql(text(f"select * from {name}"), conn)


def test_every_model_runs_and_every_column_is_described(warehouse):
    _, project, results = warehouse
    assert set(results) == set(project.models)
    for name, result in results.items():
        described = list(project.models[name].columns)
        assert result.columns == described, name
        assert project.models[name].description, name


def test_key_columns_are_unique_and_not_null(warehouse):
    _, project, _ = warehouse
    for name, model in project.models.items():
        df = table(warehouse, name)
        for column in model.columns.values():
            if "not_null" in column.test_names:
                assert df[column.name].notna().all(), (name, column.name)
            if "unique" in column.test_names:
                assert df[column.name].is_unique, (name, column.name)


def test_every_schema_test_runs_and_passes(warehouse):
    engine, project, _ = warehouse
    for name, model in project.models.items():
        results = run_schema_tests(engine, project, name)
        declared = [(c.name, t.name) for c in model.columns.values() for t in c.tests]
        assert [(r.column, r.test) for r in results] == declared, name
        assert not [r for r in results if not r.passed], name


def test_aggregate_columns_all_carry_an_sdc_kind(warehouse):
    _, project, _ = warehouse
    for model in project.models.values():
        if model.publish == "aggregate":
            for column in model.columns.values():
                assert column.meta.get("sdc") in ("count", "rate", "share", "none"), column.name


def test_period_runs_from_the_first_to_the_last_extract_month(warehouse):
    period = table(warehouse, "int_period").iloc[0]
    assert period.period_start == date(2023, 4, 1)
    assert period.period_end == date(2026, 3, 31)


def test_person_spine(warehouse):
    spine = table(warehouse, "person_spine").set_index("person_id")
    assert len(spine) == 8
    one = spine.loc[1]
    assert one.age_band == "65-74"
    assert (one.neighbourhood, one.locality, one.deprivation_quintile) == ("N1", "L1", 1)
    assert one.sources_present == "health_apc;social_care"
    assert one.records_linked == 4
    assert one.first_seen == date(2024, 5, 1) and one.last_seen == date(2024, 7, 15)
    assert spine.loc[6].date_of_death == date(2025, 1, 20)
    assert pd.isna(spine.loc[1].date_of_death)
    assert spine.loc[3].sources_present == "benefits;health_ecds;housing"
    assert bool(spine.loc[5].uses_housing) and bool(spine.loc[5].uses_benefits)


def test_service_events_keep_each_sources_coded_fields(warehouse):
    events = table(warehouse, "service_events").set_index(["source", "record_id"])
    total = sum(len(rows) for rows in RAW.values())
    assert len(events) == total
    fall = events.loc[("health_apc", "A3")]
    assert (fall.diagnosis_1, fall.diagnosis_2, fall.discharge_destination) == (
        "S720",
        "W199",
        "54",
    )
    assert bool(fall.is_fall_admission) and pd.isna(fall.duty)
    sanction = events.loc[("benefits", "B2")]
    assert sanction.event_type == "sanction" and sanction.event_start == date(2024, 6, 10)
    assert events.loc[("benefits", "B3")].event_type == "claim month"
    assert events.loc[("housing", "H1")].duty == "relief"


def test_discharge_pathways(warehouse):
    d = table(warehouse, "discharge_pathways").set_index("spell_id")
    assert set(d.index) == {"A1", "A2", "A3", "A4", "A5"}
    first, second = d.loc["A1"], d.loc["A2"]
    assert first.days_to_social_care == 3 and first.social_care_days_band == "3-7"
    assert bool(first.readmitted_within_30_days) and first.days_to_readmission == 15
    assert not first.reablement_within_7_days
    assert second.social_care_days_band == "0-2" and bool(second.reablement_within_7_days)
    assert bool(second.at_home_on_day_91) and not second.readmitted_within_30_days
    assert d.loc["A3"].destination_group == "care home"
    assert d.loc["A3"].days_to_social_care == 0
    assert bool(d.loc["A3"].in_permanent_care_on_day_91) and not d.loc["A3"].at_home_on_day_91
    assert d.loc["A4"].destination_group == "died" and bool(d.loc["A4"].died_within_91_days)
    assert d.loc["A5"].social_care_days_band == "29-90" and bool(d.loc["A5"].social_care_gap)


def test_crisis_pathways(warehouse):
    c = table(warehouse, "crisis_pathways").set_index("crisis_id")
    assert set(c.index) == {"housing:H1", "housing:H5", "benefits:B2"}
    sanction = c.loc["benefits:B2"]
    assert sanction.crisis_date == date(2024, 6, 10)
    assert (sanction.ae_attendances_before_90, sanction.ae_attendances_after_90) == (1, 1)
    assert sanction.homelessness_approaches_after_90 == 1
    assert bool(sanction.windows_complete)
    approach = c.loc["housing:H1"]
    assert (approach.ae_attendances_before_90, approach.ae_attendances_after_90) == (1, 0)
    assert bool(approach.mental_health_need_no_health_contact)
    assert not c.loc["housing:H5"].mental_health_need_no_health_contact


def test_integration_profile(warehouse):
    p = table(warehouse, "integration_profile").set_index(["person_id", "financial_year"])
    three = p.loc[(3, "2024/25")]
    assert (three.health_need, three.social_care_need, three.housing_need, three.income_need) == (
        True,
        False,
        True,
        True,
    )
    assert three.domain_count == 3 and three.services_used == 3
    assert three.months_active == 5 and three.concurrent_months == 2
    assert three.handoffs == 2 and three.homelessness_gaps == 1
    one = p.loc[(1, "2024/25")]
    assert one.domain_count == 1 and one.concurrent_months == 1 and one.handoffs == 3
    assert p.loc[(5, "2025/26")].domain_count == 4
    assert p.loc[(7, "2025/26")].discharge_gaps == 1
    # A nursing placement with no end is active to the period's end.
    assert p.loc[(2, "2025/26")].social_care_need


def _outcomes(warehouse) -> pd.DataFrame:
    o = table(warehouse, "neighbourhood_outcomes")
    return o.set_index(["neighbourhood", "financial_year", "measure_id"])


def test_neighbourhood_outcomes_is_a_full_grid(warehouse):
    _, project, _ = warehouse
    o = table(warehouse, "neighbourhood_outcomes")
    measures = project.models["neighbourhood_outcomes"].meta["measures"]
    assert len(o) == 3 * 3 * len(measures)
    empty = o[o.neighbourhood == "N3"]
    assert (empty.numerator == 0).all() and (empty.population == 5000).all()


@pytest.mark.parametrize(
    ("place", "year", "measure", "numerator", "denominator", "rate"),
    [
        ("N1", "2024/25", "01", 4, 1000, 4.0),  # people 1 (twice), 2 and 6
        ("N1", "2024/25", "02", 2, 3, 200 / 3),  # person 2 went to a care home
        ("N1", "2024/25", "03a", 1, 3, 100 / 3),
        ("N1", "2024/25", "03b", 1, 3, 100 / 3),
        ("N1", "2024/25", "04a", 2, 3, 200 / 3),
        ("N1", "2024/25", "04b", 1, 3, 100 / 3),
        ("N1", "2024/25", "04e", 0, 3, 0.0),
        ("N1", "2024/25", "05", 1, 1, 100.0),
        ("N1", "2024/25", "06", 1, 1000, 100.0),
        ("N1", "2024/25", "07", 1, 1000, 100.0),
        ("N2", "2025/26", "04d", 1, 1, 100.0),
        ("N2", "2025/26", "08", 1, 5000, 0.2),
        ("N2", "2024/25", "09a", 1, 1, 1000.0),
        ("N2", "2024/25", "09b", 0, 1, 0.0),
        ("N2", "2024/25", "09e", 1, 1, 100.0),
        ("N2", "2024/25", "10a", 1, 1, 1000.0),
        ("N2", "2024/25", "10b", 1, 1, 1000.0),
        ("N2", "2024/25", "10d", 1, 1, 1000.0),
        ("N2", "2024/25", "10f", 0, 1, 0.0),
        ("N2", "2024/25", "11b", 1, 4000, 0.25),
        ("N2", "2025/26", "11c", 1, 4000, 0.25),
        ("N1", "2023/24", "01", 0, 1000, 0.0),
    ],
)
def test_neighbourhood_outcomes_measures(
    warehouse, place, year, measure, numerator, denominator, rate
):
    row = _outcomes(warehouse).loc[(place, year, measure)]
    assert (row.numerator, row.denominator) == (numerator, denominator)
    assert row.rate == pytest.approx(rate)


def test_service_overlap(warehouse):
    o = table(warehouse, "service_overlap").set_index(["locality", "combination"])
    assert len(o) == 2 * 15
    assert o.loc[("L1", "health + social care")].people == 2
    assert o.loc[("L1", "health")].people == 1
    assert o.loc[("L2", "health + social care + housing + benefits")].people == 1
    assert o.loc[("L2", "health + housing + benefits")].people == 1
    assert o.people.sum() == 8


def test_discharge_to_care_timeline(warehouse):
    t = table(warehouse, "discharge_to_care_timeline").set_index(
        ["locality", "age_band", "days_band"]
    )
    assert len(t) == 2 * 3 * 5
    assert t.loc[("L1", "65-74", "0-2")].discharges == 1
    assert t.loc[("L1", "65-74", "3-7")].discharges == 1
    assert t.loc[("L1", "65-74", "3-7")].percent == pytest.approx(50.0)
    assert t.loc[("L1", "75-84", "0-2")].discharges == 1
    assert t.loc[("L2", "75-84", "29-90")].discharges == 1
    assert t.loc[("L1", "85+", "0-2")].discharges_total == 0  # person 6 died in hospital


def test_multiple_disadvantage(warehouse):
    m = table(warehouse, "multiple_disadvantage").set_index(
        ["neighbourhood", "financial_year", "domain_count"]
    )
    assert len(m) == 3 * 3 * 4
    assert m.loc[("N2", "2024/25", 3)].people == 1
    assert m.loc[("N2", "2025/26", 4)].people == 1
    assert m.loc[("N2", "2025/26", 4)].per_1000 == pytest.approx(0.25)
    assert m.loc[("N1", "2024/25", 1)].people == 2  # people 1 and 2: social care only
    assert m.loc[("N1", "2024/25", 1)].deprivation_quintile == 1


def test_published_aggregates_are_disclosure_controlled(warehouse, tmp_path):
    engine, project, _ = warehouse
    for name, model in project.models.items():
        if model.publish is None:
            continue
        result = publish_model(engine, project, name, tmp_path, threshold=8, base=5)
        assert result.path == tmp_path / model.publish / f"{name}.parquet"
        published = pq.read_table(result.path)
        schema = published.schema
        assert schema.metadata[b"description"].decode() == model.description
        for column in model.columns.values():
            assert schema.field(column.name).metadata[b"description"].decode() == (
                column.description
            )
        if model.publish == "aggregate":
            assert result.sdc is not None and result.sdc.cells_total > 0
            df = published.to_pandas()
            for column in model.columns.values():
                if column.meta["sdc"] == "count":
                    values = df[column.name].dropna()
                    assert ((values % 5 == 0) & (values >= 10)).all(), (name, column.name)
    outcomes = pq.read_table(tmp_path / "aggregate" / "neighbourhood_outcomes.parquet")
    frame = outcomes.to_pandas().set_index(["neighbourhood", "financial_year", "measure_id"])
    row = frame.loc[("N1", "2024/25", "01")]
    assert pd.isna(row.numerator) and row.denominator == 1000 and pd.isna(row.rate)
    assert not (tmp_path / "aggregate" / "person_spine.parquet").exists()
