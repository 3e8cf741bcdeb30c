"""The Dagster skin: the graph as designed, blocking checks that block, bad files named."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import pytest

from assets.concurrency import SINGLE_WRITER
from pipelines.build import build_definitions
from placelink.cli import main
from placelink.generate import generate
from tests.towns import keyed_town

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "asset_graph.txt"
SOURCES = ("health_apc", "health_ecds", "social_care", "housing", "benefits")
# The graph depends on the sources file; the shell's PLACELINK_* variables must not choose it.
FIXED_ENVIRON = {"PLACELINK_SOURCES": str(ROOT / "sources.yaml")}


def fixed_definitions():
    """The Definitions for the repository's sources.yaml, over an empty data home."""
    with tempfile.TemporaryDirectory() as home:
        return build_definitions(home=home, environ=FIXED_ENVIRON)


def graph_snapshot() -> str:
    """Every asset with its group, dependencies and checks, one line each, sorted."""
    graph = fixed_definitions().resolve_asset_graph()
    checks: dict[str, list[str]] = {}
    for check in graph.asset_check_keys:
        checks.setdefault(check.asset_key.to_user_string(), []).append(check.name)
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        name = key.to_user_string()
        deps = ",".join(sorted(p.to_user_string() for p in node.parent_keys))
        lines.append(
            f"{name} [{node.group_name}] <- {deps or '-'} checks: "
            f"{','.join(sorted(checks.get(name, []))) or '-'}"
        )
    return "\n".join(lines) + "\n"


def test_asset_graph_matches_the_reviewed_snapshot():
    """A change to the graph shows in review. If it is meant, regenerate the golden file:
    python -c "from tests.integration.test_dagster import graph_snapshot as g; print(g(), end='')"
    > tests/golden/asset_graph.txt
    """
    snapshot = graph_snapshot()
    assert snapshot == GOLDEN.read_text(encoding="utf-8")


def test_the_snapshot_ignores_the_shells_placelink_variables(tmp_path, monkeypatch):
    """A PLACELINK_SOURCES or PLACELINK_HOME in the shell would otherwise change the graph."""
    text = (ROOT / "sources.yaml").read_text(encoding="utf-8")
    fewer = tmp_path / "sources.yaml"
    fewer.write_text(text[: text.index("  - name: benefits")], encoding="utf-8")
    monkeypatch.setenv("PLACELINK_SOURCES", str(fewer))
    monkeypatch.setenv("PLACELINK_HOME", str(tmp_path))
    ambient = build_definitions().resolve_asset_graph().get_all_asset_keys()
    assert "pull/health_apc" in {k.to_user_string() for k in ambient}
    assert "pull/benefits" not in {k.to_user_string() for k in ambient}  # the shell's file
    assert graph_snapshot() == GOLDEN.read_text(encoding="utf-8")


def test_each_source_has_its_group_with_a_blocking_gx_check():
    defs = fixed_definitions()
    graph = defs.resolve_asset_graph()
    for source in SOURCES:
        keys = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name == source]
        assert sorted(k.to_user_string() for k in keys) == [
            f"pseudonymise/{source}",
            f"pull/{source}",
        ]
    blocking = {
        c.asset_key.to_user_string()
        for a in defs.assets
        for c in a.check_specs
        if c.blocking and c.name == "gx_suite"
    }
    assert {f"pull/{s}" for s in SOURCES} <= blocking


def test_jobs_schedules_and_sensors_resolve():
    defs = fixed_definitions()
    assert defs.resolve_job_def("monthly_job").partitions_def is not None
    assert defs.resolve_schedule_def("monthly_schedule").cron_schedule == "0 6 7 * *"
    assert defs.resolve_sensor_def("landing_sensor").job_name == "monthly_job"


def test_steps_run_in_processes_of_their_own_and_only_warehouse_steps_carry_the_writer_tag():
    job = fixed_definitions().resolve_job_def("monthly_job")
    assert job.executor_def.name == "multiprocess"
    tagged = {n.name.split("__")[0] for n in job.graph.node_defs if SINGLE_WRITER in n.tags}
    untagged = {n.name.split("__")[0] for n in job.graph.node_defs if SINGLE_WRITER not in n.tags}
    assert tagged == {"warehouse", "outcomes", "published"}
    assert untagged == {"pull", "pseudonymise", "linkage", "report"}


