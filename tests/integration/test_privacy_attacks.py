"""The published attacks on the linkage zone: each works on a naive encoding (so it is a real
attack) and re-identifies under 1% of names and dates of birth on placelink's encodings.

Towns: 10,000 people over 12 months (seed 42, run to pseudonymise) and the attacker's public
town (seed 99, same size, pull only), made once per module. Run with -s to see the rates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.run import run_pipeline
from tests import attacks as A
from tests.towns import keyed_town

pytestmark = pytest.mark.e2e

PEOPLE, MONTHS = 10_000, 12
PROVIDER = "health_apc"


def _town(home: Path, seed: int, until: str) -> Path:
    run_pipeline(keyed_town(home, PEOPLE, MONTHS, seed), until=until)
    return home


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = _town(tmp_path_factory.mktemp("town"), 42, "pseudonymise")
    public = _town(tmp_path_factory.mktemp("public"), 99, "pull")
    truth = A.ground_truth(home)
    return {
        "home": home,
        "truth": truth,
        "public": A.public_knowledge(public),
        "placelink": A.read_linkage(home),
        "naive": A.naive_encode(truth, b"naive-baseline-key-0123456789abc"),
    }


def _report(what: str, rate: float) -> float:
    print(f"\n{what}: {rate:.4f}")
    return rate


def _best_frequency(frame, world, field):
    rates = {
        column: A.reidentification_rate(guess, A.PLAINTEXT[column][1](world["truth"]))
        for column, guess in A.frequency_attack(frame, world["public"]).items()
        if A.PLAINTEXT[column][0] == field
    }
    column = max(rates, key=rates.get)
    return column, rates[column]


@pytest.mark.parametrize("field", ["given", "family"])
def test_frequency_alignment(world, field):
    column, naive = _best_frequency(world["naive"], world, field)
    _report(f"a. frequency {field} naive ({column})", naive)
    assert naive > 0.09, f"naive {field} best column {column}: {naive:.4f}"
    column, rate = _best_frequency(world["placelink"], world, field)
    _report(f"a. frequency {field} placelink ({column})", rate)
    assert rate < 0.01, f"placelink {field} best column {column}: {rate:.4f}"


@pytest.mark.parametrize("field", ["given", "family"])
def test_bloom_pattern_mining(world, field):
    name = f"{field}_name"
    counts = A._public_persons(world["public"], lambda r: r[name])
    rates = {
        kind: A.reidentification_rate(
            A.bloom_pattern_mining(world[kind], f"{field}_bloom", counts), world["truth"][name]
        )
        for kind in ("naive", "placelink")
    }
    _report(f"b. bloom {field} naive", rates["naive"])
    _report(f"b. bloom {field} placelink", rates["placelink"])
    assert rates["placelink"] < 0.01, rates
    if field == "given":  # the simplified mining decodes given names of the naive filters
        assert rates["naive"] > 0.03, rates
    assert rates["naive"] > rates["placelink"], rates


def test_date_of_birth(world):
    truth = world["truth"]["dob"]
    naive = A.reidentification_rate(A.dob_attack(world["naive"], world["public"]), truth)
    rate = A.reidentification_rate(A.dob_attack(world["placelink"], world["public"]), truth)
    freq = A.reidentification_rate(
        A.dob_frequency_alignment(world["placelink"], world["public"]), truth
    )
    _report("c. dob naive", naive)
    _report("c. dob placelink", rate)
    _report("c. dob placelink (frequency + swap only)", freq)
    assert naive > 0.10
    assert rate < 0.01 and freq < 0.01


def test_provider_dictionary(world):
    truth, link, naive = world["truth"], world["placelink"], world["naive"]
    own_mask = truth["source"] == PROVIDER
    own_ids = truth.loc[own_mask, "record_id"]
    joined = A.provider_record_id_join(own_ids, link)
    naive_joined = A.provider_record_id_join(own_ids, naive)
    print(f"\nd. record ids joined: placelink {joined}, naive {naive_joined} of {len(own_ids)}")
    assert joined == 0
    assert naive_joined == len(own_ids)
    others = truth.index[~own_mask & ~truth["person"].isin(set(truth.loc[own_mask, "person"]))]
    rates = {}
    for kind, frame in (("placelink", link), ("naive", naive)):
        own = frame.loc[truth.index[own_mask]]
        decoded = A.provider_dictionary(own, truth[own_mask], frame.loc[others])
        for field, col in (("given", "given_name"), ("family", "family_name"), ("dob", "dob")):
            rates[kind, field] = _report(
                f"d. provider dictionary {field} {kind}",
                A.reidentification_rate(decoded[field], truth.loc[others, col]),
            )
    assert rates["naive", "given"] > 0.10 and rates["naive", "family"] > 0.10
    # Names are salted with the date of birth: only another person of the same name and the
    # same date (or birth year, via name_year_token) decodes. The dob_token is not salted:
    # anyone sharing a date of birth with one of the provider's patients is decoded.
    assert rates["placelink", "given"] < 0.02 and rates["placelink", "family"] < 0.02
    assert rates["placelink", "dob"] < 0.10
