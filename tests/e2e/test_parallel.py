"""The shared run under the multiprocess executor, read back from its Dagster instance: the
sources' pull and pseudonymise steps ran side by side, the warehouse steps one at a time."""

from __future__ import annotations

from itertools import combinations

import pytest
from dagster import DagsterEventType

from assets.concurrency import SINGLE_WRITER
from pipelines.run import monthly_job_for, open_instance
from pipelines.sensors import RANGE_END, RANGE_START

pytestmark = pytest.mark.e2e

ENDS = (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE)


@pytest.fixture(scope="module")
def steps(town) -> dict[str, tuple[float, float, int]]:
    """Each step of the shared run: (start, end, pid), from its STEP_START and its end event."""
    settings, summary = town
    with open_instance(settings) as instance:
        events = [e for e in instance.all_logs(summary.run_id) if e.is_dagster_event]
    starts, ends, pids = {}, {}, {}
    for event in events:
        step, kind = event.dagster_event.step_key, event.dagster_event.event_type
        if kind == DagsterEventType.STEP_START:
            starts[step], pids[step] = event.timestamp, event.dagster_event.pid
        elif kind in ENDS:
            ends[step] = event.timestamp
    return {step: (starts[step], ends[step], pids[step]) for step in starts}


def _overlap(a: tuple[float, float, int], b: tuple[float, float, int]) -> float:
    return min(a[1], b[1]) - max(a[0], b[0])


def test_the_run_is_monthly_job_over_the_landed_months(town):
    settings, summary = town
    with open_instance(settings) as instance:
        run = instance.get_run_by_id(summary.run_id)
    assert run.job_name == "monthly_job"
    assert (run.tags[RANGE_START], run.tags[RANGE_END]) == (summary.months[0], summary.months[-1])


def test_every_step_ran_in_a_process_of_its_own(town, steps):
    _, summary = town
    assert summary.success
    pids = [pid for _, _, pid in steps.values()]
    assert len(set(pids)) == len(pids) > 10


def test_pull_and_pseudonymise_steps_of_different_sources_ran_side_by_side(steps):
    per_source = {
        step: step.split("__", 1)[1]
        for step in steps
        if step.startswith(("pull__", "pseudonymise__"))
    }
    assert len(set(per_source.values())) == 5
    overlaps = [
        (a, b, _overlap(steps[a], steps[b]))
        for a, b in combinations(sorted(per_source), 2)
        if per_source[a] != per_source[b] and _overlap(steps[a], steps[b]) > 0
    ]
    # In process, each step starts after the last one ends: no overlap at all. The steps of a
    # 3,000-person town last about half a second, so any clear overlap is the executor's.
    assert overlaps, "no two sources' steps overlapped in time"
    assert max(seconds for _, _, seconds in overlaps) > 0.1


def test_steps_that_open_the_warehouse_never_overlapped(town, steps):
    settings, _ = town
    job = monthly_job_for(str(settings.home))
    writers = {n.name for n in job.graph.node_defs if SINGLE_WRITER in n.tags}
    assert {"warehouse__raw_tables", "published__person_spine"} <= writers
    ran = sorted(writers & set(steps))
    assert len(ran) == len(writers)
    together = [(a, b) for a, b in combinations(ran, 2) if _overlap(steps[a], steps[b]) > 0]
    assert together == []
