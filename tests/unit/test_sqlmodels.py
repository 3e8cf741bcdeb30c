"""The dbt_like_sql runner: refs make the DAG, rendering resolves names, runs are atomic."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from placelink.errors import PlacelinkError
from placelink.sqlmodels import load_project, run_all, run_model

SCHEMA = """
version: 2
models:
  - name: totals
    description: One row per kind.
    meta: {publish: aggregate}
    columns:
      - {name: kind, description: The kind., meta: {sdc: none}, tests: [unique, not_null]}
      - {name: n, description: How many., meta: {sdc: count}}
"""


def make_project(root: Path, models: dict[str, str], schema: str = "", macros: str = "") -> Path:
    (root / "models").mkdir(parents=True)
    for name, sql in models.items():
        (root / "models" / f"{name}.sql").write_text(sql)
    (root / "sources.yml").write_text(
        "sources:\n  - name: placelink\n    tables:\n      - {name: things, description: Raw.}\n"
    )
    if schema:
        (root / "schema.yml").write_text(schema)
    if macros:
        (root / "macros").mkdir()
        (root / "macros" / "m.sql").write_text(macros)
    return root


CHAIN = {
    "stg_things": "select * from {{ source('placelink', 'things') }}",
    "totals": "with final as (select kind, count(*) as n from {{ ref('stg_things') }} "
    "group by kind) select * from final",
    "report": "select * from {{ ref('totals') }} join {{ ref('stg_things') }} using (kind)",
}


def test_order_follows_refs(tmp_path):
    project = load_project(make_project(tmp_path, CHAIN))
    assert project.order() == ["stg_things", "totals", "report"]
    assert project.models["report"].refs == ("totals", "stg_things")
    assert project.models["stg_things"].sources == ("things",)
    assert project.order(["report", "stg_things"]) == ["stg_things", "report"]


def test_a_cycle_is_an_error_naming_the_models(tmp_path):
    models = {
        "a": "select * from {{ ref('c') }}",
        "b": "select * from {{ ref('a') }}",
        "c": "select * from {{ ref('b') }}",
        "d": "select * from {{ ref('a') }}",
    }
    with pytest.raises(PlacelinkError, match=r"cycle: a, c, b, a"):
        load_project(make_project(tmp_path, models))


def test_unknown_refs_and_sources_are_errors(tmp_path):
    with pytest.raises(PlacelinkError, match="unknown model 'nope'"):
        load_project(make_project(tmp_path / "x", {"a": "select * from {{ ref('nope') }}"}))
    with pytest.raises(PlacelinkError, match="declared neither in the sources file nor"):
        load_project(
            make_project(tmp_path / "y", {"a": "select * from {{ source('placelink', 'zz') }}"})
        )


def test_what_reads_a_staging_model_of_an_undeclared_source_is_left_out(tmp_path):
    models = {
        "stg_gone": "select * from {{ source('placelink', 'gone') }}",
        "uses_gone": "select * from {{ ref('stg_gone') }}",
        "reads_that": "select * from {{ ref('uses_gone') }}",
        "stg_things": "select * from {{ source('placelink', 'things') }}",
    }
    assert set(load_project(make_project(tmp_path, models)).models) == {"stg_things"}
    models["not_staging"] = "select * from {{ source('placelink', 'gone') }}"
    with pytest.raises(PlacelinkError, match="'gone' is declared neither"):
        load_project(make_project(tmp_path / "again", models))


def test_rendering_resolves_refs_sources_and_macros(tmp_path):
    macros = "{% macro double(x) %}({{ x }} * 2){% endmacro %}"
    stg = "select {{ double('n') }} as n2 from {{ source('placelink', 'things') }}"
    models = {**CHAIN, "stg_things": stg}
    project = load_project(make_project(tmp_path, models, macros=macros))
    assert project.render("stg_things") == "select (n * 2) as n2 from raw_things"
    assert "from totals join stg_things" in project.render("report")


def test_schema_yml_describes_models_and_columns(tmp_path):
    project = load_project(make_project(tmp_path, CHAIN, SCHEMA))
    totals = project.models["totals"]
    assert totals.description == "One row per kind."
    assert totals.publish == "aggregate"
    assert totals.columns["kind"].test_names == ("unique", "not_null")
    assert totals.columns["n"].meta == {"sdc": "count"}


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"duckdb:///{tmp_path / 'w.duckdb'}")
    with engine.begin() as conn:
        conn.execute(text("create table raw_things (kind varchar, n integer)"))
        conn.execute(text("insert into raw_things values ('a', 1), ('a', 2), ('b', 3)"))
    yield engine
    engine.dispose()


def test_run_all_builds_tables_in_order(tmp_path, engine):
    project = load_project(make_project(tmp_path / "p", CHAIN))
    results = run_all(engine, project)
    assert [r.name for r in results] == ["stg_things", "totals", "report"]
    assert results[1].rows == 2 and results[1].columns == ["kind", "n"]
    with engine.connect() as conn:
        assert conn.execute(text("select n from totals where kind = 'a'")).scalar_one() == 2


def test_a_failed_model_leaves_the_previous_table(tmp_path, engine):
    good = make_project(tmp_path / "good", CHAIN)
    run_all(engine, load_project(good))
    broken = make_project(
        tmp_path / "bad", {**CHAIN, "totals": "select kind, count(*) as n from no_such_table"}
    )
    with pytest.raises(PlacelinkError, match="model totals failed"):
        run_model(engine, load_project(broken), "totals")
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from totals")).scalar_one() == 2
        leftovers = conn.execute(
            text("select count(*) from information_schema.tables where table_name like '%__new'")
        ).scalar_one()
    assert leftovers == 0
