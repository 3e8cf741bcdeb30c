"""One real run of the whole graph on a small generated town, shared by the e2e tests."""

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
    return settings, run_pipeline(settings)
