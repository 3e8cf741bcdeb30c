"""The stable person index: a person_id, once given, keeps meaning the same person.

A re-run on the same inputs keeps every person_id; a new month's records join existing persons
or get new ids; when clusters merge, the oldest (smallest) id survives and the other is recorded
as merged into it; an id is never reused.
"""

from __future__ import annotations

import pandas as pd


def assign_person_ids(
    clusters: pd.DataFrame,
    run_id: str,
    previous_links: pd.DataFrame | None = None,
    previous_index: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn this run's clusters into person_ids, keeping those of the previous run.

    Args:
        clusters: source, record_id, cluster_id for every record of this run.
        run_id: this run's id, stamped on new persons and newly seen records.
        previous_links: the last record_links (source, record_id, person_id, first_seen_run).
        previous_index: the last person_index (person_id, created_run, merged_into).

    Returns:
        record_links (source, record_id, person_id, cluster_size, first_seen_run) and the
        person_index (person_id, created_run, merged_into).
    """
    records = clusters[["source", "record_id", "cluster_id"]].copy()
    if previous_links is None or previous_index is None or previous_links.empty:
        previous_links = pd.DataFrame(
            {
                "source": pd.Series(dtype="string"),
                "record_id": pd.Series(dtype="string"),
                "person_id": pd.Series(dtype="int64"),
                "first_seen_run": pd.Series(dtype="string"),
            }
        )
        previous_index = pd.DataFrame(
            {
                "person_id": pd.Series(dtype="int64"),
                "created_run": pd.Series(dtype="string"),
                "merged_into": pd.Series(dtype="Int64"),
            }
        )
    records = records.merge(
        previous_links[["source", "record_id", "person_id", "first_seen_run"]].rename(
            columns={"person_id": "previous_id"}
        ),
        on=["source", "record_id"],
        how="left",
    )
    # Each previous person goes to the cluster that holds most of its records.
    votes = (
        records.dropna(subset=["previous_id"])
        .groupby(["previous_id", "cluster_id"], as_index=False)
        .size()
        .sort_values(["previous_id", "size", "cluster_id"], ascending=[True, False, True])
    )
    heirs = votes.drop_duplicates("previous_id")
    kept = heirs.groupby("cluster_id")["previous_id"].min().rename("person_id")
    merged = heirs.join(kept, on="cluster_id")
    merged = merged[merged["previous_id"] != merged["person_id"]]

    cluster_ids = records.groupby("cluster_id")["record_id"].size().rename("cluster_size")
    new_clusters = (
        records[~records["cluster_id"].isin(kept.index)]
        .assign(first_key=lambda d: d["source"].astype(str) + ":" + d["record_id"].astype(str))
        .groupby("cluster_id")["first_key"]
        .min()
        .sort_values()
    )
    start = int(previous_index["person_id"].max()) + 1 if len(previous_index) else 1
    fresh = pd.Series(range(start, start + len(new_clusters)), index=new_clusters.index)
    person_of_cluster = pd.concat([kept.astype("int64"), fresh.astype("int64")])

    links = records.assign(
        person_id=records["cluster_id"].map(person_of_cluster).astype("int64"),
        cluster_size=records["cluster_id"].map(cluster_ids).astype("int64"),
        first_seen_run=records["first_seen_run"].fillna(run_id).astype("string"),
    )[["source", "record_id", "person_id", "cluster_size", "first_seen_run"]]

    index = pd.DataFrame(
        {
            "person_id": pd.array([*previous_index["person_id"], *fresh.values], dtype="int64"),
            "created_run": pd.array(
                [*previous_index["created_run"], *[run_id] * len(fresh)], dtype="string"
            ),
            "merged_into": pd.array(
                [*previous_index["merged_into"], *[pd.NA] * len(fresh)], dtype="Int64"
            ),
        }
    )
    merge_map = merged.set_index("previous_id")["person_id"]
    index["merged_into"] = (
        index["person_id"].map(merge_map).astype("Int64").fillna(index["merged_into"])
    ).astype("Int64")
    return links.sort_values(["source", "record_id"], ignore_index=True), index.sort_values(
        "person_id", ignore_index=True
    )


def sources_per_person(links: pd.DataFrame) -> pd.Series:
    """How many sources each person appears in, indexed by person_id."""
    return links.groupby("person_id")["source"].nunique()
