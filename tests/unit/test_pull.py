"""The pull step: every row accounted for, bad files stopped with one clear message."""

import json
import sqlite3
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from placelink import connectors, pull
from placelink.connectors import landed_months
from placelink.errors import ConfigError, SourceError
from placelink.pull import (
    add_up,
    pull_month,
    pull_months,
    quarantine_path,
    read_reconciliation,
    standardised_path,
)
from placelink.settings import Settings
from placelink.sources import ConnectorSpec, SourceSpec, load_sources
from tests.unit.apc_extract import GOOD, HEADER, TODAY, csv_spec, land


def file_spec(kind: str, identity: dict, keep: tuple[str, ...], **extra) -> SourceSpec:
    """A source of one `kind` file a month (jsonl or parquet), landing/src/<month>.<kind>."""
    return SourceSpec(
        name="src",
        service="housing",
        connector=ConnectorSpec(kind=kind, path=f"landing/src/{{month}}.{kind}"),
        identity=identity,
        keep=keep,
        event_start=keep[0],
        **extra,
    )


def landed_file(settings: Settings, kind: str) -> Path:
    path = settings.landing / "src" / f"2024-01.{kind}"
    path.parent.mkdir(parents=True)
    return path


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(environ={}, home=tmp_path)


def test_clean_rows_are_standardised_and_reconcile(settings):
    land(settings, HEADER + "\n".join(GOOD) + "\n")
    result = pull_month(csv_spec(), "2024-01", settings, today=TODAY)
    assert (result.rows_in, result.valid, result.quarantined) == (2, 2, 0)
    rows = pd.read_parquet(standardised_path(settings, "apc", "2024-01"))
    assert rows.given_name.tolist() == ["ZOE", "JOHN"]
    assert rows.family_name.tolist() == ["OBRIEN SMITH", "SMITH"]
    assert rows.postcode.tolist() == ["PL1 4AB", "PL1 4AB"]
    assert rows.sex.tolist() == ["F", "M"]
    assert (
        pq.read_schema(standardised_path(settings, "apc", "2024-01")).field("date_of_birth").type
        == pa.date32()
    )
    assert read_reconciliation(standardised_path(settings, "apc", "2024-01")) == result


def test_bad_rows_are_quarantined_with_reasons_and_no_row_is_lost(settings):
    bad = [
        "E3,,Ann,Lee,31/02/1970,2,PL1 4AB,2024-01-07",  # unparseable date of birth
        "E4,,Ann,Lee,2090-01-01,2,PL1 4AB,2024-01-07",  # born in the future
        ",,Bob,Ray,1970-01-01,1,PL1 4AB,2024-01-07",  # no record id
        "E5,,Cy,Day,1970-01-01,1,PL1 4AB,2024-01-07",
        "E5,,Cy,Day,1970-01-01,1,PL1 4AB,2024-01-08",  # the same record id twice
        "E6,9434765918,Di,Fox,1970-01-01,7,NOTAPOSTCODE,2024-01-09",  # nulled with warnings
    ]
    land(settings, HEADER + "\n".join(GOOD + bad) + "\n")
    result = pull_month(csv_spec(), "2024-01", settings, today=TODAY)
    assert result.rows_in == 8
    assert result.valid + result.quarantined == result.rows_in
    assert result.quarantined == 5
    quarantined = pd.read_parquet(quarantine_path(settings, "apc", "2024-01"))
    reasons = dict(zip(quarantined.epikey.fillna(""), quarantined.reasons, strict=True))
    assert reasons["E3"] == "unparseable_date"
    assert reasons["E4"] == "impossible_date_of_birth"
    assert reasons[""] == "missing_record_id"
    assert quarantined.reasons.tolist().count("duplicate_record_id") == 2
    assert sorted(quarantined.row_number.tolist()) == [3, 4, 5, 6, 7]
    assert result.warnings == {
        "invalid_nhs_number": 1,
        "malformed_postcode": 1,
        "unknown_sex_code": 1,
    }
    valid = pd.read_parquet(standardised_path(settings, "apc", "2024-01"))
    e6 = valid.set_index("record_id").loc["E6"]
    assert pd.isna(e6.nhs_number) and pd.isna(e6.postcode) and pd.isna(e6.sex)


