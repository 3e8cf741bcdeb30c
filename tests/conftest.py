"""Test-wide settings."""

import pytest
from hypothesis import settings

# A shared, noisy 2-core machine makes per-example timing meaningless: no Hypothesis deadline.
settings.register_profile("placelink", deadline=None)
settings.load_profile("placelink")


@pytest.fixture(scope="session", autouse=True)
def _runs_in_process_unless_a_test_asks():
    """Runs in process, where a test does not choose: a step process costs about a second, and
    the suite runs some thirty pipelines. The shared e2e town (tests/e2e/conftest.py) and the
    `dagster dev` runs keep the multiprocess default, which tests/e2e/test_parallel.py checks."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLACELINK_EXECUTOR", "in_process")
        yield
