"""The linkage_quality table: how well linkage serves each source and each group of people.

Subgroups a governance lead asks about: age band, sex and deprivation quintile from the
pseudonymised attributes, and name origin where synthetic truth records it. Precision, recall and
F1 count the pairs that involve at least one record of the source and subgroup.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from placelink.link.evaluate import PairIndex
from placelink.link.person_index import sources_per_person

AGE_BANDS = ((0, 17), (18, 34), (35, 49), (50, 64), (65, 74), (75, 84), (85, 200))
CLUSTER_BANDS = {"1": (1, 1), "2_5": (2, 5), "6_20": (6, 20), "21_plus": (21, 10**9)}


def age_band(age: pd.Series) -> pd.Series:
    labels = [f"{lo}-{hi}" if hi < 200 else f"{lo}+" for lo, hi in AGE_BANDS]
    bins = [-1] + [hi for _, hi in AGE_BANDS]
    return pd.cut(age.astype("float"), bins=bins, labels=labels).astype("string")


def linkage_quality(
    links: pd.DataFrame, attributes: pd.DataFrame, truth: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per source and subgroup value (subgroup 'all' for the source as a whole).

    Args:
        links: record_links (source, record_id, person_id, cluster_size).
        attributes: source, record_id, age_at_event, sex, imd_decile.
        truth: the synthetic truth, when there is one.
    """
    frame = links.merge(attributes, on=["source", "record_id"], how="left")
    frame["all"] = "all"
    frame["age_band"] = age_band(frame["age_at_event"])
    frame["deprivation_quintile"] = (
        np.ceil(frame["imd_decile"].astype("float") / 2).astype("Int64").astype("string")
    )
    subgroups = ["all", "age_band", "sex", "deprivation_quintile"]
    if truth is not None:
        # A truth of the user's own need hold only the person; a generated one has name origin.
        extra = [c for c in ("name_origin",) if c in truth]
        frame = frame.merge(
            truth[["source", "record_id", "true_person_id", *extra]],
            on=["source", "record_id"],
            how="left",
        )
        subgroups += extra
    frame["linked_other_source"] = frame["person_id"].map(sources_per_person(frame)) > 1
    per_source_person = frame.groupby(["source", "person_id"])["record_id"].transform("size")
    frame["linked_within_source"] = per_source_person > 1
    has_truth = truth is not None and frame["true_person_id"].notna().all()
    pairs = PairIndex.of(frame) if has_truth else None

    rows = []
    for source in sorted(frame["source"].unique()):
        in_source = frame["source"] == source
        for subgroup in subgroups:
            for value, members in frame[in_source].groupby(subgroup, dropna=True):
                persons = members.drop_duplicates("person_id")
                row = {
                    "source": source,
                    "subgroup": subgroup,
                    "subgroup_value": str(value),
                    "records": len(members),
                    "persons": len(persons),
                    "records_linked_within_source": int(members["linked_within_source"].sum()),
                    "records_linked_other_source": int(members["linked_other_source"].sum()),
                }
                for band, (lo, hi) in CLUSTER_BANDS.items():
                    row[f"persons_cluster_{band}"] = int(
                        persons["cluster_size"].between(lo, hi).sum()
                    )
                if has_truth:
                    score = pairs.score_involving(frame.index.isin(members.index))
                    row |= {"precision": score.precision, "recall": score.recall, "f1": score.f1}
                else:
                    row |= {"precision": None, "recall": None, "f1": None}
                rows.append(row)
    return pd.DataFrame(rows)
