"""Pairwise precision, recall and F1 of the person index against synthetic truth.

Pairs are counted from group sizes, never enumerated: within a group of n records there are
n(n-1)/2 pairs. Records are matched to the truth in DuckDB and grouped by numpy integer codes
(sort and bincount), because pandas merge and groupby took about a minute per evaluation at a
million people, and benchmarks evaluate many times.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from itertools import combinations_with_replacement
from pathlib import Path

import duckdb
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


def _codes(person_id: pd.Series, true_person_id: pd.Series) -> list[np.ndarray]:
    """Codes of the true person, the person and the two (PairScore's order); -1 where missing."""
    truth = pd.factorize(true_person_id)[0]
    person = pd.factorize(person_id)[0]
    both = pd.factorize(person * (truth.max(initial=0) + 1) + truth)[0]
    return [truth, person, np.where((person < 0) | (truth < 0), -1, both)]


def _pairs(codes: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Pairs of records with the same code, [g, g] both in group g, [g, h] one in g and one in h.

    Counted on a dense codes x groups table, so for few groups; a code or group of -1 (missing)
    takes no part, as groupby drops missing keys.
    """
    keep = (codes >= 0) & (groups >= 0)
    n_codes = codes.max(initial=-1) + 1
    size = np.bincount(codes[keep] * n_groups + groups[keep], minlength=n_codes * n_groups)
    size = size.reshape(n_codes, n_groups)
    pairs = size.T @ size
    np.fill_diagonal(pairs, (size * (size - 1) // 2).sum(axis=0))
    return pairs


def _within(codes: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """The diagonal of _pairs, from the sorted (code, group) cells, so for any number of groups."""
    keep = (codes >= 0) & (groups >= 0)
    cells = np.sort(codes[keep] * n_groups + groups[keep])
    start = np.flatnonzero(np.diff(cells, prepend=-1))
    size = np.diff(start, append=len(cells))
    pairs = np.bincount(cells[start] % n_groups, weights=size * (size - 1) // 2, minlength=n_groups)
    return pairs.astype(np.int64)  # exact: the float64 sums are integers below 2**53


def _score_matrix(
    codes: list[np.ndarray], groups: np.ndarray, n_groups: int
) -> list[list[PairScore]]:
    """Scores of the pairs by the groups of their two records, as in _pairs."""
    pairs = [_pairs(c, groups, n_groups) for c in codes]
    return [
        [PairScore(*(int(p[g, h]) for p in pairs)) for h in range(n_groups)]
        for g in range(n_groups)
    ]


def pair_score(frame: pd.DataFrame) -> PairScore:
    """Score records with columns person_id (predicted) and true_person_id."""
    codes = _codes(frame["person_id"], frame["true_person_id"])
    return _score_matrix(codes, np.zeros(len(frame), np.intp), 1)[0][0]


def source_pair_score(frame: pd.DataFrame, a: str, b: str) -> PairScore:
    """Pairs with one record from source a and one from b (within one source when a == b)."""
    codes = _codes(frame["person_id"], frame["true_person_id"])
    sources = pd.Index(dict.fromkeys((a, b)))  # [a, b], or [a] when a == b
    return _score_matrix(codes, sources.get_indexer(frame["source"]), len(sources))[0][-1]


def _matches(record_links: pd.DataFrame, truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the link and truth rows with equal source and record_id, as a pandas merge
    of them as strings pairs them (null matching null)."""
    with duckdb.connect() as con:
        for name, frame in (("links", record_links), ("truth", truth)):
            keys = frame[["source", "record_id"]].astype("string")
            con.register(name, keys.assign(row=np.arange(len(frame))))
        rows = con.sql(
            "SELECT links.row AS link, truth.row AS truth FROM links JOIN truth"
            " ON links.source IS NOT DISTINCT FROM truth.source"
            " AND links.record_id IS NOT DISTINCT FROM truth.record_id"
        ).fetchnumpy()
    return rows["link"], rows["truth"]


def evaluate_links(record_links: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Overall, per source pair and per subgroup value scores; missing records are reported."""
    link_rows, truth_rows = _matches(record_links, truth)
    codes = _codes(
        record_links["person_id"].take(link_rows), truth["true_person_id"].take(truth_rows)
    )
    source, sources = pd.factorize(truth["source"].astype("string").take(truth_rows), sort=True)
    by_source = _score_matrix(codes, source, len(sources))
    result = {
        "records_linked": int(len(record_links)),
        "records_with_truth": len(truth_rows),
        "overall": _score_matrix(codes, np.zeros(len(truth_rows), np.intp), 1)[0][0].as_dict(),
        "by_source_pair": {
            f"{sources[a]}~{sources[b]}": by_source[a][b].as_dict()
            for a, b in combinations_with_replacement(range(len(sources)), 2)
        },
        "by_subgroup": {},
    }
    for column in SUBGROUPS:
        if column in truth:
            groups, values = pd.factorize(truth[column].take(truth_rows), sort=True)
            within = [_within(c, groups, len(values)) for c in codes]
            result["by_subgroup"][column] = {
                str(value): PairScore(*(int(w[g]) for w in within)).as_dict()
                for g, value in enumerate(values)
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
