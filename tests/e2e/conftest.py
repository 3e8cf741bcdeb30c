"""One real run of the whole graph on a small generated town, shared by the e2e tests.

The shared town stays as that run left it: a test that changes a data home (re-runs, writes a
report) takes `own_town`, its own copy, so no test sees another's changes whatever the order.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipelines.run import prepare_dagster_home, run_pipeline
from placelink.settings import Settings
from tests.towns import keyed_town

PEOPLE = 3000
MONTHS = 6


@pytest.fixture(scope="session")
def town(tmp_path_factory):
    """The shared run, under the multiprocess executor with two steps at a time whatever the
    shell or the machine says, so that tests/e2e/test_parallel.py can see steps side by side."""
    home = tmp_path_factory.mktemp("town")
    settings = keyed_town(home, PEOPLE, MONTHS, seed=7)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLACELINK_EXECUTOR", "multiprocess")
        patch.setenv("PLACELINK_MAX_CONCURRENT", "2")
        summary = run_pipeline(settings)
    before = _files(home)
    yield settings, summary
    changed = sorted(set(before.items()) ^ set(_files(home).items()))
    assert not changed, f"a test changed the shared town (use own_town): {changed[:5]}"


@pytest.fixture
def own_town(town, tmp_path):
    """A copy of the town's data home, for a test that changes it."""
    settings, summary = town
    home = tmp_path / "town"
    shutil.copytree(settings.home, home, symlinks=True)
    return settings.with_home(home), summary


def _files(home: Path) -> dict[str, tuple[int, int]]:
    """Every file under `home` with its size and modification time."""
    return {
        str(p.relative_to(home)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in home.rglob("*")
        if p.is_file()
    }


# `dagster dev` (webserver and daemon) on loopback over its own small town, driven through
# GraphQL by tests/e2e/test_dagster_dev.py and test_ui_screenshot.py.
UI_PEOPLE, UI_MONTHS = 3000, 3  # 1500 people can leave a month empty, and its pull fails
BACKFILL_MONTHS = ["2023-04", "2023-05"]
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


class DagsterDev:
    """A running `dagster dev`: its URL, data home, log, and GraphQL helpers."""

    def __init__(self, settings: Settings, port: int, process: subprocess.Popen, log: Path):
        self.settings, self.port, self.process, self.log = settings, port, process, log
        self.url = f"http://127.0.0.1:{port}"

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
        assert not answer.get("errors"), answer["errors"]
        return answer["data"]

    def wait_until_ready(self, timeout: float) -> None:
        """Until the webserver answers and the code location has loaded its repository."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"dagster dev exited:\n{self.log_tail()}"
            try:
                data = self.graphql(
                    "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }",
                    timeout=10,
                )
                if data["repositoriesOrError"].get("nodes"):
                    return
                last = data
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                last = error
            time.sleep(2)
        raise AssertionError(f"dagster dev not ready in {timeout}s ({last}):\n{self.log_tail()}")

    def run_status(self, run_id: str) -> str:
        data = self.graphql(
            "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }",
            {"id": run_id},
        )
        return data["runOrError"]["status"]

    def wait_for_run(self, run_id: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (status := self.run_status(run_id)) not in FINISHED:
            assert time.monotonic() < deadline, f"run {run_id} still {status} after {timeout}s"
            time.sleep(3)
        return status

    def runs_tagged(self, key: str, value: str) -> list[dict]:
        data = self.graphql(
            """query($tags: [ExecutionTag!]) {
              runsOrError(filter: {tags: $tags}) {
                ... on Runs { results { runId status jobName } }
              }
            }""",
            {"tags": [{"key": key, "value": value}]},
        )
        return data["runsOrError"]["results"]

    def failures(self, run_id: str) -> str:
        """The run's error events (failed steps, failed run), for an assertion message."""
        data = self.graphql(
            """query($id: ID!) {
              logsForRun(runId: $id) {
                ... on EventConnection {
                  events {
                    __typename
                    ... on MessageEvent { message level stepKey }
                    ... on ErrorEvent { error { message stack } }
                  }
                }
              }
            }""",
            {"id": run_id},
        )
        events = data["logsForRun"].get("events") or []
        lines = [
            f"{e['__typename']} {e.get('stepKey') or ''}: {e.get('message', '')}\n"
            + (
                "".join([e["error"]["message"], *e["error"]["stack"][-5:]])
                if e.get("error")
                else ""
            )
            for e in events
            if e.get("level") in ("ERROR", "CRITICAL") or e.get("error")
        ]
        return f"run {run_id}:\n" + ("\n".join(lines) or "no error events")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def dagster_dev(tmp_path_factory):
    """`dagster dev` on 127.0.0.1 and a free port over a fresh small town; always torn down."""
    home = tmp_path_factory.mktemp("ui_town")
    settings = keyed_town(home, UI_PEOPLE, UI_MONTHS, seed=7)
    prepare_dagster_home(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLACELINK_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(settings.dagster_home), PLACELINK_HOME=str(settings.home))
    port = _free_port()
    log = tmp_path_factory.mktemp("dagster_dev") / "dagster_dev.log"
    command = [sys.executable, "-m", "dagster", "dev", "-m", "pipelines.definitions"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: webserver, daemon, code servers
        )
        try:
            server = DagsterDev(settings, port, process, log)
            server.wait_until_ready(timeout=240)
            yield server
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def ui_backfill(dagster_dev):
    """A two-month backfill of every asset, launched through GraphQL; waits for its runs.

    The daemon submits the runs: the pulls for both months in one run (single-run backfill
    policy), then the unpartitioned steps. Returns the backfill id, its status and its runs.
    """
    nodes = dagster_dev.graphql("{ assetNodes { assetKey { path } } }")["assetNodes"]
    launched = dagster_dev.graphql(
        """mutation($params: LaunchBackfillParams!) {
          launchPartitionBackfill(backfillParams: $params) {
            __typename
            ... on LaunchBackfillSuccess { backfillId }
            ... on PythonError { message stack }
          }
        }""",
        {
            "params": {
                "partitionNames": BACKFILL_MONTHS,
                "assetSelection": [{"path": n["assetKey"]["path"]} for n in nodes],
                "title": "e2e two-month backfill",
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]
    deadline, status = time.monotonic() + 900, None
    while time.monotonic() < deadline:
        status = dagster_dev.graphql(
            """query($id: String!) {
              partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
            }""",
            {"id": backfill_id},
        )["partitionBackfillOrError"]["status"]
        if status not in ("REQUESTED", "CANCELING", "FAILING"):
            break
        time.sleep(5)
    runs = dagster_dev.runs_tagged("dagster/backfill", backfill_id)
    return {"id": backfill_id, "status": status, "runs": runs, "months": BACKFILL_MONTHS}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole process group (dagster dev shuts its children down), then SIGKILL
    to whatever is left of the group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium as this machine runs it: no network of its own, a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "chromium and chromedriver are missing: run `make sysdeps`"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1600,1400",
    ):  # fmt: skip
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(driver), options=options)
    yield session
    session.quit()
