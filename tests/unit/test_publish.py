"""Publishing: atomic writes, descriptions in the schema, a dictionary from schema.yml."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from placelink import publish
from placelink.publish import publish_table, write_data_dictionary
from placelink.sqlmodels import load_project

PROJECT = Path(__file__).resolve().parents[2] / "dbt_like_sql"


def test_descriptions_go_into_field_and_schema_metadata(tmp_path):
    dest = tmp_path / "aggregate" / "t.parquet"
    result = publish_table(
        pd.DataFrame({"place": ["N1"], "people": [10]}),
        dest,
        {"place": "Neighbourhood.", "people": "People."},
        "One row per place.",
        {"placelink.sdc": {"cells_suppressed": 1}, "run": "r1"},
    )
    assert (result.path, result.rows, result.columns) == (dest, 1, ["place", "people"])
    schema = pq.read_schema(dest)
    assert schema.field("people").metadata[b"description"] == b"People."
    assert schema.metadata[b"description"] == b"One row per place."
    assert schema.metadata[b"placelink.sdc"] == b'{"cells_suppressed": 1}'
    assert schema.metadata[b"run"] == b"r1"


def test_a_crash_mid_write_leaves_the_previous_table_readable(tmp_path, monkeypatch):
    dest = tmp_path / "t.parquet"
    publish_table(pd.DataFrame({"n": [1, 2]}), dest, {"n": "N."}, "Old.")

    def crash(table, where, **kwargs):
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(publish.pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        publish_table(pd.DataFrame({"n": [3]}), dest, {"n": "N."}, "New.")
    assert pq.read_table(dest).column("n").to_pylist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_a_rerun_replaces_the_table(tmp_path):
    dest = tmp_path / "t.parquet"
    publish_table(pd.DataFrame({"n": [1]}), dest, {}, "First.")
    publish_table(pd.DataFrame({"n": [2]}), dest, {}, "Second.")
    assert pq.read_table(dest).column("n").to_pylist() == [2]


def test_the_data_dictionary_lists_every_published_column_and_measure(tmp_path):
    project = load_project(PROJECT)
    path = write_data_dictionary(project, tmp_path / "docs" / "data_dictionary.md")
    text = path.read_text()
    assert text.index("### person_spine") < text.index("### neighbourhood_outcomes")
    assert text.index("### neighbourhood_outcomes") < text.index("### int_events")
    for model in project.models.values():
        for column in model.columns:
            assert f"`{column}`" in text
    assert "`emergency_admissions_65plus`" in text
    assert "rate of `numerator` / `denominator` x per" in text
