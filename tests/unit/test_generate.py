"""The synthetic place generator: files, determinism, truth, identifier errors, measure inputs."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from importlib import resources
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from placelink.errors import ConfigError
from placelink.generate import GenerateSummary, generate

REPO = Path(__file__).resolve().parents[2]
SMALL = {"people": 2000, "months": 6}
APC_COLUMNS = [
    "epikey",
    "nhs_number",
    "forename",
    "surname",
    "dob",
    "sex",
    "postcode",
    "admidate",
    "epistart",
    "epiend",
    "disdate",
    "admimeth",
    "admisorc",
    "disdest",
    "dismeth",
    "diag_4_01",
    "diag_4_02",
    "diag_4_03",
    "tretspef",
]
ECDS_COLUMNS = [
    "attendance_id",
    "nhs_number",
    "forename",
    "surname",
    "date_of_birth",
    "sex",
    "postcode",
    "arrival_date",
    "arrival_time",
    "arrival_mode",
    "attendance_category",
    "chief_complaint",
    "diagnosis",
    "diag_icd10",
    "discharge_destination",
    "department_type",
]
PEOPLE_COLUMNS = [
    "person_ref",
    "nhs_number",
    "first_name",
    "last_name",
    "birth_date",
    "gender",
    "postcode",
]
EVENT_COLUMNS = [
    "event_id",
    "person_ref",
    "extract_month",
    "event_type",
    "event_start",
    "event_end",
    "request_route_of_access",
    "event_outcome",
    "service_type",
    "service_component",
    "primary_support_reason",
]
HOUSING_KEYS = [
    "case_id",
    "approach_date",
    "duty",
    "reason_loss_settled_home",
    "support_needs",
    "accommodation_at_approach",
    "outcome",
    "outcome_date",
    "applicant",
]
APPLICANT_KEYS = [
    "forename",
    "surname",
    "dob",
    "sex",
    "ni_number",
    "nhs_number",
    "last_settled_postcode",
]
BENEFITS_COLUMNS = [
    "claim_month_id",
    "claim_id",
    "ni_number",
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "postcode",
    "assessment_period_start",
    "household_type",
    "housing_element",
    "earnings",
    "lcw",
    "sanction_start",
    "sanction_reason",
    "sanction_days",
    "award_amount",
]
TRUTH_COLUMNS = [
    "source",
    "record_id",
    "true_person_id",
    "age_band",
    "sex",
    "neighbourhood",
    "deprivation_quintile",
    "name_origin",
]
EMERGENCY = {"21", "22", "23", "24", "25", "28", "2A", "2B", "2C", "2D"}


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load(landing: Path) -> dict[str, pd.DataFrame]:
    """Every extract as a DataFrame of strings (benefits keeps its types), plus the truth."""
    con = sqlite3.connect(landing / "social_care" / "case_management.sqlite")
    social = pd.read_sql("select * from events join people using (person_ref)", con)
    con.close()
    housing = pd.DataFrame(
        [
            json.loads(line)
            for f in sorted((landing / "housing").glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").split("\n")
            if line
        ]
    )
    return {
        "health_apc": pd.concat(
            pd.read_csv(f, dtype=str) for f in sorted((landing / "health_apc").glob("*.csv"))
        ),
        "health_ecds": pd.concat(
            pd.read_csv(f, dtype=str) for f in sorted((landing / "health_ecds").glob("*.csv"))
        ),
        "social_care": social,
        "housing": housing,
        "benefits": pq.read_table(landing / "benefits").to_pandas(),
        "truth": pd.read_csv(landing / "_truth" / "truth.csv", dtype=str),
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, GenerateSummary]:
    home = tmp_path_factory.mktemp("small")
    return home / "landing", generate(home, seed=7, **SMALL)


@pytest.fixture(scope="module")
def year(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """A bigger, longer run where the rarer measure ingredients are sure to occur."""
    home = tmp_path_factory.mktemp("year")
    generate(home, people=6000, months=12, seed=11)
    return load(home / "landing")


def test_packaged_sources_file_is_a_byte_copy_of_the_repo_one(small):
    packaged = (resources.files("placelink.generate") / "sources.yaml").read_bytes()
    assert packaged == (REPO / "sources.yaml").read_bytes()
    written = (small[0] / "sources.yaml").read_bytes()
    period = b'period: {first: "2023-04", last: "2023-09"}  # the months generated\n'
    assert written == packaged.replace(b"\nversion: 1\n", b"\nversion: 1\n" + period)


def test_same_seed_gives_identical_bytes_and_another_seed_differs(small, tmp_path):
    generate(tmp_path / "again", seed=7, **SMALL)
    generate(tmp_path / "other", seed=8, **SMALL)
    assert tree_hash(tmp_path / "again" / "landing") == tree_hash(small[0])
    assert tree_hash(tmp_path / "other" / "landing") != tree_hash(small[0])


def test_rerun_replaces_the_previous_landing(tmp_path):
    generate(tmp_path, seed=7, **SMALL)
    (tmp_path / "landing" / "stray.txt").write_text("x")
    generate(tmp_path, seed=7, people=2000, months=3)
    assert not (tmp_path / "landing" / "stray.txt").exists()
    assert len(list((tmp_path / "landing" / "health_apc").glob("*.csv"))) == 3


def test_every_documented_file_exists_with_its_columns(small):
    landing, summary = small
    months = ["2023-04", "2023-05", "2023-06", "2023-07", "2023-08", "2023-09"]
    for month in months:
        assert pd.read_csv(landing / "health_apc" / f"{month}.csv").columns.tolist() == APC_COLUMNS
        assert pd.read_csv(landing / "health_ecds" / f"{month}.csv").columns.tolist() == (
            ECDS_COLUMNS
        )
        assert (landing / "housing" / f"{month}.jsonl").exists()
        schema = pq.read_schema(landing / "benefits" / f"{month}.parquet")
        assert schema.names == BENEFITS_COLUMNS
        for column in ("date_of_birth", "assessment_period_start", "sanction_start"):
            assert schema.field(column).type == pa.date32()
    con = sqlite3.connect(landing / "social_care" / "case_management.sqlite")
    assert [r[1] for r in con.execute("pragma table_info(people)")] == PEOPLE_COLUMNS
    assert [r[1] for r in con.execute("pragma table_info(events)")] == EVENT_COLUMNS
    stored = {r[0] for r in con.execute("select distinct extract_month from events")}
    con.close()
    assert stored <= set(months)
    for line in (
        (landing / "housing" / "2023-06.jsonl").read_text(encoding="utf-8").split("\n")[:-1]
    ):
        record = json.loads(line)
        assert list(record) == HOUSING_KEYS
        assert list(record["applicant"]) == APPLICANT_KEYS
        assert isinstance(record["support_needs"], list)
    assert pd.read_csv(landing / "_truth" / "truth.csv").columns.tolist() == TRUTH_COLUMNS
    assert pd.read_csv(landing / "_reference" / "postcodes.csv").columns.tolist() == [
        "postcode",
        "postcode_district",
        "lsoa",
        "neighbourhood",
        "locality",
        "imd_decile",
    ]
    population = pd.read_csv(landing / "_reference" / "population.csv")
    assert population.columns.tolist() == [
        "neighbourhood",
        "locality",
        "imd_decile",
        "year",
        "age_band",
        "sex",
        "population",
    ]
    assert population.neighbourhood.nunique() == 12
    assert summary.files == 4 * len(months) + 1 + 4


def test_truth_has_one_row_per_record_of_every_source(small):
    landing, summary = small
    data = load(landing)
    truth = data["truth"]
    ids = {
        "health_apc": "epikey",
        "health_ecds": "attendance_id",
        "social_care": "event_id",
        "housing": "case_id",
        "benefits": "claim_month_id",
    }
    for source, column in ids.items():
        records = data[source][column].astype(str)
        assert records.is_unique, source
        in_truth = truth.loc[truth.source == source, "record_id"]
        assert sorted(in_truth) == sorted(records), source
        assert summary.records[source] == len(records)
    assert set(truth.deprivation_quintile) <= {"1", "2", "3", "4", "5"}
    assert set(truth.age_band) <= {"0-17", "18-34", "35-49", "50-64", "65-74", "75-84", "85+"}


def nhs_valid(number: str) -> bool:
    if len(number) != 10 or not number.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:9], range(10, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    return check != 10 and check == int(number[9])


def test_health_nhs_numbers_are_mostly_valid_and_transpositions_are_not(tmp_path):
    generate(tmp_path, seed=3, errors="heavy", **SMALL)
    data = load(tmp_path / "landing")
    numbers = pd.concat([data["health_apc"].nhs_number, data["health_ecds"].nhs_number]).dropna()
    valid = numbers.map(nhs_valid)
    assert valid.mean() > 0.95
    assert (~valid).sum() > 0


def test_no_errors_keeps_identity_fields_stable_within_a_source(tmp_path):
    generate(tmp_path, seed=5, errors="none", **SMALL)
    data = load(tmp_path / "landing")
    truth = data["truth"][["source", "record_id", "true_person_id"]]
    keys = {
        "health_apc": ("epikey", ["nhs_number", "forename", "dob", "sex"]),
        "health_ecds": ("attendance_id", ["nhs_number", "forename", "date_of_birth", "sex"]),
        "benefits": ("claim_month_id", ["ni_number", "first_name", "date_of_birth", "sex"]),
    }
    for source, (record_id, fields) in keys.items():
        frame = (
            data[source]
            .astype({record_id: str})
            .merge(truth[truth.source == source], left_on=record_id, right_on="record_id")
        )
        assert frame[fields].notna().all().all(), source
        assert (frame.groupby("true_person_id")[fields].nunique() == 1).all().all(), source
        if "nhs_number" in fields:
            assert frame.nhs_number.map(nhs_valid).all()
    social = (
        data["social_care"]
        .astype({"event_id": str})
        .merge(truth[truth.source == "social_care"], left_on="event_id", right_on="record_id")
    )
    assert (social.groupby("true_person_id").person_ref.nunique() == 1).all()


def test_default_errors_vary_identity_within_a_source(year):
    ecds = year["health_ecds"].merge(year["truth"], left_on="attendance_id", right_on="record_id")
    varied = ecds.groupby("true_person_id")[["forename", "date_of_birth", "postcode"]].nunique()
    assert (varied > 1).any().all()


def test_unknown_error_level_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="errors must be"):
        generate(tmp_path, errors="some")


def with_person(frame: pd.DataFrame, record_id: str, truth: pd.DataFrame, source: str):
    t = truth[truth.source == source][["record_id", "true_person_id", "age_band"]]
    return frame.astype({record_id: str}).merge(t, left_on=record_id, right_on="record_id")


def test_each_measure_ingredient_occurs(year):
    truth = year["truth"]
    apc = with_person(year["health_apc"], "epikey", truth, "health_apc")
    ecds = with_person(year["health_ecds"], "attendance_id", truth, "health_ecds")
    social = with_person(year["social_care"], "event_id", truth, "social_care")
    housing = with_person(year["housing"], "case_id", truth, "housing")
    benefits = with_person(year["benefits"], "claim_month_id", truth, "benefits")
    for frame, column in (
        (apc, "admidate"),
        (apc, "disdate"),
        (social, "event_start"),
        (housing, "approach_date"),
    ):
        frame[column] = pd.to_datetime(frame[column])
    ecds["arrival_date"] = pd.to_datetime(ecds["arrival_date"], format="%d/%m/%Y")
    benefits["sanction_start"] = pd.to_datetime(benefits["sanction_start"])
    old = apc.age_band.isin(["65-74", "75-84", "85+"])
    emergency = apc.admimeth.isin(EMERGENCY)
    assert (old & emergency).sum() > 50
    falls = (
        emergency
        & apc.diag_4_01.str.startswith("S72")
        & apc.diag_4_02.str.match(r"W(0\d|1\d)", na=False)
    )
    assert falls.sum() > 0
    assert (apc.dismeth == "4").sum() > 0 and apc.admisorc.isin(["54", "65", "85"]).sum() > 0
    discharges = apc[old & emergency & (apc.dismeth == "1")].sort_values("disdate")
    readmit = discharges.merge(apc[emergency], on="true_person_id", suffixes=("", "_next"))
    gap = (readmit.admidate_next - readmit.disdate).dt.days
    assert ((gap >= 0) & (gap <= 30)).sum() > 0
    requests = social[social.event_type == "Request"]
    after = discharges.merge(requests, on="true_person_id")
    days = (after.event_start - after.disdate).dt.days
    assert ((days >= 0) & (days <= 7)).sum() > 0 and ((days > 7) & (days <= 90)).sum() > 0
    assert (after.request_route_of_access == "Discharge from Hospital").sum() > 0
    stmax = social[social.service_type == "Short Term Support: ST-Max"]
    reablement = discharges.merge(stmax, on="true_person_id")
    days = (reablement.event_start - reablement.disdate).dt.days
    assert ((days >= 0) & (days <= 7)).sum() > 0
    assert (
        social.service_type.isin(
            ["Long Term Support: Residential Care", "Long Term Support: Nursing Care"]
        ).sum()
        > 0
    )
    per_person = ecds.groupby("true_person_id").size()
    assert (per_person >= 5).sum() > 0
    mh = housing[
        housing.support_needs.map(lambda needs: "history_of_mental_health_problems" in needs)
    ]
    assert len(mh) > 0
    around = mh.merge(ecds, on="true_person_id")
    assert ((around.arrival_date - around.approach_date).dt.days.abs() <= 90).sum() > 0
    sanctions = benefits[benefits.sanction_start.notna()]
    assert len(sanctions) > 0
    crisis = sanctions.merge(ecds, on="true_person_id")
    days = (crisis.arrival_date - crisis.sanction_start).dt.days
    assert ((days >= 0) & (days <= 90)).sum() > 0
    services = truth.groupby("true_person_id").source.nunique()
    assert (services >= 3).sum() > 0
