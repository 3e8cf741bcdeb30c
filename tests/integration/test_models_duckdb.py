"""The SQL models on a hand-made town whose every measure has a known answer.

Places: N1 (locality L1, IMD decile 2), N2 (L2, decile 7), N3 (L2, decile 10, nobody in it).
Data period 2023-04 to 2026-03. People:
  1  70, N1: emergency admission 2024-05-01 -> home 05-10; social care request 05-13 (3 days);
     emergency readmission 05-25 (15 days) -> home 05-30; ST-Max 06-01 to 07-15 (2 days).
  2  82, N1: emergency fall admission 2024-09-01 (S720, W199) -> care home 09-20;
     permanent nursing care from 09-20.
  3  30, N2: A&E 2024-04-01; UC claim from 05-15; sanction 06-10; A&E with F329 06-20;
     homelessness approach (relief, mental health need) 07-01 to 08-15, no health contact after.
  4  45, N2: five A&E attendances in 2025/26.
  5  50, N2: needs in all four domains in 2025-10.
  6  90, N1: emergency admission 2025-01-10, died in hospital 01-20.
  7  75, N2: emergency admission 2025-06-01 -> home 06-10; first social care request 08-01.
  8  40, N2: UC claim-months in 2023-04 and 2026-03 (earnings, no needs): the period's ends.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text

from placelink.publish import publish_model
from placelink.sqlmodels import load_project, run_all

PROJECT = Path(__file__).resolve().parents[2] / "dbt_like_sql"
PLACES = {"N1": ("L1", 2), "N2": ("L2", 7), "N3": ("L2", 10)}
COMMON = (
    "person_id bigint, record_id varchar, extract_month varchar, age_at_event integer, "
    "sex varchar, postcode_district varchar, lsoa varchar, neighbourhood varchar, "
    "locality varchar, imd_decile integer"
)
DDL = {
    "raw_health_apc": "admidate date, epistart date, epiend date, disdate date, admimeth varchar, "
    "admisorc varchar, disdest varchar, dismeth varchar, diag_4_01 varchar, diag_4_02 varchar, "
    "diag_4_03 varchar, tretspef varchar",
    "raw_health_ecds": "arrival_date date, arrival_time varchar, arrival_mode varchar, "
    "attendance_category varchar, chief_complaint varchar, diagnosis varchar, "
    "diag_icd10 varchar, discharge_destination varchar, department_type varchar",
    "raw_social_care": "event_type varchar, event_start date, event_end date, "
    "request_route_of_access varchar, event_outcome varchar, service_type varchar, "
    "service_component varchar, primary_support_reason varchar",
    "raw_housing": "approach_date date, duty varchar, reason_loss_settled_home varchar, "
    "support_needs varchar, accommodation_at_approach varchar, outcome varchar, "
    "outcome_date date",
    "raw_benefits": "claim_id varchar, assessment_period_start date, household_type varchar, "
    "housing_element double, earnings double, lcw boolean, sanction_start date, "
    "sanction_reason varchar, sanction_days integer, award_amount double",
}
AGES = {1: 70, 2: 82, 3: 30, 4: 45, 5: 50, 6: 90, 7: 75, 8: 40}
HOME = {1: "N1", 2: "N1", 3: "N2", 4: "N2", 5: "N2", 6: "N1", 7: "N2", 8: "N2"}


def _d(s: str | None) -> date | None:
    return date.fromisoformat(s) if s else None


def _common(person: int, record_id: str, on: str) -> dict:
    place = HOME[person]
    locality, decile = PLACES[place]
    return {
        "person_id": person,
        "record_id": record_id,
        "extract_month": on[:7],
        "age_at_event": AGES[person],
        "sex": "F" if person % 2 else "M",
        "postcode_district": "AB1",
        "lsoa": f"{place}-1",
        "neighbourhood": place,
        "locality": locality,
        "imd_decile": decile,
    }


def apc(person, rid, admitted, discharged, *, admimeth="21", admisorc="19", disdest="19",
        dismeth="1", diags=("I10", None, None)):  # fmt: skip
    return {
        **_common(person, rid, admitted),
        "admidate": _d(admitted), "epistart": _d(admitted), "epiend": _d(discharged),
        "disdate": _d(discharged), "admimeth": admimeth, "admisorc": admisorc,
        "disdest": disdest, "dismeth": dismeth, "diag_4_01": diags[0], "diag_4_02": diags[1],
        "diag_4_03": diags[2], "tretspef": "300",
    }  # fmt: skip


def ecds(person, rid, arrived, icd10="R104"):
    return {
        **_common(person, rid, arrived),
        "arrival_date": _d(arrived), "arrival_time": "10:00", "arrival_mode": "1048031000000100",
        "attendance_category": "1", "chief_complaint": "21522001", "diagnosis": "21522001",
        "diag_icd10": icd10, "discharge_destination": "306689006", "department_type": "01",
    }  # fmt: skip


def care(person, rid, kind, start, end=None, service_type=None):
    return {
        **_common(person, rid, start),
        "event_type": kind, "event_start": _d(start), "event_end": _d(end),
        "request_route_of_access": "Community", "event_outcome": None,
        "service_type": service_type, "service_component": None,
        "primary_support_reason": "Physical Support: Personal Care Support",
    }  # fmt: skip


def approach(person, rid, on, duty, needs, outcome_on):
    return {
        **_common(person, rid, on),
        "approach_date": _d(on), "duty": duty, "reason_loss_settled_home": "Family or friends",
        "support_needs": needs, "accommodation_at_approach": "Living with family",
        "outcome": "Secured accommodation", "outcome_date": _d(outcome_on),
    }  # fmt: skip


def claim(person, rid, claim_id, on, *, housing=0.0, earnings=0.0, sanction=None):
    return {
        **_common(person, rid, on),
        "claim_id": claim_id, "assessment_period_start": _d(on), "household_type": "Single",
        "housing_element": housing, "earnings": earnings, "lcw": False,
        "sanction_start": _d(sanction),
        "sanction_reason": "Failure to attend" if sanction else None,
        "sanction_days": 28 if sanction else None, "award_amount": 400.0,
    }  # fmt: skip


RAW = {
    "raw_health_apc": [
        apc(1, "A1", "2024-05-01", "2024-05-10"),
        apc(1, "A2", "2024-05-25", "2024-05-30"),
        apc(2, "A3", "2024-09-01", "2024-09-20", disdest="54", diags=("S720", "W199", None)),
        apc(6, "A4", "2025-01-10", "2025-01-20", dismeth="4", disdest="79"),
        apc(7, "A5", "2025-06-01", "2025-06-10"),
    ],
    "raw_health_ecds": [
        ecds(3, "E1", "2024-04-01"),
        ecds(3, "E2", "2024-06-20", icd10="F329"),
        *[ecds(4, f"E4{m}", f"2025-{m:02d}-01") for m in range(5, 10)],
        ecds(5, "E5", "2025-10-01", icd10="F102"),
    ],
    "raw_social_care": [
        care(1, "S1", "Request", "2024-05-13", "2024-05-13"),
        care(1, "S2", "Service", "2024-06-01", "2024-07-15", "Short Term Support: ST-Max"),
        care(2, "S3", "Service", "2024-09-20", None, "Long Term Support: Nursing Care"),
        care(5, "S5", "Service", "2025-10-05", "2025-12-31", "Long Term Support: Community"),
        care(7, "S7", "Request", "2025-08-01", "2025-08-01"),
    ],
    "raw_housing": [
        approach(
            3, "H1", "2024-07-01", "relief", "History of mental health problems;Drugs", "2024-08-15"
        ),  # fmt: skip
        approach(5, "H5", "2025-10-10", "prevention", "Physical ill health", "2025-11-01"),
    ],
    "raw_benefits": [
        claim(3, "B1", "C3", "2024-05-15", housing=300.0),
        claim(3, "B2", "C3", "2024-06-15", housing=300.0, sanction="2024-06-10"),
        claim(3, "B3", "C3", "2024-07-15", housing=300.0, sanction="2024-06-10"),
        claim(5, "B5", "C5", "2025-10-15", housing=250.0),
        claim(8, "B8a", "C8", "2023-04-15", earnings=900.0),
        claim(8, "B8b", "C8", "2026-03-15", earnings=900.0),
    ],
}
BANDS = ["0-17", "18-34", "35-49", "50-64", "65-74", "75-84", "85+"]
# Per neighbourhood and year: 5,000 people, 4,000 of them 18+, 1,000 of them 65+.
BAND_POPULATION = [1000, 1000, 1000, 1000, 500, 300, 200]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    engine = create_engine(f"duckdb:///{tmp_path_factory.mktemp('wh') / 'placelink.duckdb'}")
    with engine.begin() as conn:
        for table, columns in DDL.items():
            conn.execute(text(f"create table {table} ({COMMON}, {columns})"))
            rows = RAW[table]
            names = list(rows[0])
            conn.execute(
                text(
                    f"insert into {table} ({', '.join(names)}) "
                    f"values ({', '.join(':' + n for n in names)})"
                ),
                rows,
            )
        conn.execute(
            text(
                "create table raw_record_links (source varchar, record_id varchar, "
                "person_id bigint, cluster_size integer)"
            )
        )
        links = [
            {"s": t.removeprefix("raw_"), "r": r["record_id"], "p": r["person_id"]}
            for t, rows in RAW.items()
            for r in rows
        ]
        conn.execute(text("insert into raw_record_links values (:s, :r, :p, 1)"), links)
        conn.execute(
            text(
                "create table raw_neighbourhoods "
                "(neighbourhood varchar, locality varchar, imd_decile integer)"
            )
        )
        conn.execute(
            text("insert into raw_neighbourhoods values (:n, :l, :d)"),
            [{"n": n, "l": loc, "d": dec} for n, (loc, dec) in PLACES.items()],
        )
        conn.execute(
            text(
                "create table raw_population (neighbourhood varchar, locality varchar, "
                "imd_decile integer, year integer, age_band varchar, sex varchar, "
                "population integer)"
            )
        )
        conn.execute(
            text("insert into raw_population values (:n, :l, :d, :y, :b, :s, :p)"),
            [
                {"n": n, "l": loc, "d": dec, "y": y, "b": b, "s": s, "p": pop // 2}
                for n, (loc, dec) in PLACES.items()
                for y in (2023, 2024, 2025)
                for b, pop in zip(BANDS, BAND_POPULATION, strict=True)
                for s in ("F", "M")
            ],
        )
    project = load_project(PROJECT)
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
            if "not_null" in column.tests:
                assert df[column.name].notna().all(), (name, column.name)
            if "unique" in column.tests:
                assert df[column.name].is_unique, (name, column.name)


def test_aggregate_columns_all_carry_an_sdc_kind(warehouse):
    _, project, _ = warehouse
    for model in project.models.values():
        if model.publish == "aggregate":
            for column in model.columns.values():
                assert column.meta.get("sdc") in ("count", "rate", "none"), column.name


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