def test_placelink_executor_in_process_runs_every_step_in_the_run_process(tmp_path):
    environ = {**FIXED_ENVIRON, "PLACELINK_EXECUTOR": "in_process"}
    defs = build_definitions(home=str(tmp_path), environ=environ)
    assert defs.resolve_job_def("monthly_job").executor_def.name == "in_process"


@pytest.fixture
def small_town(tmp_path) -> Path:
    keyed_town(tmp_path, people=1500, months=2, seed=3)
    return tmp_path


def test_a_failed_blocking_check_stops_downstream_and_the_cli_names_it(small_town, capsys):
    csv = small_town / "landing" / "health_apc" / "2023-04.csv"
    extract = pd.read_csv(csv, dtype=str, keep_default_na=False)
    extract["admimeth"] = "77"  # not a HES admission method
    extract.to_csv(csv, index=False)
    code = main(["run", "--home", str(small_town), "--until", "pseudonymise"])
    err = capsys.readouterr().err
    assert code == 1
    assert "pull/health_apc gx_suite" in err
    assert "expect_column_values_to_be_in_set(admimeth)" in err
    assert not (small_town / "linkage" / "encoded" / "health_apc.parquet").exists()
    assert (small_town / "linkage" / "encoded" / "benefits.parquet").exists()


def test_an_unreadable_file_gets_one_line_naming_it_and_nothing_published_changes(
    small_town, capsys
):
    published = small_town / "published" / "person" / "person_spine.parquet"
    published.parent.mkdir(parents=True)
    published.write_bytes(b"previous table")
    broken = small_town / "landing" / "housing" / "2023-05.jsonl"
    broken.write_bytes(b"")
    code = main(["run", "--home", str(small_town)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert f"{broken}: empty file" in err
    assert "Traceback" not in err
    assert published.read_bytes() == b"previous table"


def test_a_truncated_extract_leaves_none_of_its_rows_in_dagster_or_the_reports(small_town, capsys):
    csv = small_town / "landing" / "health_apc" / "2023-05.csv"
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = pd.read_csv(csv, dtype=str, nrows=4).iloc[3]  # the row that will be cut short
    csv.write_text("".join(lines[:4]) + lines[4][: lines[4].index(cut["postcode"])])
    code = main(["run", "--home", str(small_town), "--until", "pseudonymise"])
    err = capsys.readouterr().err
    assert code == 2 and "rows with the wrong number of fields" in err
    stored = b"".join(
        p.read_bytes()
        for zone in ("dagster", "reports")
        for p in (small_town / zone).rglob("*")
        if p.is_file()
    )
    assert b"wrong number of fields" in stored  # the failure was recorded ...
    for value in (cut["nhs_number"], cut["surname"], cut["dob"]):  # ... without the row
        assert value.encode() not in stored, "an identifier of the cut row was stored"


def test_production_without_a_key_refuses_to_start_naming_the_variable(
    small_town, capsys, monkeypatch
):
    monkeypatch.setenv("PLACELINK_ENV", "production")
    monkeypatch.delenv("PLACELINK_SECRET", raising=False)
    monkeypatch.delenv("PLACELINK_SECRET_FILE", raising=False)
    key_file = small_town / "secure" / "key"
    before = key_file.read_bytes()
    code = main(["run", "--home", str(small_town)])
    err = capsys.readouterr().err
    assert code == 2
    assert "PLACELINK_SECRET" in err
    assert key_file.read_bytes() == before  # production reads no key file, and makes none
    assert not (small_town / "dagster").exists()


def test_a_home_without_keys_stops_and_names_placelink_init(tmp_path, capsys):
    generate(tmp_path, people=200, months=1, seed=3)
    for argv in (["run"], ["run", "--from", "models"], ["init"]):
        code = main([*argv, "--home", str(tmp_path)])
        err = capsys.readouterr().err
        if argv == ["init"]:
            assert code == 0
        else:
            assert code == 2 and "placelink init" in err, err
            assert not (tmp_path / "secure" / "key").exists()
            assert not (tmp_path / "warehouse" / "release_key").exists()
    assert (tmp_path / "secure" / "key").exists()
    assert (tmp_path / "warehouse" / "release_key").exists()
