"""Publishing: atomic writes, descriptions in the schema, declared types, one rounding rule,
run metadata, and a dictionary from schema.yml."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from placelink import publish
from placelink.encode import KEY_FINGERPRINT
from placelink.errors import PlacelinkError
from placelink.publish import (
    ARROW_TYPES,
    conform,
    data_period,
    decimals,
    publish_table,
    run_metadata,
    write_data_dictionary,
)
from placelink.pull import RECONCILIATION_KEY
from placelink.sqlmodels import ColumnSpec, SqlModel
from tests.demo_project import demo_project


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
    project = demo_project()
    path = write_data_dictionary(project, tmp_path / "docs" / "data_dictionary.md")
    text = path.read_text()
    assert text.index("### person_spine") < text.index("### neighbourhood_outcomes")
    assert text.index("### neighbourhood_outcomes") < text.index("### int_events")
    for model in project.models.values():
        for column in model.columns:
            assert f"`{column}`" in text
    assert "`emergency_admissions_65plus`" in text
    assert "rate of `numerator` / `denominator` x per" in text


def _model(columns: dict[str, dict], publish: str = "person") -> SqlModel:
    return SqlModel(
        name="t",
        path=Path("t.sql"),
        sql="select 1",
        refs=(),
        sources=(),
        description="T.",
        columns={n: ColumnSpec(n, f"{n}.", meta) for n, meta in columns.items()},
        meta={"publish": publish},
    )


def test_rates_shares_and_declared_ratios_are_rounded_by_the_one_rule():
    model = _model(
        {
            "rate": {"type": "double", "sdc": "rate", "per": 1000},
            "percent": {"type": "double", "sdc": "rate", "per": 100},
            "f1": {"type": "double", "sdc": "share", "of": "n"},
            "ratio": {"type": "double", "round": 2},
            "amount": {"type": "double"},
        }
    )
    frame = pd.DataFrame(
        {
            "rate": [369.69696969, 2.25, None],
            "percent": [33.333333, 66.66666, 0.05],
            "f1": [0.99625078, 0.0625, 1.0],
            "ratio": [1.23456, 0.005, 2.0],
            "amount": [454.4712, 0.0, 1.0],
        }
    )
    table = conform(frame, model)
    assert table.column("rate").to_pylist() == [369.7, 2.3, None]  # halves up
    assert table.column("percent").to_pylist() == [33.3, 66.7, 0.1]
    assert table.column("f1").to_pylist() == [0.996, 0.063, 1.0]
    assert table.column("ratio").to_pylist() == [1.23, 0.01, 2.0]
    assert table.column("amount").to_pylist() == [454.4712, 0.0, 1.0]  # money: not a rate
    assert decimals({"sdc": "count"}) is None and decimals({"sdc": "none"}) is None


def test_columns_take_their_declared_arrow_types_dates_as_date32():
    model = _model(
        {
            "text_date": {"type": "date32"},
            "stamp": {"type": "date32"},
            "empty_date": {"type": "date32"},
            "n": {"type": "int64"},
            "flag": {"type": "bool"},
            "label": {"type": "string"},
        }
    )
    frame = pd.DataFrame(
        {
            "text_date": pd.array(["2023-09-13", None], dtype=pd.ArrowDtype(pa.string())),
            "stamp": pd.to_datetime(["2023-04-01 00:00", None]),
            "empty_date": [None, None],
            "n": pd.array([1, None], dtype="Int32"),
            "flag": [True, False],
            "label": ["a", None],
        }
    )
    table = conform(frame, model)
    assert table.schema.types == [
        pa.date32(), pa.date32(), pa.date32(), pa.int64(), pa.bool_(), pa.string()
    ]  # fmt: skip
    assert table.column("text_date").to_pylist() == [date(2023, 9, 13), None]
    assert table.column("stamp").to_pylist() == [date(2023, 4, 1), None]


def test_a_column_without_a_known_declared_type_is_not_published():
    with pytest.raises(PlacelinkError, match=r"no meta.type .*\['b'\]"):
        conform(pd.DataFrame({"a": [1], "b": [2]}), _model({"a": {"type": "int64"}, "b": {}}))
    with pytest.raises(PlacelinkError, match="meta.type must be one of"):
        conform(pd.DataFrame({"a": [1]}), _model({"a": {"type": "integer"}}))
    with pytest.raises(PlacelinkError, match="cannot publish"):
        conform(pd.DataFrame({"a": ["not a date"]}), _model({"a": {"type": "date32"}}))


def test_every_published_column_declares_a_known_type_and_the_dictionary_states_it(tmp_path):
    project = demo_project()
    text = write_data_dictionary(project, tmp_path / "dd.md").read_text()
    assert "Rounding: Rates" in text and "placelink.key_fingerprint" in text
    published = [m for m in project.models.values() if m.publish]
    assert published
    for model in published:
        for column in model.columns.values():
            declared = column.meta.get("type")
            assert declared in ARROW_TYPES, (model.name, column.name)
            places = decimals(column.meta)
            stated = declared + (f", {places} dp" if places is not None else "")
            assert f"| `{column.name}` | {stated} |" in text, (model.name, column.name)
            if column.meta.get("disclose") == "month":
                assert declared == "date32", (model.name, column.name)


def _content_file(path: Path, months: list[str], fingerprint: str | None) -> None:
    reconciliation = [
        {
            "source": path.stem,
            "month": m,
            "location": "x",
            "rows_in": 1,
            "valid": 1,
            "quarantined": 0,
        }
        for m in months
    ]
    metadata = {RECONCILIATION_KEY: json.dumps(reconciliation)}
    if fingerprint:
        metadata[KEY_FINGERPRINT] = fingerprint
    pq.write_table(pa.table({"x": [1]}).replace_schema_metadata(metadata), path)


def test_run_metadata_names_the_run_the_data_period_and_the_key_fingerprint(tmp_path):
    _content_file(tmp_path / "b.parquet", ["2023-06", "2023-05"], "abcd1234abcd1234")
    _content_file(tmp_path / "a.parquet", ["2023-04", "2023-07"], "abcd1234abcd1234")
    (tmp_path / "_truth").mkdir()
    _content_file(tmp_path / "_truth" / "a.parquet", ["2020-01"], None)  # not a content file
    assert data_period(tmp_path) == ("2023-04", "2023-07")
    metadata = run_metadata(tmp_path, "run-1")
    assert metadata == {
        "placelink.run_id": "run-1",
        "placelink.period": {"first_month": "2023-04", "last_month": "2023-07"},
        "placelink.key_fingerprint": "abcd1234abcd1234",
    }
    dest = publish_table(
        pd.DataFrame({"n": [1]}), tmp_path / "out" / "t.parquet", {}, "T.", metadata
    )
    schema = pq.read_schema(dest.path)
    assert schema.metadata[b"placelink.run_id"] == b"run-1"
    assert json.loads(schema.metadata[b"placelink.period"]) == metadata["placelink.period"]
    assert schema.metadata[b"placelink.key_fingerprint"] == b"abcd1234abcd1234"


def test_run_metadata_before_anything_is_pseudonymised(tmp_path):
    assert run_metadata(tmp_path / "missing", "r") == {
        "placelink.run_id": "r",
        "placelink.period": None,
        "placelink.key_fingerprint": "none",
    }
