"""The warehouse on PostgreSQL gives what it gives on DuckDB.

The hand-made town of raw_fixture.py is loaded through placelink.warehouse.load_arrow into a
DuckDB file and into a throwaway PostgreSQL server (conftest.py; COPY path), every model is
run on both, and every table, raw or built, must hold the same rows with the same kinds of
column; the schema.yml tests must count the same failures.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from placelink.sqlmodels import run_all
from placelink.sqltests import run_schema_tests
from placelink.warehouse import load_arrow
from tests.demo_project import demo_project
from tests.integration.conftest import MISSING, postgres_bindir
from tests.integration.raw_fixture import load_raw, raw_tables
from tests.unit.test_sqltests import BAD_COUNTS, BAD_EVENTS, BAD_PEOPLE, build, make_project

pytestmark = pytest.mark.postgres

MODELS = sorted(demo_project().models)
RAW_TABLES = sorted(raw_tables())
REL, ABS = 1e-9, 1e-9


@pytest.fixture(scope="module")
def warehouses(postgres_url, tmp_path_factory):
    """{backend: engine}, each loaded with the raw tables and every model built."""
    project = demo_project()
    duck = sa.create_engine(f"duckdb:///{tmp_path_factory.mktemp('parity') / 'placelink.duckdb'}")
    engines = {"duckdb": duck, "postgres": sa.create_engine(postgres_url)}
    results = {}
    for backend, engine in engines.items():
        load_raw(engine)
        results[backend] = run_all(engine, project)
    yield project, engines, results
    for engine in engines.values():
        engine.dispose()


def kind(data_type: str) -> str:
    """A column type as information_schema spells it, as a kind both backends share."""
    t = data_type.lower().strip('"')
    if t in ("tinyint", "smallint", "integer", "bigint", "hugeint") or t.startswith("uint"):
        return "integer"
    if t in ("double", "double precision", "real", "float"):
        return "float"
    if t.startswith(("decimal", "numeric")):
        return "decimal"
    if t in ("varchar", "text", "character varying"):
        return "text"
    if t.startswith("timestamp"):
        return "timestamp with time zone" if "with time zone" in t or "tz" in t else "timestamp"
    if t.startswith("time"):
        return "time with time zone" if "with time zone" in t else "time"
    return t  # date, boolean, null


def column_kinds(engine: sa.Engine, table: str) -> list[tuple[str, str]]:
    sql = sa.text(
        "select column_name, data_type from information_schema.columns "
        "where table_name = :t order by ordinal_position"
    )
    with engine.connect() as conn:
        return [(name, kind(t)) for name, t in conn.execute(sql, {"t": table})]


RANKS = ("null", "boolean", "number", "NaN", "date", "text")


def normalise(value: Any) -> tuple:
    """A value as (rank, comparable): None first, then booleans, numbers, NaN, dates, text."""
    if value is None:
        return (0, None)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float | decimal.Decimal):
        number = float(value)
        return (3, "nan") if math.isnan(number) else (2, number)
    if isinstance(value, dt.datetime):
        return (4, value.isoformat(sep=" "))
    if isinstance(value, dt.date):
        return (4, value.isoformat())
    return (5, str(value))


def _sort_key(row: tuple) -> tuple:
    return tuple((r, float(f"{v:.9g}")) if r == 2 else (r, v) for r, v in row)


def rows(engine: sa.Engine, table: str) -> list[tuple]:
    """The table's rows, normalised and sorted by every column."""
    with engine.connect() as conn:
        fetched = conn.execute(sa.text(f"select * from {table}")).fetchall()
    return sorted((tuple(normalise(v) for v in row) for row in fetched), key=_sort_key)


def differences(left: list[tuple], right: list[tuple], columns: list[str]) -> list[str]:
    """Rows that differ (numbers within a tolerance), described; empty when the tables agree."""
    if len(left) != len(right):
        return [f"{len(left)} rows on duckdb, {len(right)} on postgres"]
    found = []
    for i, (a, b) in enumerate(zip(left, right, strict=True)):
        for column, (ra, va), (rb, vb) in zip(columns, a, b, strict=True):
            same = (ra, va) == (rb, vb) or (
                ra == rb == 2 and math.isclose(va, vb, rel_tol=REL, abs_tol=ABS)
            )
            if not same:
                found.append(
                    f"row {i} {column}: duckdb {RANKS[ra]} {va!r} != postgres {RANKS[rb]} {vb!r}"
                )
    return found[:20]