def test_a_source_may_quarantine_what_others_only_null(settings):
    land(settings, HEADER + "E6,9434765918,Di,Fox,1970-01-01,1,PL1 4AB,2024-01-09\n")
    spec = csv_spec(quarantine_on=frozenset({"invalid_nhs_number"}))
    result = pull_month(spec, "2024-01", settings, today=TODAY)
    assert (result.valid, result.quarantined) == (0, 1)
    assert result.reasons == {"invalid_nhs_number": 1}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty file"),
        (HEADER.replace(",postcode", "") + "E1,1,A,B,1950-01-01,1,2024-01-01\n", "postcode"),
        (HEADER.replace(",", ";") + GOOD[0].replace(",", ";") + "\n", "delimiter"),
        (HEADER.encode() + b"E1,,\xff\xfeAnn,Lee,1950-01-01,1,PL1 4AB,2024-01-01\n", "encoding"),
        (HEADER, "no rows"),
    ],
    ids=["empty", "missing-column", "wrong-delimiter", "undecodable", "header-only"],
)
def test_unreadable_files_stop_the_source_with_one_message_naming_the_file(
    settings, content, problem
):
    land(settings, content)
    with pytest.raises(SourceError) as raised:
        pull_month(csv_spec(), "2024-01", settings, today=TODAY)
    message = str(raised.value)
    assert str(settings.landing / "apc" / "2024-01.csv") in message
    assert problem in message
    assert "\n" not in message


def test_missing_file_is_named(settings):
    with pytest.raises(SourceError, match="2023-12.csv: file not found"):
        pull_month(csv_spec(), "2023-12", settings, today=TODAY)


def test_truncated_parquet_is_named(settings):
    path = landed_file(settings, "parquet")
    pq.write_table(pa.table({"id": ["1"] * 100, "ni": ["AB123456C"] * 100}), path)
    path.write_bytes(path.read_bytes()[:-40])
    spec = file_spec("parquet", {"record_id": "id", "ni_number": "ni"}, ("id",))
    with pytest.raises(SourceError, match="not a readable Parquet file"):
        pull_month(spec, "2024-01", settings, today=TODAY)


def test_a_truncated_csv_is_named_without_quoting_the_row(settings):
    full = HEADER + "\n".join(GOOD) + "\n"
    land(settings, full[: full.index("Smith,1960")])  # cut inside the second row
    with pytest.raises(SourceError) as raised:
        pull_month(csv_spec(), "2024-01", settings, today=TODAY)
    message = str(raised.value)
    assert "2024-01.csv: rows with the wrong number of fields (expected 8, got 4" in message
    # Arrow's own message quotes the row; none of its identifiers may travel on.
    for value in ("E2", "Mr John", "John", "Smith"):
        assert value not in message


def test_a_truncated_jsonl_is_named_without_quoting_it(settings):
    path = landed_file(settings, "jsonl")
    rows = [{"case_id": f"H{i}", "forename": "Siobhan", "dob": "03-04-1990"} for i in range(3)]
    text = "\n".join(json.dumps(r) for r in rows)
    path.write_text(text[: text.rindex("Siobhan") + 4])
    spec = file_spec("jsonl", {"record_id": "case_id", "given_name": "forename"}, ("dob",))
    with pytest.raises(SourceError) as raised:
        pull_month(spec, "2024-01", settings, today=TODAY)
    message = str(raised.value)
    assert f"{path}: not valid JSON lines" in message
    assert "Siob" not in message and "1990" not in message


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("sqlite:///{home}/landing/sc/cases.sqlite", "database error: DatabaseError"),
        ("postgresql+psycopg://u:secret@127.0.0.1:1/db", "database error: OperationalError"),
    ],
    ids=["corrupt-sqlite", "unreachable-server"],
)
def test_an_unusable_database_is_one_message_without_its_password(settings, url, problem):
    db = settings.landing / "sc" / "cases.sqlite"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"not a database " * 100)
    spec = SourceSpec(
        name="sc",
        service="social_care",
        connector=ConnectorSpec(kind="sql", url=url, table="events"),
        identity={"record_id": "event_id"},
        keep=("extract_month",),
        event_start="extract_month",
    )
    with pytest.raises(SourceError) as raised:
        pull_month(spec, "2024-01", settings, today=TODAY)
    message = str(raised.value)
    assert problem in message and "\n" not in message
    assert "secret" not in message


