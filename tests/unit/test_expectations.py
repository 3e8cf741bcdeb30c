"""Source suites over many partitions: grouped for speed and memory, the failures named."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from placelink.expectations import _groups, validate_partitions


@pytest.fixture
def partitions(tmp_path):
    rows = {"2024-01": ["a", "b"], "2024-02": ["c", None, "e"], "2024-03": ["f"], "2024-04": ["g"]}
    files = {}
    for month, values in rows.items():
        files[month] = tmp_path / f"{month}.parquet"
        pq.write_table(pa.table({"x": pa.array(values, pa.string())}), files[month])
    return files


def test_partitions_are_grouped_whole_up_to_the_row_budget(partitions):
    assert _groups(partitions, max_rows=3) == [["2024-01"], ["2024-02"], ["2024-03", "2024-04"]]
    assert _groups(partitions, max_rows=100) == [list(partitions)]
    assert _groups(partitions, max_rows=1) == [[m] for m in partitions]  # too big: alone


@pytest.mark.parametrize("max_rows", [1, 3, 100])
def test_only_the_failing_partition_is_named_however_they_are_grouped(
    partitions, tmp_path, max_rows
):
    suite = tmp_path / "suite.json"
    suite.write_text(
        json.dumps(
            {
                "name": "t",
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}}
                ],
            }
        )
    )
    results = validate_partitions(partitions, suite, max_rows=max_rows)
    assert {m: r.success for m, r in results.items()} == {
        "2024-01": True,
        "2024-02": False,
        "2024-03": True,
        "2024-04": True,
    }
    assert results["2024-02"].failed[0].unexpected_count == 1
