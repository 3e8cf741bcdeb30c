"""schema.yml column tests, run on a real DuckDB: each passes on good data and counts the rows
that break it on bad data, and a test that is not implemented stops the project loading."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from placelink.errors import ConfigError
from placelink.sqlmodels import load_project, run_all
from placelink.sqltests import TESTS, run_schema_tests

# `events` reads `people`, so a relationship from events to people is tested after both built.
MODELS = {
    "people": "select * from {{ source('placelink', 'people') }}",
    "events": "select e.* from {{ source('placelink', 'events') }} as e "
    "where exists (select 1 from {{ ref('people') }}) or true",
}

SCHEMA = """
version: 2
models:
  - name: people
    columns:
      - {name: person_id, tests: [unique, not_null]}
  - name: events
    columns:
      - name: event_id
        tests: [unique, not_null]
      - name: service
        tests: [{accepted_values: {values: [health, "o'brien care", housing]}}]
      - name: band
        tests: [{accepted_values: {values: [1, 2, 3]}}]
      - name: person_id
        tests: [{relationships: {to: ref('people'), field: person_id}}]
"""

GOOD_EVENTS = [
    (1, "health", 1, 10),
    (2, "o'brien care", 2, 20),
    (3, "housing", 3, 10),
    (4, None, None, None),  # nulls break none of these but not_null
]


def make_project(root: Path, schema: str = SCHEMA, models: dict[str, str] = MODELS) -> Path:
    (root / "models").mkdir(parents=True)
    for name, sql in models.items():
        (root / "models" / f"{name}.sql").write_text(sql)
    tables = "".join(f"      - {{name: {t}}}\n" for t in ("people", "events"))
    (root / "sources.yml").write_text(f"sources:\n  - name: placelink\n    tables:\n{tables}")
    (root / "schema.yml").write_text(schema)
    return root


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    yield engine
    engine.dispose()


def build(engine, root: Path, people: list[int | None], events: list[tuple]) -> dict:
    """Load the raw tables, build both models, and return {(column, test): failures}."""
    with engine.begin() as conn:
        for table in ("raw_people", "raw_events"):
            conn.execute(text(f"drop table if exists {table}"))
        conn.execute(text("create table raw_people (person_id integer)"))
        conn.execute(
            text(
                "create table raw_events "
                "(event_id integer, service varchar, band integer, person_id integer)"
            )
        )
        for p in people:
            conn.execute(text("insert into raw_people values (:p)"), {"p": p})
        for e in events:
            conn.execute(
                text("insert into raw_events values (:i, :s, :b, :p)"),
                dict(zip("isbp", e, strict=True)),
            )
    project = load_project(root)
    run_all(engine, project)
    results = [r for name in project.order() for r in run_schema_tests(engine, project, name)]
    return {(r.model, r.column, r.test): r.failures for r in results}


def test_every_test_passes_on_good_data(tmp_path, engine):
    counts = build(engine, make_project(tmp_path / "p"), [10, 20], GOOD_EVENTS)
    assert counts == {
        ("people", "person_id", "unique"): 0,
        ("people", "person_id", "not_null"): 0,
        ("events", "event_id", "unique"): 0,
        ("events", "event_id", "not_null"): 0,
        ("events", "service", "accepted_values"): 0,
        ("events", "band", "accepted_values"): 0,
        ("events", "person_id", "relationships"): 0,
    }
    assert {test for _, _, test in counts} == set(TESTS)  # every implemented test ran


BAD_PEOPLE = [10, 20, 20, None]
BAD_EVENTS = [
    *GOOD_EVENTS,
    (1, "health", 1, 10),  # event_id 1 twice: one duplicated value
    (None, "social care", 4, 30),  # null id; a service and a band not accepted; no person 30
    (5, "Health", 9, 31),  # accepted values are matched exactly; no person 31
    (6, "o'brien care", 2, 20),
]
BAD_COUNTS = {
    ("people", "person_id", "unique"): 1,
    ("people", "person_id", "not_null"): 1,
    ("events", "event_id", "unique"): 1,
    ("events", "event_id", "not_null"): 1,
    ("events", "service", "accepted_values"): 2,
    ("events", "band", "accepted_values"): 2,
    ("events", "person_id", "relationships"): 2,
}


def test_each_test_counts_the_rows_that_break_it(tmp_path, engine):
    counts = build(engine, make_project(tmp_path / "p"), BAD_PEOPLE, BAD_EVENTS)
    assert counts == BAD_COUNTS


def test_the_data_dictionary_text_names_the_arguments(tmp_path):
    events = load_project(make_project(tmp_path / "p")).models["events"]
    assert [str(t) for t in events.columns["service"].tests] == [
        "accepted_values [health, o'brien care, housing]"
    ]
    assert [str(t) for t in events.columns["person_id"].tests] == [
        "relationships to people.person_id"
    ]


@pytest.mark.parametrize(
    ("tests", "message"),
    [
        (
            "[not_nul]",
            "schema.yml: model events, column service: unknown test 'not_nul' "
            "(known tests: accepted_values, not_null, relationships, unique)",
        ),
        (
            "[{accepted_value: {values: [a]}}]",
            "schema.yml: model events, column service: unknown test 'accepted_value' ",
        ),
        (
            "[{expression_is_true: {expression: 'service > 0'}}]",
            "schema.yml: model events, column service: unknown test 'expression_is_true' ",
        ),
        (
            "[accepted_values]",
            "schema.yml: model events, column service: test 'accepted_values' takes values",
        ),
        (
            "[{accepted_values: {values: []}}]",
            "schema.yml: model events, column service: test 'accepted_values' needs values",
        ),
        (
            "[{unique: {values: [a]}}]",
            "schema.yml: model events, column service: test 'unique' takes no arguments",
        ),
        (
            "[{relationships: {to: people, field: person_id}}]",
            "schema.yml: model events, column service: test 'relationships' needs to: ref('model')",
        ),
        (
            "[{relationships: {to: ref('nobody'), field: person_id}}]",
            "schema.yml: model events, column service: test 'relationships' refers to unknown "
            "model 'nobody'",
        ),
        (
            "[{relationships: {to: ref('people'), field: name}}]",
            "schema.yml: model events, column service: test 'relationships' refers to "
            "people.name, a column schema.yml does not describe",
        ),
    ],
)
def test_a_test_that_is_not_implemented_stops_the_load_naming_model_column_and_test(
    tmp_path, tests, message
):
    schema = SCHEMA.replace(
        'tests: [{accepted_values: {values: [health, "o\'brien care", housing]}}]',
        f"tests: {tests}",
    )
    assert schema != SCHEMA
    with pytest.raises(ConfigError) as raised:
        load_project(make_project(tmp_path / "p", schema))
    assert str(raised.value).startswith(message)


def test_a_relationship_to_a_model_that_is_not_upstream_stops_the_load(tmp_path):
    """Tested before its target is built, it would read a stale or missing table."""
    schema = SCHEMA.replace(
        "- {name: person_id, tests: [unique, not_null]}",
        "- {name: person_id, tests: [{relationships: {to: ref('events'), field: person_id}}]}",
    )
    assert schema != SCHEMA
    with pytest.raises(ConfigError, match="model people, column person_id: test 'relationships' "
                       "refers to 'events', which is not upstream of people"):  # fmt: skip
        load_project(make_project(tmp_path / "p", schema))
