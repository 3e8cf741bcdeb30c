"""Settings: every value from the environment checked once, with one clear message."""

from __future__ import annotations

import pytest

from placelink.errors import ConfigError
from placelink.settings import Settings


def test_defaults_for_the_linkage_check_and_memory(tmp_path):
    settings = Settings.from_env(environ={}, home=tmp_path)
    assert (settings.linkage_min_precision, settings.linkage_min_recall) == (0.98, 0.95)
    assert settings.linkage_min_pair_f1 == 0.965 and settings.link_memory_limit == "2GB"


def test_values_are_read_and_normalised(tmp_path):
    settings = Settings.from_env(
        environ={
            "PLACELINK_LINKAGE_MIN_RECALL": "0.9",
            "PLACELINK_LINK_MEMORY": "512 mb",
            "PLACELINK_LINK_MAX_RULE_PAIRS": "2000000",
        },
        home=tmp_path,
    )
    assert settings.linkage_min_recall == 0.9 and settings.link_memory_limit == "512MB"
    assert settings.link_max_rule_pairs == 2_000_000


def test_the_link_backend_and_spark_master(tmp_path):
    from placelink.link.backends import spark_memory

    assert Settings.from_env(environ={}, home=tmp_path).link_backend == "duckdb"
    settings = Settings.from_env(
        environ={"PLACELINK_LINK_BACKEND": "spark", "PLACELINK_SPARK_MASTER": "local[4]"},
        home=tmp_path,
    )
    assert (settings.link_backend, settings.spark_master) == ("spark", "local[4]")
    assert [spark_memory(m) for m in ("3GB", "512MB", "1.5GB")] == ["3g", "512m", "1536m"]


def test_runs_are_multiprocess_with_one_step_per_core_by_default(tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    settings = Settings.from_env(environ={}, home=tmp_path)
    assert (settings.executor, settings.max_concurrent) == ("multiprocess", 6)
    settings = Settings.from_env(
        environ={"PLACELINK_EXECUTOR": "in_process", "PLACELINK_MAX_CONCURRENT": "3"},
        home=tmp_path,
    )
    assert (settings.executor, settings.max_concurrent) == ("in_process", 3)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PLACELINK_LINKAGE_MIN_PRECISION", "1.5", "between 0 and 1"),
        ("PLACELINK_LINKAGE_MIN_RECALL", "high", "a number between 0 and 1"),
        ("PLACELINK_LINK_MEMORY", "lots", "a size such as 3GB"),
        ("PLACELINK_EXECUTOR", "threads", "multiprocess or in_process"),
        ("PLACELINK_MAX_CONCURRENT", "0", "at least 1"),
        ("PLACELINK_LINK_MAX_RULE_PAIRS", "5e6", "a whole number"),
    ],
)
def test_a_bad_value_names_the_variable(tmp_path, name, value, message):
    with pytest.raises(ConfigError, match=message) as err:
        Settings.from_env(environ={name: value}, home=tmp_path)
    assert name in str(err.value)
