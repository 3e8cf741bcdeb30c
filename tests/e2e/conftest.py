"""One real run of the whole graph on a small generated town, shared by the e2e tests.

The shared town stays as that run left it: a test that changes a data home (re-runs, writes a
report) takes `own_town`, its own copy, so no test sees another's changes whatever the order.
"""

import shutil
from pathlib import Path

import pytest

from pipelines.run import run_pipeline
from placelink.encode import init_keys
from placelink.generate import generate
from placelink.settings import Settings

PEOPLE = 3000
MONTHS = 6


@pytest.fixture(scope="session")
def town(tmp_path_factory):
    home = tmp_path_factory.mktemp("town")
    generate(home, people=PEOPLE, months=MONTHS, seed=7)
    settings = Settings.from_env(environ={}, home=home)
    init_keys(settings)
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
