"""Splink on Spark (PLACELINK_LINK_BACKEND=spark, local mode) links a town as DuckDB does.

The same encodings go through run_linkage twice, in two copies of one data home: once with
Splink on DuckDB, once on Spark in local mode. The model is the same, so pairwise F1 against
the truth must agree within 0.001 and the person index must have the same shape. Needs the
`spark` extra (pyspark) and a Java runtime: `make sysdeps` installs one where `java` is missing.
"""

from __future__ import annotations

import dataclasses
import shutil

import pandas as pd
import pytest

from placelink.cli import main
from placelink.link import run_linkage
from placelink.link.evaluate import evaluate_links
from placelink.settings import Settings
from tests.towns import keyed_town

pytestmark = pytest.mark.spark

MISSING = (
    "PLACELINK_LINK_BACKEND=spark needs pyspark (pip install -e '.[test,spark]') and a Java "
    "runtime (`make sysdeps` installs one)"
)


@pytest.fixture(scope="module")
def linked(tmp_path_factory) -> dict[str, tuple[Settings, object]]:
    if shutil.which("java") is None:
        pytest.fail(MISSING)
    try:
        import pyspark  # noqa: F401
    except ImportError:
        pytest.fail(MISSING)
    home = tmp_path_factory.mktemp("town") / "duckdb"
    keyed_town(home, people=3000, months=6, seed=7)
    assert main(["run", "--home", str(home), "--until", "pseudonymise"]) == 0
    shutil.copytree(home, home.with_name("spark"))
    out = {}
    for backend in ("duckdb", "spark"):
        settings = dataclasses.replace(
            Settings.from_env(environ={}, home=home.with_name(backend)), link_backend=backend
        )
        encoded = sorted(settings.encoded.glob("*.parquet"))
        out[backend] = (settings, run_linkage(settings, encoded, f"test-{backend}"))
    return out


def _f1(settings: Settings, result) -> float:
    truth = pd.concat(pd.read_parquet(p) for p in sorted((settings.content / "_truth").glob("*")))
    links = pd.read_parquet(result.record_links, columns=["source", "record_id", "person_id"])
    return evaluate_links(links, truth)["overall"]["f1"]


def test_spark_f1_equals_duckdb_f1_within_a_thousandth(linked):
    duckdb_f1, spark_f1 = (_f1(*linked[backend]) for backend in ("duckdb", "spark"))
    assert duckdb_f1 > 0.95, duckdb_f1  # a linkage worth comparing
    assert abs(spark_f1 - duckdb_f1) <= 0.001, (duckdb_f1, spark_f1)


def test_spark_person_index_has_the_same_shape(linked):
    (_, on_duckdb), (_, on_spark) = linked["duckdb"], linked["spark"]
    assert on_spark.trained and on_spark.key_fingerprint == on_duckdb.key_fingerprint
    assert on_spark.records == on_duckdb.records
    assert on_spark.profiles == on_duckdb.profiles
    assert on_spark.diagnostics.fields == on_duckdb.diagnostics.fields
    assert on_spark.diagnostics.training_blocks == on_duckdb.diagnostics.training_blocks
    assert on_spark.diagnostics.comparisons_per_rule == on_duckdb.diagnostics.comparisons_per_rule
    assert abs(on_spark.persons - on_duckdb.persons) <= on_duckdb.persons // 1000
    sizes = [pd.Series(r.cluster_sizes) for r in (on_duckdb, on_spark)]
    assert (sizes[0].sub(sizes[1], fill_value=0).abs().sum()) <= 2 * (on_duckdb.persons // 1000)
    index = pd.read_parquet(on_spark.person_index)
    links = pd.read_parquet(on_spark.record_links)
    assert index["person_id"].is_unique
    assert set(links["person_id"]) <= set(index["person_id"])
    assert len(links) == on_spark.records
