"""Staged files: every file of a step in place together, or none of them."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from placelink.files import StagedFiles, write_parquet_atomic


def test_staged_files_appear_together_on_success(tmp_path):
    (tmp_path / "stale.txt").write_text("from an earlier run")
    with StagedFiles() as staged:
        out = staged.parquet(tmp_path / "a" / "t.parquet", plain=["token"])
        out.write(pa.table({"token": ["x", "y"], "n": [1, 2]}))
        out.write(pa.table({"token": ["z"], "n": [3]}))
        out.close({"placelink.note": "three rows"})
        staged.file(tmp_path / "b.txt", lambda handle: handle.write(b"hello"))
        staged.remove(tmp_path / "stale.txt")
        assert not (tmp_path / "a" / "t.parquet").exists()  # nothing in place before the end
    meta = pq.ParquetFile(tmp_path / "a" / "t.parquet")
    assert pq.read_table(tmp_path / "a" / "t.parquet").column("n").to_pylist() == [1, 2, 3]
    assert meta.metadata.metadata[b"placelink.note"] == b"three rows"
    assert meta.metadata.row_group(0).column(0).statistics is None  # no min/max for tokens
    assert not meta.metadata.row_group(0).column(0).has_dictionary_page  # nor a dictionary
    assert meta.metadata.row_group(0).column(1).has_dictionary_page
    assert meta.metadata.row_group(0).column(1).statistics.max == 2
    assert (tmp_path / "b.txt").read_bytes() == b"hello"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b.txt", "t.parquet"]


def test_an_error_leaves_every_destination_as_it_was(tmp_path):
    dest = tmp_path / "t.parquet"
    pq.write_table(pa.table({"n": [0]}), dest)
    (tmp_path / "keep.txt").write_text("kept")
    with pytest.raises(ValueError, match="the source failed"), StagedFiles() as staged:
        out = staged.parquet(dest)
        out.write(pa.table({"n": [1, 2]}))
        staged.remove(tmp_path / "keep.txt")
        raise ValueError("the source failed")
    assert pq.read_table(dest).column("n").to_pylist() == [0]
    assert (tmp_path / "keep.txt").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt", "t.parquet"]


def test_a_failed_background_write_fails_the_whole_batch(tmp_path):
    with pytest.raises(ValueError, match="field names"), StagedFiles() as staged:
        out = staged.parquet(tmp_path / "t.parquet")
        out.write(pa.table({"n": [1]}))
        out.write(pa.table({"m": ["not the same columns"]}))
        out.close()
        staged.file(tmp_path / "other.txt", lambda handle: handle.write(b"fine"))
    assert list(tmp_path.iterdir()) == []


def test_unique_columns_are_written_without_dictionary_statistics_or_compression(tmp_path):
    table = pa.table({"record_id": [f"r{i:04d}" for i in range(5000)], "source": ["apc"] * 5000})
    path = write_parquet_atomic(table, tmp_path / "links.parquet", unique=("record_id",))
    column = {
        c.path_in_schema: c
        for c in (pq.ParquetFile(path).metadata.row_group(0).column(i) for i in range(2))
    }
    assert not column["record_id"].is_stats_set and not column["record_id"].has_dictionary_page
    assert column["source"].is_stats_set and column["source"].has_dictionary_page
    assert (column["record_id"].compression, column["source"].compression) == (
        "UNCOMPRESSED",
        "ZSTD",
    )
    assert pq.read_table(path).equals(table)
