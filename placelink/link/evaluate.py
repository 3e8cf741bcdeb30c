"""Pairwise precision, recall and F1 of the person index against synthetic truth.

Pairs are counted from group sizes, never enumerated: within a group of n records there are
n(n-1)/2 pairs, so a million records are scored in seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations_with_replacement

import pandas as pd

SUBGROUPS = ("age_band", "sex", "neighbourhood", "deprivation_quintile", "name_origin")


@dataclass(frozen=True)
class PairScore:
    true_pairs: int
    predicted_pairs: int
    true_positive_pairs: int

    @property
    def precision(self) -> float:
        return self.true_positive_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


def _pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def pair_score(frame: pd.DataFrame) -> PairScore:
    """Score records with columns person_id (predicted) and true_person_id."""
    return PairScore(
        true_pairs=_pairs(frame.groupby("true_person_id").size()),
        predicted_pairs=_pairs(frame.groupby("person_id").size()),
        true_positive_pairs=_pairs(frame.groupby(["person_id", "true_person_id"]).size()),
    )


def _cross_pairs(frame: pd.DataFrame, keys: list[str], a: str, b: str) -> int:
    counts = frame.groupby([*keys, "source"]).size().unstack("source", fill_value=0)
    if a not in counts or b not in counts:
        return 0
    return int((counts[a] * counts[b]).sum())


def source_pair_score(frame: pd.DataFrame, a: str, b: str) -> PairScore:
    """Pairs with one record from source a and one from b (within one source when a == b)."""
    if a == b:
        return pair_score(frame[frame["source"] == a])
    return PairScore(
        true_pairs=_cross_pairs(frame, ["true_person_id"], a, b),
        predicted_pairs=_cross_pairs(frame, ["person_id"], a, b),
        true_positive_pairs=_cross_pairs(frame, ["person_id", "true_person_id"], a, b),
    )


def evaluate_links(record_links: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Overall, per source pair and per subgroup value scores; missing records are reported."""
    truth = truth.astype({"record_id": "string", "source": "string"})
    links = record_links.astype({"record_id": "string", "source": "string"})
    frame = links.merge(truth, on=["source", "record_id"], how="inner")
    sources = sorted(frame["source"].unique())
    result = {
        "records_linked": int(len(links)),
        "records_with_truth": int(len(frame)),
        "overall": pair_score(frame).as_dict(),
        "by_source_pair": {
            f"{a}~{b}": source_pair_score(frame, a, b).as_dict()
            for a, b in combinations_with_replacement(sources, 2)
        },
        "by_subgroup": {},
    }
    for column in SUBGROUPS:
        if column in frame:
            result["by_subgroup"][column] = {
                str(value): pair_score(group).as_dict()
                for value, group in frame.groupby(column, dropna=True)
            }
    return result


def _pairs_involving(frame: pd.DataFrame, keys: list[str], mask: pd.Series) -> int:
    """Pairs within groups of `keys` that include at least one record where mask holds."""
    grouped = mask.groupby([frame[k] for k in keys]).agg(["size", "sum"])
    n, x = grouped["size"], grouped["sum"]
    rest = n - x
    return int((n * (n - 1) // 2 - rest * (rest - 1) // 2).sum())


def pair_score_involving(frame: pd.DataFrame, mask: pd.Series) -> PairScore:
    """Score the pairs that involve at least one record selected by `mask`."""
    return PairScore(
        true_pairs=_pairs_involving(frame, ["true_person_id"], mask),
        predicted_pairs=_pairs_involving(frame, ["person_id"], mask),
        true_positive_pairs=_pairs_involving(frame, ["person_id", "true_person_id"], mask),
    )
