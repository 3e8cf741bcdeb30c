"""The pipeline as an operator drives it: `dagster dev` on loopback, runs launched over GraphQL.

The server, its town and the two-month backfill are fixtures (tests/e2e/conftest.py), shared with
the UI screenshot test; this test checks the backfill, then launches one `monthly_job` run.
"""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.instance.ref import InstanceRef
from dagster_graphql import DagsterGraphQLClient

pytestmark = pytest.mark.e2e

MONTH = "2023-06"


def test_a_backfill_and_a_monthly_run_launched_over_graphql_publish(dagster_dev, ui_backfill):
    runs = ui_backfill["runs"]
    failed = [r["runId"] for r in runs if r["status"] != "SUCCESS"]
    assert runs and not failed and ui_backfill["status"] == "COMPLETED_SUCCESS", "\n".join(
        [str(ui_backfill), *(dagster_dev.failures(run_id) for run_id in failed)]
    )

    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_dev.port, timeout=60)
    run_id = client.submit_job_execution("monthly_job", tags={"dagster/partition": MONTH})
    status = dagster_dev.wait_for_run(run_id, timeout=600)
    assert status == "SUCCESS", dagster_dev.failures(run_id)

    settings = dagster_dev.settings
    for table in ("person", "aggregate"):
        files = sorted((settings.published / table).glob("*.parquet"))
        assert files, f"nothing published under {settings.published / table}"
        for path in files:
            assert len(pd.read_parquet(path).columns) > 0, path

    instance_dir = str(settings.dagster_home)
    with DagsterInstance.from_ref(InstanceRef.from_dir(instance_dir)) as instance:
        monthly = instance.get_runs(
            RunsFilter(job_name="monthly_job", statuses=[DagsterRunStatus.SUCCESS])
        )
        assert run_id in {r.run_id for r in monthly}
        assert monthly[0].tags["dagster/partition"] == MONTH
        pulled = instance.get_materialized_partitions(
            next(k for k in instance.get_asset_keys() if k.path[0] == "pull")
        )
        assert {*ui_backfill["months"], MONTH} <= pulled