def test_sql_source_reads_one_month_and_names_a_missing_database(settings):
    db = settings.landing / "sc" / "cases.sqlite"
    db.parent.mkdir(parents=True)
    engine = sa.create_engine(f"sqlite:///{db}")
    pd.DataFrame(
        {"event_id": ["S1", "S2"], "extract_month": ["2024-01", "2024-02"], "name": ["A", "B"]}
    ).to_sql("events", engine, index=False)
    engine.dispose()
    spec = SourceSpec(
        name="sc",
        service="social_care",
        connector=ConnectorSpec(
            kind="sql", url="sqlite:///{home}/landing/sc/cases.sqlite", table="events"
        ),
        identity={"record_id": "event_id", "given_name": "name"},
        keep=("extract_month",),
        event_start="extract_month",
    )
    result = pull_month(spec, "2024-02", settings, today=TODAY)
    assert (result.rows_in, result.valid) == (1, 1)
    db.unlink()
    with pytest.raises(SourceError, match="cases.sqlite: file not found"):
        pull_month(spec, "2024-02", settings, today=TODAY)


def test_jsonl_nested_fields_are_flattened_and_lists_joined(settings):
    path = landed_file(settings, "jsonl")
    rows = [
        {
            "case_id": "H1",
            "needs": ["a", "b"],
            "applicant": {"forename": "Łukasz", "dob": "01-02-1980"},
        },
        {"case_id": "H2", "needs": [], "applicant": {"forename": "Siobhán", "dob": "03-04-1990"}},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    identity = {
        "record_id": "case_id",
        "given_name": "applicant.forename",
        "date_of_birth": "applicant.dob",
    }
    spec = file_spec("jsonl", identity, ("needs",), dates={"applicant.dob": "%d-%m-%Y"})
    pull_month(spec, "2024-01", settings, today=TODAY)
    rows = pd.read_parquet(standardised_path(settings, "src", "2024-01"))
    assert rows.given_name.tolist() == ["LUKASZ", "SIOBHAN"]
    assert rows.needs.tolist() == ["a;b", ""]
    assert rows.date_of_birth.tolist() == [date(1980, 2, 1), date(1990, 4, 3)]


def test_sources_file_mistakes_are_one_config_error(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("version: 1\nsources:\n  - name: x\n    service: Police Dept\n")
    with pytest.raises(ConfigError, match="service must be a lower_snake_case name"):
        load_sources(path)
    with pytest.raises(ConfigError, match="not found"):
        load_sources(tmp_path / "absent.yaml")


def test_landed_months_needs_every_file_source(settings):
    land(settings, HEADER, "2024-01")
    land(settings, HEADER, "2024-02")
    assert landed_months([csv_spec()], settings.home) == ["2024-01", "2024-02"]


def test_jsonl_iso_dates_are_read_as_text_and_parsed_by_the_declared_format(settings):
    path = landed_file(settings, "jsonl")
    path.write_text(json.dumps({"case_id": "H1", "approach_date": "2024-01-05"}) + "\n")
    dates = {"approach_date": "%Y-%m-%d"}
    spec = file_spec("jsonl", {"record_id": "case_id"}, ("approach_date",), dates=dates)
    result = pull_month(spec, "2024-01", settings, today=TODAY)
    assert (result.valid, result.quarantined) == (1, 0)
    rows = pd.read_parquet(standardised_path(settings, "src", "2024-01"))
    assert rows.approach_date.tolist() == [date(2024, 1, 5)]


def test_pulling_months_together_matches_pulling_them_one_by_one(settings, tmp_path):
    january = HEADER + "\n".join(GOOD) + "\nE9,,Al,Bee,1970-01-01,1,PL1 4AB,2024-01-09\n"
    february = (
        HEADER
        + GOOD[0]
        + "\nE9,,Al,Bee,1970-01-01,1,PL1 4AB,2024-02-02\n"
        + "E7,,Ed,Gee,1970-01-01,1,PL1 4AB,2024-02-03\n"
        + "E7,,Ed,Gee,1970-01-01,1,PL1 4AB,2024-02-04\n"
    )
    land(settings, january, "2024-01")
    land(settings, february, "2024-02")
    together = pull_months(csv_spec(), ["2024-01", "2024-02"], settings, today=TODAY)
    valid = {
        m: pd.read_parquet(standardised_path(settings, "apc", m)) for m in ("2024-01", "2024-02")
    }
    quarantined = pd.read_parquet(quarantine_path(settings, "apc", "2024-02"))
    one_by_one = [pull_month(csv_spec(), m, settings, today=TODAY) for m in ("2024-01", "2024-02")]
    assert together == one_by_one
    # E9 in both months is no duplicate; E7 twice in February is, on rows 3 and 4 of that file.
    assert [(r.rows_in, r.valid, r.quarantined) for r in together] == [(3, 3, 0), (4, 2, 2)]
    assert quarantined.row_number.tolist() == [3, 4]
    assert not quarantine_path(settings, "apc", "2024-01").exists()  # nothing quarantined
    for m, frame in valid.items():
        pd.testing.assert_frame_equal(frame, pd.read_parquet(standardised_path(settings, "apc", m)))
    pd.testing.assert_frame_equal(
        quarantined, pd.read_parquet(quarantine_path(settings, "apc", "2024-02"))
    )


def test_a_corrected_month_leaves_no_stale_quarantine(settings):
    duplicated = HEADER + GOOD[0] + "\n" + GOOD[0] + "\n"
    land(settings, duplicated)
    assert pull_month(csv_spec(), "2024-01", settings, today=TODAY).quarantined == 2
    assert quarantine_path(settings, "apc", "2024-01").exists()
    land(settings, HEADER + "\n".join(GOOD) + "\n")  # the service sends the month again, fixed
    result = pull_month(csv_spec(), "2024-01", settings, today=TODAY)
    assert (result.rows_in, result.valid, result.quarantined) == (2, 2, 0)
    assert not quarantine_path(settings, "apc", "2024-01").exists()


def test_months_add_up_to_the_source_totals(settings):
    land(settings, HEADER + GOOD[0] + "\n,,Bob,Ray,1970-01-01,1,PL1 4AB,2024-01-07\n", "2024-01")
    land(
        settings, HEADER + GOOD[1] + "\nE6,9434765918,Di,Fox,1970-01-01,7,X,2024-02-09\n", "2024-02"
    )
    totals = add_up(pull_months(csv_spec(), ["2024-01", "2024-02"], settings, today=TODAY))
    assert (totals.months, totals.rows_in, totals.valid, totals.quarantined) == (2, 4, 3, 1)
    assert totals.reasons == {"missing_record_id": 1}
    assert totals.warnings == {
        "invalid_nhs_number": 1,
        "malformed_postcode": 1,
        "unknown_sex_code": 1,
    }
    assert totals.reconciles


def test_chunks_and_batches_change_nothing_but_memory(settings, monkeypatch):
    rows = [f"E{i},,Ann,Lee,1970-01-{1 + i:02d},2,PL1 4AB,2024-01-07" for i in range(12)]
    rows[10] = rows[10].replace("E10,", "E1,")  # E1 again, many batches after the first
    land(settings, HEADER + "\n".join(rows) + "\n")
    whole = pull_month(csv_spec(), "2024-01", settings, today=TODAY)
    files = [
        pd.read_parquet(path(settings, "apc", "2024-01"))
        for path in (standardised_path, quarantine_path)
    ]
    monkeypatch.setattr(connectors, "BLOCK_BYTES", 160)  # about two rows a batch
    monkeypatch.setattr(pull, "CHUNK_ROWS", 1)  # every batch its own chunk
    assert len(list(connectors.read_batches(csv_spec(), "2024-01", settings.home))) >= 4
    streamed = pull_month(csv_spec(), "2024-01", settings, today=TODAY)
    assert streamed == whole
    assert (whole.valid, whole.quarantined, whole.reasons) == (10, 2, {"duplicate_record_id": 2})
    quarantined = pd.read_parquet(quarantine_path(settings, "apc", "2024-01"))
    assert quarantined.row_number.tolist() == [2, 11]
    for frame, path in zip(files, (standardised_path, quarantine_path), strict=True):
        pd.testing.assert_frame_equal(frame, pd.read_parquet(path(settings, "apc", "2024-01")))
    # The month was pulled twice (its repeated id found at the end): no staged file is left.
    left = [p.name for p in settings.home.rglob("*") if p.is_file() and p.suffix == ".tmp"]
    assert left == []


def test_a_month_that_cannot_be_read_leaves_every_month_as_it_was(settings):
    land(settings, HEADER + GOOD[0] + "\n", "2024-01")
    land(settings, HEADER + GOOD[1] + "\n", "2024-02")
    pull_months(csv_spec(), ["2024-01", "2024-02"], settings, today=TODAY)
    before = standardised_path(settings, "apc", "2024-01").read_bytes()
    land(settings, HEADER + "\n".join(GOOD) + "\n", "2024-01")  # January corrected ...
    land(settings, b"", "2024-02")  # ... but February arrives empty
    with pytest.raises(SourceError, match="2024-02.csv: empty file"):
        pull_months(csv_spec(), ["2024-01", "2024-02"], settings, today=TODAY)
    assert standardised_path(settings, "apc", "2024-01").read_bytes() == before
    assert sorted(p.name for p in (settings.standardised / "apc").iterdir()) == [
        "2024-01.parquet",
        "2024-02.parquet",
    ]


def test_sql_values_of_any_type_arrive_as_text(settings):
    db = settings.landing / "sc" / "cases.sqlite"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as con:
        con.execute("create table events (event_id integer, extract_month text, score real)")
        con.executemany(
            "insert into events values (?, ?, ?)",
            [(7, "2024-01", 1.5), (8, "2024-01", None), (9, "2024-02", 2.0)],
        )
    spec = SourceSpec(
        name="sc",
        service="social_care",
        connector=ConnectorSpec(
            kind="sql", url="sqlite:///{home}/landing/sc/cases.sqlite", table="events"
        ),
        identity={"record_id": "event_id"},
        keep=("score",),
        event_start="extract_month",
    )
    [batch] = list(connectors.read_batches(spec, "2024-01", settings.home))
    assert batch.schema.types == [pa.string()] * 3
    assert batch.column("event_id").to_pylist() == ["7", "8"]
    assert batch.column("score").to_pylist() == ["1.5", None]


def test_an_event_that_ends_before_it_starts_or_lies_ahead_is_one_quarantined_row(settings):
    header = "epikey,nhs_number,forename,surname,dob,sex,postcode,admidate,disdate\n"
    rows = [
        "E1,,Ann,Lee,1950-03-04,2,PL1 4AB,2024-01-05,2024-01-09",
        "E2,,Bob,Ray,1960-12-31,1,PL1 4AB,2024-01-06,",  # still in hospital
        "E3,,Cy,Day,1970-01-01,1,PL1 4AB,2024-01-31,2024-01-30",  # discharged the day before
        "E4,,Di,Fox,1970-01-01,2,PL1 4AB,2027-01-07,2027-01-09",  # admitted after today
    ]
    land(settings, header + "\n".join(rows) + "\n")
    spec = replace(
        csv_spec(),
        keep=("admidate", "disdate"),
        event_end="disdate",
        dates={"dob": "%Y-%m-%d", "admidate": "%Y-%m-%d", "disdate": "%Y-%m-%d"},
    )
    result = pull_month(spec, "2024-01", settings, today=TODAY)
    assert (result.rows_in, result.valid, result.quarantined) == (4, 2, 2)
    assert result.reasons == {"event_date_in_the_future": 1, "event_ends_before_it_starts": 1}
    quarantined = pd.read_parquet(quarantine_path(settings, "apc", "2024-01"))
    reasons = dict(zip(quarantined.epikey, quarantined.reasons, strict=True))
    assert reasons == {"E3": "event_ends_before_it_starts", "E4": "event_date_in_the_future"}


def test_an_identity_only_source_has_no_event_to_quarantine(settings):
    header = "epikey,nhs_number,forename,surname,dob,sex,postcode,admidate\n"
    land(settings, header + "E4,,Di,Fox,1970-01-01,2,PL1 4AB,2027-01-07\n")
    spec = replace(csv_spec(), service=None, event_start=None)
    result = pull_month(spec, "2024-01", settings, today=TODAY)
    assert (result.rows_in, result.valid, result.quarantined) == (1, 1, 0)
    rows = pd.read_parquet(standardised_path(settings, "apc", "2024-01"))
    assert rows.admidate.tolist() == [date(2027, 1, 7)]
