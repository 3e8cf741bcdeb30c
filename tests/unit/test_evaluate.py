"""Pairwise scores counted from group sizes agree with enumerating the pairs."""

from itertools import combinations, combinations_with_replacement

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from placelink.link.evaluate import (
    PairIndex,
    PairScore,
    evaluate_links,
    pair_score,
    source_pair_score,
)


def brute_force(frame):
    tp = pred = true = 0
    for (_, a), (_, b) in combinations(frame.iterrows(), 2):
        same_pred = a.person_id == b.person_id
        same_true = a.true_person_id == b.true_person_id
        pred += same_pred
        true += same_true
        tp += same_pred and same_true
    return tp, pred, true


records = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 4), st.integers(0, 4)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(records)
def test_pair_counts_match_enumeration(rows):
    frame = pd.DataFrame(rows, columns=["source", "person_id", "true_person_id"])
    score = pair_score(frame)
    assert (score.true_positive_pairs, score.predicted_pairs, score.true_pairs) == brute_force(
        frame
    )


@settings(max_examples=40, deadline=None)
@given(records)
def test_cross_source_pairs_match_enumeration(rows):
    frame = pd.DataFrame(rows, columns=["source", "person_id", "true_person_id"])
    score = source_pair_score(frame, "a", "b")
    cross = [
        (a, b)
        for (_, a), (_, b) in combinations(frame.iterrows(), 2)
        if {a.source, b.source} == {"a", "b"}
    ]
    assert score.predicted_pairs == sum(a.person_id == b.person_id for a, b in cross)
    assert score.true_pairs == sum(a.true_person_id == b.true_person_id for a, b in cross)


def test_perfect_linkage_scores_one_and_a_false_merge_lowers_precision():
    truth = pd.DataFrame(
        {
            "source": ["a", "a", "b", "b"],
            "record_id": ["1", "2", "3", "4"],
            "true_person_id": ["p", "p", "q", "r"],
            "sex": ["F", "F", "M", "M"],
        }
    )
    perfect = truth.assign(person_id=[1, 1, 2, 3])[["source", "record_id", "person_id"]]
    assert evaluate_links(perfect, truth)["overall"]["f1"] == 1.0
    merged = truth.assign(person_id=[1, 1, 2, 2])[["source", "record_id", "person_id"]]
    result = evaluate_links(merged, truth)
    assert result["overall"]["precision"] == 0.5
    assert result["overall"]["recall"] == 1.0
    assert result["by_subgroup"]["sex"]["M"]["precision"] == 0.0


@settings(max_examples=60, deadline=None)
@given(records, st.lists(st.booleans(), min_size=25, max_size=25))
def test_pairs_involving_a_subset_match_enumeration(rows, picks):
    frame = pd.DataFrame(rows, columns=["source", "person_id", "true_person_id"])
    mask = pd.Series(picks[: len(frame)]).to_numpy()
    score = PairIndex.of(frame).score_involving(mask)
    pairs = [(a, b) for (i, a), (j, b) in combinations(frame.iterrows(), 2) if mask[i] or mask[j]]
    assert score.predicted_pairs == sum(a.person_id == b.person_id for a, b in pairs)
    assert score.true_pairs == sum(a.true_person_id == b.true_person_id for a, b in pairs)
    assert score.true_positive_pairs == sum(
        a.person_id == b.person_id and a.true_person_id == b.true_person_id for a, b in pairs
    )


linked = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 4),
        st.integers(0, 4),
        st.sampled_from(["F", "M", None]),
        st.integers(1, 3),
        st.booleans(),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(linked)
def test_evaluation_matches_enumerating_pairs(rows):
    columns = ["source", "person_id", "true_person_id", "sex", "deprivation_quintile", "known"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["record_id"] = frame.groupby("source").cumcount().astype(str)  # reused across sources
    links = frame[["source", "record_id", "person_id"]]
    truth = frame[frame["known"]].drop(columns=["person_id", "known"]).iloc[::-1]
    scored = frame[frame["known"]]
    pairs = list(combinations(scored.itertuples(), 2))

    def score(pairs):
        same_pred = [a.person_id == b.person_id for a, b in pairs]
        same_true = [a.true_person_id == b.true_person_id for a, b in pairs]
        tp = sum(p and t for p, t in zip(same_pred, same_true, strict=True))
        return PairScore(sum(same_true), sum(same_pred), tp).as_dict()

    sources = sorted(scored["source"].unique())
    assert evaluate_links(links, truth) == {
        "records_linked": len(links),
        "records_with_truth": len(scored),
        "overall": score(pairs),
        "by_source_pair": {
            f"{s}~{t}": score([(a, b) for a, b in pairs if sorted([a.source, b.source]) == [s, t]])
            for s, t in combinations_with_replacement(sources, 2)
        },
        "by_subgroup": {
            column: {
                str(value): score(
                    [(a, b) for a, b in pairs if getattr(a, column) == value == getattr(b, column)]
                )
                for value in sorted(scored[column].dropna().unique())
            }
            for column in ("sex", "deprivation_quintile")
        },
    }
