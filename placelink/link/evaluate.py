"""Pairwise precision, recall and F1 of the person index against synthetic truth.

Pairs are counted from group sizes, never enumerated: within a group of n records there are
n(n-1)/2 pairs, so a million records are scored in seconds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from itertools import combinations_with_replacement
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from placelink.errors import PlacelinkError
from placelink.files import write_text_atomic
from placelink.settings import Settings

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


@dataclass(frozen=True)
class PairIndex:
    """Group codes of linked, truth-labelled records, made once to score many subsets fast."""

    person: np.ndarray
    truth: np.ndarray
    both: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> PairIndex:
        person = pd.factorize(frame["person_id"])[0]
        truth = pd.factorize(frame["true_person_id"])[0]
        both = pd.factorize(person.astype(np.int64) * (truth.max() + 1) + truth)[0]
        return cls(person, truth, both)

    def score_involving(self, mask: np.ndarray) -> PairScore:
        """Score the pairs that include at least one record where `mask` holds."""
        return PairScore(
            true_pairs=_pairs_involving(self.truth, mask),
            predicted_pairs=_pairs_involving(self.person, mask),
            true_positive_pairs=_pairs_involving(self.both, mask),
        )


def _pairs_involving(codes: np.ndarray, mask: np.ndarray) -> int:
    n = np.bincount(codes)
    rest = n - np.bincount(codes, weights=mask.astype(np.float64), minlength=len(n)).astype(
        np.int64
    )
    return int((n * (n - 1) // 2 - rest * (rest - 1) // 2).sum())


def evaluation_path(settings: Settings) -> Path:
    return settings.reports / "linkage_eval.json"


def load_truth(settings: Settings, path: Path | None = None) -> pd.DataFrame | None:
    """The truth keyed by record pseudonym, as record_links is; None where there is none.

    By default the truth pseudonymise wrote for a generated town (content/_truth/). A given
    Parquet file is taken as keyed already; a CSV of the sources' own record ids is keyed with
    the provider's key, so only the provider can evaluate from one.
    """
    from placelink.encode import load_key, record_pseudonyms

    if path is None:
        files = sorted((settings.content / "_truth").glob("*.parquet"))
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else None
    if not path.exists():
        raise PlacelinkError(f"{path}: truth file not found")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    truth, key = pd.read_csv(path, dtype=str), load_key(settings)
    for source, rows in truth.groupby("source"):
        ids = pa.array(rows["record_id"].tolist(), pa.string())
        truth.loc[rows.index, "record_id"] = record_pseudonyms(key, source, ids).to_pylist()
    return truth


def write_evaluation(settings: Settings, truth: pd.DataFrame) -> dict:
    """Score linkage/record_links.parquet against the truth; keep it in reports/ for the report."""
    from placelink.link import record_links_path

    links = record_links_path(settings)
    if not links.exists():
        raise PlacelinkError(f"{links}: no linkage yet (run `placelink run` first)")
    result = evaluate_links(pd.read_parquet(links), truth)
    write_text_atomic(json.dumps(result, indent=2), evaluation_path(settings))
    return result
