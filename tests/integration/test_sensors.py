"""landing_sensor asks for the months that landed and were not yet pulled: nothing more."""

from __future__ import annotations

import shutil

import pytest
from dagster import build_sensor_context

from pipelines.build import build_definitions
from pipelines.run import open_instance, run_pipeline
from pipelines.sensors import RANGE_END, RANGE_START, new_months
from tests.towns import keyed_town

pytestmark = pytest.mark.e2e


def test_new_months_are_those_some_source_has_not_pulled():
    pulled = {"a": {"2024-01", "2024-02"}, "b": {"2024-01"}}
    assert new_months(["2024-01", "2024-02", "2024-03"], pulled) == ["2024-02", "2024-03"]
    assert new_months(["2024-01"], pulled) == []


def test_a_new_months_extracts_ask_for_exactly_that_month(tmp_path, monkeypatch):
    settings = keyed_town(tmp_path, people=3000, months=4, seed=7)
    held = tmp_path / "held_back"
    held.mkdir()
    late = "2023-07"  # the fourth month arrives after the first three were run
    for path in (tmp_path / "landing").glob(f"*/{late}.*"):
        (held / path.parent.name).mkdir()
        shutil.move(path, held / path.parent.name / path.name)
    monkeypatch.delenv("PLACELINK_SOURCES", raising=False)
    assert run_pipeline(settings, until="pull").success

    defs = build_definitions(home=str(tmp_path), environ={})
    sensor = defs.get_sensor_def("landing_sensor")

    def evaluate():
        with open_instance(settings) as instance:
            context = build_sensor_context(instance=instance, resources=defs.resources)
            return sensor.evaluate_tick(context)

    quiet = evaluate()
    assert quiet.run_requests == [] and "already pulled" in quiet.skip_message

    for folder in held.iterdir():
        for path in folder.iterdir():
            shutil.move(path, tmp_path / "landing" / folder.name / path.name)
    (request,) = evaluate().run_requests
    assert request.tags[RANGE_START] == request.tags[RANGE_END] == late
    assert request.job_name in (None, "monthly_job")


def test_landed_months_outside_the_period_are_named_not_requested():
    from pipelines.sensors import outside_period

    keys = ["2020-01", "2020-02"]
    assert outside_period(["2020-01", "2020-02"], keys) is None
    line = outside_period(["2019-12", "2020-01", "2020-03"], keys)
    assert line.startswith("landed month(s) 2019-12, 2020-03 outside the period 2020-01 to 2020-02")
