"""The person index keeps its promises: stable ids, merges keep the oldest, never reuse."""

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from placelink.link import person_index


def clusters(rows):
    return pd.DataFrame(rows, columns=["source", "record_id", "cluster_id"])


def assign_person_ids(records, run_id, previous_links=None, previous_index=None):
    """person_index.assign_person_ids, its Arrow tables read as pandas for the assertions (a
    previous run's are passed back as pandas, as DuckDB reads either)."""
    links, index = person_index.assign_person_ids(records, run_id, previous_links, previous_index)
    return links.to_pandas(), index.to_pandas()


def test_first_run_numbers_persons_from_one_in_record_order():
    links, index = assign_person_ids(
        clusters([("a", "1", 10), ("a", "2", 10), ("b", "9", 7)]), "run1"
    )
    assert dict(zip(links.record_id, links.person_id, strict=True)) == {"1": 1, "2": 1, "9": 2}
    assert links.cluster_size.tolist() == [2, 2, 1]
    assert index.person_id.tolist() == [1, 2]
    assert index.merged_into.isna().all()
    assert (links.first_seen_run == "run1").all()


def test_rerun_on_same_inputs_keeps_every_person_id_even_with_new_cluster_labels():
    first, index = assign_person_ids(clusters([("a", "1", 1), ("a", "2", 1), ("b", "3", 2)]), "r1")
    again, index2 = assign_person_ids(
        clusters([("a", "1", 55), ("a", "2", 55), ("b", "3", 44)]), "r2", first, index
    )
    pd.testing.assert_series_equal(first.person_id, again.person_id)
    assert (again.first_seen_run == "r1").all()
    assert len(index2) == len(index)


def test_new_records_join_existing_persons_or_get_new_ids():
    first, index = assign_person_ids(clusters([("a", "1", 1), ("b", "2", 2)]), "r1")
    second, index2 = assign_person_ids(
        clusters([("a", "1", 1), ("b", "2", 2), ("a", "3", 1), ("c", "4", 3)]), "r2", first, index
    )
    by_record = dict(zip(second.record_id, second.person_id, strict=True))
    assert by_record["3"] == by_record["1"]
    assert by_record["4"] == 3
    assert second.set_index("record_id").first_seen_run.to_dict() == {
        "1": "r1",
        "2": "r1",
        "3": "r2",
        "4": "r2",
    }
    assert index2.set_index("person_id").created_run.to_dict() == {1: "r1", 2: "r1", 3: "r2"}


def test_merge_keeps_the_older_id_and_records_the_other():
    first, index = assign_person_ids(clusters([("a", "1", 1), ("b", "2", 2)]), "r1")
    second, index2 = assign_person_ids(clusters([("a", "1", 9), ("b", "2", 9)]), "r2", first, index)
    assert set(second.person_id) == {1}
    merged_into = index2.set_index("person_id").merged_into
    assert merged_into[2] == 1
    assert pd.isna(merged_into[1])


def test_split_gives_the_minority_a_new_id_never_a_reused_one():
    first, index = assign_person_ids(
        clusters([("a", "1", 1), ("a", "2", 1), ("a", "3", 1), ("b", "4", 2)]), "r1"
    )
    second, index2 = assign_person_ids(
        clusters([("a", "1", 1), ("a", "2", 1), ("a", "3", 5), ("b", "4", 2)]), "r2", first, index
    )
    by_record = dict(zip(second.record_id, second.person_id, strict=True))
    assert by_record["1"] == by_record["2"] == 1
    assert by_record["3"] == 3  # not 1, not 2: a fresh id
    assert index2.person_id.is_unique


def test_the_last_link_read_from_its_files_as_datasets_gives_the_same_ids(tmp_path):
    """run_linkage hands DuckDB the last link's Parquet files as datasets, scanned in place."""
    first, index = person_index.assign_person_ids(
        clusters([("a", "1", 1), ("b", "2", 2), ("b", "5", 2)]), "r1"
    )
    pq.write_table(first, tmp_path / "links.parquet")
    pq.write_table(index, tmp_path / "index.parquet")
    later = clusters([("a", "1", 7), ("b", "2", 7), ("b", "5", 8), ("c", "4", 8)])
    from_tables = person_index.assign_person_ids(later, "r2", first, index)
    from_files = person_index.assign_person_ids(
        later, "r2", ds.dataset(tmp_path / "links.parquet"), ds.dataset(tmp_path / "index.parquet")
    )
    assert from_files[0].equals(from_tables[0]) and from_files[1].equals(from_tables[1])
    assert from_files[1].column("merged_into").to_pylist() == [None, 1, None]