def assert_same_table(engines: dict[str, sa.Engine], table: str) -> None:
    kinds = {backend: column_kinds(engine, table) for backend, engine in engines.items()}
    columns = [name for name, _ in kinds["duckdb"]]
    assert [name for name, _ in kinds["postgres"]] == columns, table
    untyped = {name for name, k in kinds["duckdb"] if k == "null"}  # see postgres_type
    mismatched = [
        (name, d, p)
        for (name, d), (_, p) in zip(kinds["duckdb"], kinds["postgres"], strict=True)
        if d != p and name not in untyped
    ]
    assert not mismatched, f"{table}: column kinds differ (column, duckdb, postgres): {mismatched}"
    found = differences(rows(engines["duckdb"], table), rows(engines["postgres"], table), columns)
    assert not found, f"{table}:\n" + "\n".join(found)


def test_postgres_server_binaries_are_installed():
    """Not skipped when missing: `make test` installs them (tools/sysdeps.sh), so must CI."""
    if postgres_bindir() is None:
        pytest.fail(MISSING)


def test_every_model_builds_the_same_columns_on_both(warehouses):
    project, _, results = warehouses
    built = {b: {r.name: r.columns for r in rs} for b, rs in results.items()}
    assert set(built["duckdb"]) == set(built["postgres"]) == set(project.models)
    assert built["duckdb"] == built["postgres"]


@pytest.mark.parametrize("table", RAW_TABLES)
def test_raw_table_loads_the_same_on_both(warehouses, table):
    _, engines, _ = warehouses
    assert_same_table(engines, table)


@pytest.mark.parametrize("model", MODELS)
def test_model_table_is_the_same_on_both(warehouses, model):
    _, engines, _ = warehouses
    with engines["duckdb"].connect() as conn:
        assert conn.execute(sa.text(f"select count(*) from {model}")).scalar_one() > 0, model
    assert_same_table(engines, model)


def test_schema_tests_give_the_same_results_on_both(warehouses):
    project, engines, _ = warehouses
    for name in project.models:
        duck, pg = (run_schema_tests(engines[b], project, name) for b in ("duckdb", "postgres"))
        assert duck == pg, name
        assert all(result.passed for result in pg), (name, [r for r in pg if not r.passed])


def test_schema_tests_count_the_same_failures_on_bad_data(warehouses, tmp_path):
    """Every kind of test's SQL runs on PostgreSQL and counts what it counts on DuckDB."""
    _, engines, _ = warehouses
    root = make_project(tmp_path / "p")
    for backend, engine in engines.items():
        assert build(engine, root, BAD_PEOPLE, BAD_EVENTS) == BAD_COUNTS, backend


def test_copy_keeps_types_nulls_and_awkward_text(warehouses):
    """Every Arrow type the loader maps, with nulls, survives COPY as it survives DuckDB."""
    _, engines, _ = warehouses
    table = pa.table(
        {
            "text": pa.array(["", None, 'a,"b"\nc', "Zoë ✓", "plain"]),
            "untyped": pa.nulls(5),
            "flag": pa.array([True, False, None, True, False]),
            "small": pa.array([1, None, -3, 4, 5], pa.int16()),
            "int": pa.array([1, None, -(2**31), 2**31 - 1, 0], pa.int32()),
            "big": pa.array([2**62, None, -(2**63), 0, 7], pa.int64()),
            "float": pa.array([0.1 + 0.2, None, float("nan"), -1e300, 2.5]),
            "money": pa.array(
                [decimal.Decimal("1.25"), None, decimal.Decimal("-0.50"), None, None],
                pa.decimal128(9, 2),
            ),
            "day": pa.array([dt.date(2024, 2, 29), None, dt.date(1900, 1, 1), None, None]),
            "moment": pa.array(
                [dt.datetime(2024, 5, 1, 10, 30, 15, 123456), None, None, None, None]
            ),
            "clock": pa.array([dt.time(23, 59, 59, 500000), None, dt.time(0), None, None]),
            "category": pa.array(["x", "y", None, "x", "x"]).dictionary_encode(),
        }
    )
    for engine in engines.values():
        load_arrow(engine, "copy_check", table)
        load_arrow(engine, "copy_check_empty", table.slice(0, 0))
    assert_same_table(engines, "copy_check")
    assert_same_table(engines, "copy_check_empty")
    loaded = rows(engines["postgres"], "copy_check")
    assert len(loaded) == 5
    assert (0, None) in (row[0] for row in loaded) and (5, "") in (row[0] for row in loaded)
    assert kind_of(engines["postgres"], "copy_check") == {
        "text": "text",
        "untyped": "text",
        "flag": "boolean",
        "small": "integer",
        "int": "integer",
        "big": "integer",
        "float": "float",
        "money": "decimal",
        "day": "date",
        "moment": "timestamp",
        "clock": "time",
        "category": "text",
    }


def kind_of(engine: sa.Engine, table: str) -> dict[str, str]:
    return dict(column_kinds(engine, table))
