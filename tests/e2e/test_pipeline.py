"""The whole graph, for real, on a small generated town: generate, run, evaluate, report.

One run (tests/e2e/conftest.py) is shared by the end-to-end tests; each test reads what that
run left in its data home, and a test that writes to a data home does so on its own copy.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.run import run_pipeline
from placelink.cli import main
from placelink.sources import load_sources

pytestmark = pytest.mark.e2e

PSEUDONYMISED_ZONE = ("linkage", "published", "reports", "warehouse", "dagster")


def test_the_run_succeeds_and_publishes_every_table(town):
    settings, summary = town
    assert summary.success, summary.error or summary.failed_checks
    assert summary.failed_checks == []
    names = {t["name"] for t in summary.tables}
    assert {
        "person_spine",
        "service_events",
        "integration_profile",
        "neighbourhood_outcomes",
    } <= names
    assert (settings.reports / "quality" / "index.html").exists()


def test_every_source_reconciles_rows_in_with_valid_plus_quarantined(town):
    settings, summary = town
    specs = load_sources(settings.sources_file)
    assert {s["source"] for s in summary.sources} == {s.name for s in specs}
    for source in summary.sources:
        assert source["rows_in"] == source["valid"] + source["quarantined"], source
        assert source["rows_in"] > 0
    truth = pd.read_csv(settings.truth_file, dtype=str)
    assert sum(s["rows_in"] for s in summary.sources) == len(truth)


def test_every_valid_record_is_linked_exactly_once(town):
    settings, summary = town
    links = pd.read_parquet(settings.linkage / "record_links.parquet")
    assert not links.duplicated(["source", "record_id"]).any()
    assert len(links) == sum(s["valid"] for s in summary.sources)
    assert links["person_id"].dtype == "int64"


def test_linkage_f1_against_truth_is_above_the_floor(own_town, capsys):
    settings, _ = own_town  # evaluate writes reports/linkage_eval.json
    code = main(
        [
            "evaluate",
            "--home",
            str(settings.home),
            "--truth",
            str(settings.truth_file),
            "--min-f1",
            "0.95",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "F1" in capsys.readouterr().out


def test_a_rerun_on_the_same_inputs_keeps_every_person_id(own_town):
    settings, _ = own_town
    before = pd.read_parquet(settings.linkage / "record_links.parquet")
    summary = run_pipeline(settings, until="link", retrain=False)
    assert summary.success
    after = pd.read_parquet(settings.linkage / "record_links.parquet")
    merged = before.merge(after, on=["source", "record_id"], suffixes=("_before", "_after"))
    assert len(merged) == len(before)
    assert (merged.person_id_before == merged.person_id_after).all()


def test_published_tables_hold_no_identifier_column(town):
    settings, _ = town
    forbidden = re.compile(
        r"nhs|ni_number|name|forename|surname|dob|date_of_birth|birth|postcode$|address"
    )
    for path in settings.published.glob("*/*.parquet"):
        columns = pq.read_schema(path).names
        assert not [c for c in columns if forbidden.search(c)], (path.name, columns)
    assert not list((settings.published / "aggregate").glob("person_*"))


def test_aggregate_counts_are_null_or_rounded_multiples_at_or_above_the_threshold(town):
    settings, _ = town
    from tests.demo_project import demo_project

    project = demo_project()
    for path in settings.published.glob("aggregate/*.parquet"):
        frame = pd.read_parquet(path)
        model = project.models[path.stem]
        for name, column in model.columns.items():
            if column.meta.get("sdc") == "count":
                values = frame[name].dropna()
                assert (values % settings.sdc_base == 0).all(), (path.stem, name)
                assert (values >= settings.sdc_threshold).all(), (path.stem, name)


def _identifiers(landing: Path) -> dict[str, set[str]]:
    """Every identifier value in the landing zone, in the forms it could be written in."""
    truth = pd.read_csv(landing / "_truth" / "truth.csv", dtype=str)
    assert len(truth)
    frames = [pd.read_csv(p, dtype=str) for p in landing.glob("health_*/*.csv")]
    frames += [pd.read_parquet(p).astype(str) for p in landing.glob("benefits/*.parquet")]
    frames += [
        pd.json_normalize(pd.read_json(p, lines=True, dtype=False).to_dict("records"))
        for p in landing.glob("housing/*.jsonl")
    ]
    with sqlite3.connect(landing / "social_care" / "case_management.sqlite") as con:
        frames.append(pd.read_sql("select * from people", con).astype(str))
    names, numbers, postcodes, dobs, vocabulary = set(), set(), set(), set(), set()
    for path in landing.glob("_reference/*.csv"):
        vocabulary.update(w.upper() for w in re.findall(r"[^\W\d_]{4,}", path.read_text()))
    name_columns = re.compile(r"name|forename|surname")
    for frame in frames:
        for column in frame.columns:
            values = frame[column].dropna().astype(str)
            if name_columns.search(column):
                for value in values:
                    names.update(w.upper() for w in re.findall(r"[^\W\d_]{4,}", value))
            elif "nhs" in column or "ni_number" in column:
                numbers.update(v.replace(" ", "") for v in values if len(v) >= 9)
            elif "postcode" in column:
                postcodes.update(v.upper().replace(" ", "") for v in values if len(v) >= 6)
            elif "dob" in column or "birth" in column:
                dobs.update(_iso_dates(" ".join(values)))
            else:
                vocabulary.update(w.upper() for w in re.findall(r"[^\W\d_]{4,}", " ".join(values)))
    period_start = "2023-04-01"
    return {
        "names": names,
        "numbers": numbers,
        "postcodes": postcodes,
        "dobs": {d for d in dobs if d < period_start},
        "vocabulary": vocabulary,
    }


def _iso_dates(text: str) -> set[str]:
    found = set(re.findall(r"\b(\d{4})-(\d{2})-(\d{2})\b", text))
    dates = {f"{y}-{m}-{d}" for y, m, d in found}
    for d, m, y in re.findall(r"\b(\d{2})[/-](\d{2})[/-](\d{4})\b", text):
        dates.add(f"{y}-{m}-{d}")
    return dates


def _zone_text(path: Path) -> str:
    """A file's content as text: Parquet and DuckDB decoded, anything else byte for byte."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        return "\n".join(
            " ".join(map(str, table.column(i).to_pylist())) for i in range(table.num_columns)
        )
    if path.suffix == ".duckdb":
        con = duckdb.connect(str(path), read_only=True)
        tables = [
            r[0] for r in con.sql("select table_name from information_schema.tables").fetchall()
        ]
        text = "\n".join(
            con.sql(f'select * from "{t}"').df().astype(str).to_csv(index=False) for t in tables
        )
        con.close()
        return text
    return path.read_bytes().decode("latin-1")


