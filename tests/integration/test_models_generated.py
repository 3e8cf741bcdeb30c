"""Sources the models were not written for: declared in the sources file, and nothing more.

The hand-made town (raw_fixture.py) with two more sources: a GP registration list (identity
only, no event) and a pharmacy of a service of its own whose event has a start and a type and
whose kept field names include capitals. Their staging models and int_events branch are
generated; they reach person_spine and service_events, not the four services' measures. Run
on DuckDB and on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from placelink.sources import ConnectorSpec, SourceSpec, load_sources
from placelink.sqlmodels import load_project, run_all
from placelink.sqltests import run_schema_tests
from placelink.warehouse import load_arrow
from tests.demo_project import DEMO_SOURCES, PROJECT
from tests.integration.raw_fixture import COMMON, _common, _table, raw_tables

GP = SourceSpec(
    name="gp_registration",
    service=None,
    connector=ConnectorSpec(kind="csv", path="landing/gp_registration/{month}.csv"),
    identity={"record_id": "registration_id", "given_name": "forename"},
    keep=("practice_code", "registration_date"),
    dates={"registration_date": "%Y-%m-%d"},
)
PHARMACY = replace(
    GP,
    name="pharmacy",
    service="primary_care",
    keep=("dispensed_on", "Item_Kind", "quantity"),
    event_start="dispensed_on",
    event_type="Item_Kind",
    dates={},
)
RAW_GP = [  # person 1 also has hospital and social care records; person 9 is only registered
    {**_common(1, "G1", "2024-01-15"), "practice_code": "P81001",
     "registration_date": date(2010, 1, 1)},
    {**_common(1, "G9", "2024-01-15"), "person_id": 9, "practice_code": "P81002",
     "registration_date": None},
]  # fmt: skip
RAW_PHARMACY = [
    {**_common(3, "D1", "2024-06-21"), "dispensed_on": date(2024, 6, 21),
     "Item_Kind": " Repeat ", "quantity": 28.0},
]  # fmt: skip


def tables() -> dict[str, pa.Table]:
    out = raw_tables()
    out["raw_gp_registration"] = _table(
        f"{COMMON}, practice_code varchar, registration_date date", RAW_GP
    )
    out["raw_pharmacy"] = _table(
        f"{COMMON}, dispensed_on date, Item_Kind varchar, quantity double", RAW_PHARMACY
    )
    links = [
        {"source": source, "record_id": r["record_id"], "person_id": r["person_id"],
         "cluster_size": 1}
        for source, rows in (("gp_registration", RAW_GP), ("pharmacy", RAW_PHARMACY))
        for r in rows
    ]  # fmt: skip
    out["raw_record_links"] = pa.concat_tables(
        [out["raw_record_links"], pa.Table.from_pylist(links, out["raw_record_links"].schema)]
    )
    return out


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def warehouse(request, tmp_path_factory):
    """(engine, project) with every model built, on each backend (PostgreSQL: its own database)."""
    if request.param == "duckdb":
        engine = sa.create_engine(f"duckdb:///{tmp_path_factory.mktemp('gen') / 'wh.duckdb'}")
    else:
        server = sa.make_url(request.getfixturevalue("postgres_url"))
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("drop database if exists generated_sources"))
            conn.execute(sa.text("create database generated_sources"))
        admin.dispose()
        engine = sa.create_engine(server.set(database="generated_sources"))
    for name, table in tables().items():
        load_arrow(engine, name, table)
    project = load_project(PROJECT, [*load_sources(DEMO_SOURCES), GP, PHARMACY])
    run_all(engine, project)
    yield engine, project
    engine.dispose()


def read(engine: sa.Engine, sql: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.text(sql), conn)


def test_a_source_without_a_staging_model_gets_one_generated(warehouse):
    engine, project = warehouse
    assert project.models["stg_gp_registration"].sources == ("gp_registration",)
    assert project.models["stg_pharmacy"].path.parent.name == "generated"
    assert project.models["stg_health_apc"].path.parent.name == "models"
    staged = read(engine, "select * from stg_pharmacy")
    assert list(staged.columns) == list(project.models["stg_pharmacy"].columns)
    assert staged.loc[0, "quantity"] in ("28.0", "28")  # other kept fields as text
    assert pd.Timestamp(staged.loc[0, "dispensed_on"]) == pd.Timestamp("2024-06-21")


def test_a_source_of_a_new_service_gets_an_event_branch_with_its_own_fields(warehouse):
    engine, _ = warehouse
    events = read(engine, "select * from int_events where source = 'pharmacy'")
    assert len(events) == 1
    row = events.iloc[0]
    assert (row.person_id, row.service, row.event_type) == (3, "primary_care", "repeat")
    assert pd.Timestamp(row.event_start) == pd.Timestamp("2024-06-21")
    assert pd.isna(row.event_end) and not row.is_contact and not row.is_health_need
    published = read(engine, "select source, service from service_events where person_id = 3")
    assert ("pharmacy", "primary_care") in set(published.itertuples(index=False, name=None))


def test_identity_only_sources_have_no_events_but_reach_person_spine(warehouse):
    engine, _ = warehouse
    assert read(engine, "select * from int_events where source = 'gp_registration'").empty
    spine = read(engine, "select * from person_spine").set_index("person_id")
    assert spine.loc[1, "sources_present"] == "gp_registration;health_apc;social_care"
    assert spine.loc[1, "n_sources"] == 3
    assert spine.loc[9, "sources_present"] == "gp_registration"
    assert (spine.loc[9, "n_sources"], spine.loc[9, "events"]) == (1, 0)


def test_the_service_measures_keep_to_the_four_services(warehouse):
    engine, project = warehouse
    services = read(engine, "select distinct service from int_person_months")
    assert set(services.service) <= {"health", "social_care", "housing", "benefits"}
    failed = [
        t.label
        for name in project.order()
        for t in run_schema_tests(engine, project, name)
        if not t.passed
    ]
    assert failed == []