def _scan(home: Path, files: list[Path]) -> dict[str, set[str]]:
    """Identifier values from landing/ found in `files`, by file and kind."""
    identifiers = _identifiers(home / "landing")
    assert all(identifiers.values()), {k: len(v) for k, v in identifiers.items()}
    # Words of the code sets, place names and the project's own text are no evidence of a leak.
    vocabulary = identifiers.pop("vocabulary") | {
        w.upper()
        for path in Path(__file__).resolve().parents[2].glob("dbt_like_sql/**/*.*")
        for w in re.findall(r"[A-Za-z]{4,}", path.read_text(encoding="utf-8"))
    }
    leaks: dict[str, set[str]] = {}
    for path in files:
        text = _zone_text(path)
        words = {w.upper() for w in re.findall(r"[^\W\d_]{4,}", text)}
        found = {
            "names": (words & identifiers["names"]) - vocabulary,
            "numbers": set(re.findall(r"\b[A-Z]{2}\d{6}[A-D]\b|\b\d{10}\b", text))
            & identifiers["numbers"],
            "postcodes": {
                p.replace(" ", "")
                for p in re.findall(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b", text)
            }
            & identifiers["postcodes"],
            "dobs": _iso_dates(text) & identifiers["dobs"],
        }
        for kind, values in found.items():
            if values:
                leaks.setdefault(f"{path.name}:{kind}", set()).update(values)
    return leaks


def test_no_identifier_from_landing_appears_anywhere_in_the_pseudonymised_zone(town):
    settings, _ = town
    files = [
        p for zone in PSEUDONYMISED_ZONE for p in (settings.home / zone).rglob("*") if p.is_file()
    ]
    assert any(p.suffix == ".parquet" for p in files) and any("dagster" in p.parts for p in files)
    leaks = _scan(settings.home, files)
    assert not leaks, {k: sorted(v)[:5] for k, v in leaks.items()}


def test_the_scan_finds_identifiers_planted_in_text_and_parquet(town, tmp_path):
    """The scan above can fail: it catches one record's identifiers wherever they are put."""
    settings, _ = town
    rows = pd.read_csv(next(settings.landing.glob("health_apc/*.csv")), dtype=str).dropna(
        subset=["surname", "dob", "postcode", "nhs_number"]
    )
    # The longest surname: a short one could also be a place or code word, which never counts.
    row = rows.loc[rows.surname.str.len().idxmax()]
    plain = tmp_path / "log.txt"
    plain.write_text(f"processing {row.surname.upper()} born {row.dob} at {row.postcode}")
    table = tmp_path / "leak.parquet"
    pq.write_table(pa.table({"note": [f"nhs {row.nhs_number}"]}), table)
    leaks = _scan(settings.home, [plain, table])
    assert {"log.txt:names", "log.txt:postcodes", "log.txt:dobs", "leak.parquet:numbers"} <= set(
        leaks
    )


def test_the_key_never_appears_only_its_fingerprint(town):
    settings, _ = town
    from placelink.encode import load_key

    key = load_key(settings)
    secret_hex = (settings.secure / "key").read_text().strip()
    report = (settings.reports / "quality" / "index.html").read_text(encoding="utf-8")
    assert key.fingerprint in report
    for zone in PSEUDONYMISED_ZONE:
        for path in (settings.home / zone).rglob("*"):
            if path.is_file():
                assert secret_hex.encode() not in path.read_bytes(), path


def test_each_months_materialisation_carries_that_months_own_figures(town):
    from dagster import AssetKey, AssetRecordsFilter

    from pipelines.run import open_instance
    from placelink.pseudonymise import content_path, content_reconciliation

    settings, summary = town
    months = {r.month: r for r in content_reconciliation(content_path(settings, "health_apc"))}
    assert len(months) == len(summary.months) > 1
    with open_instance(settings) as instance:
        for month, pulled in months.items():
            records = instance.fetch_materializations(
                AssetRecordsFilter(
                    asset_key=AssetKey(["pull", "health_apc"]), asset_partitions=[month]
                ),  # fmt: skip
                limit=1,
            ).records
            meta = records[0].asset_materialization.metadata
            assert meta["rows_in"].value == pulled.rows_in, month
            assert meta["valid"].value == pulled.valid and meta["reconciles"].value
            assert meta["gx_suite_passed"].value is True
    total = next(s for s in summary.sources if s["source"] == "health_apc")
    assert total["rows_in"] == sum(r.rows_in for r in months.values()) > pulled.rows_in


def test_placelink_run_shows_in_the_ui_under_monthly_job(town):
    from pipelines.run import open_instance

    settings, summary = town
    with open_instance(settings) as instance:
        assert instance.get_run_by_id(summary.run_id).job_name == "monthly_job"
