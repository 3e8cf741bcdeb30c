"""Re-identification attacks on placelink's linkage zone and on a naive baseline encoding.

    .venv/bin/python benchmarks/bench_attacks.py [--people 50000] [--home H] [--public-home P]

Makes (unless --home / --public-home are given) the demo town (seed 42) up to pseudonymise
and the attacker's public town (seed 99, same size, pull only), runs every attack of
tests/attacks.py on placelink's encodings and on the naive baseline (unsalted tokens,
partial-date tokens, plain Bloom filters, ages and event dates beside them) and prints a table:
attack, field, rate on placelink, rate on the naive baseline, wall time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.run import run_pipeline  # noqa: E402
from placelink.encode import init_keys  # noqa: E402
from placelink.generate import generate  # noqa: E402
from placelink.settings import Settings  # noqa: E402
from tests import attacks as A  # noqa: E402

PROVIDER = "health_apc"


def make_town(home: Path, people: int, seed: int, until: str) -> None:
    generate(home, people=people, seed=seed)
    settings = Settings.from_env(environ={}, home=home)
    init_keys(settings)
    run_pipeline(settings, until=until)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50000)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--public-home", type=Path)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="placelink-attacks-"))
    home, public_home = args.home, args.public_home
    if home is None:
        home = scratch / "town"
        make_town(home, args.people, 42, "pseudonymise")
    if public_home is None:
        public_home = scratch / "public"
        make_town(public_home, args.people, 99, "pull")

    linkage = A.read_linkage(home)
    truth = A.ground_truth(home)
    public = A.public_knowledge(public_home)
    naive = A.naive_encode(truth, b"naive-baseline-key-0123456789abc")
    frames = {"placelink": linkage, "naive": naive}
    print(f"{len(linkage):,} records in the linkage zone; public town {len(public.records):,}")
    rows = []

    def row(attack, field, fn):
        rates, began = {}, time.perf_counter()
        for name, frame in frames.items():
            rates[name] = fn(frame)
        rows.append([attack, field, *(rates[n] for n in frames), time.perf_counter() - began])

    # a. frequency alignment: each column, then the best column per name.
    best: dict[str, dict[str, tuple[float, str]]] = {"given": {}, "family": {}}
    began = time.perf_counter()
    for name, frame in frames.items():
        for column, guess in A.frequency_attack(frame, public).items():
            field, plaintext = A.PLAINTEXT[column]
            rate = A.reidentification_rate(guess, plaintext(truth))
            rows.append(["a. frequency", column, *([rate, None] if name == "placelink"
                                                    else [None, rate]), None])  # fmt: skip
            if rate >= best[field].get(name, (-1, ""))[0]:
                best[field][name] = (rate, column)
    took = time.perf_counter() - began
    for field in ("given", "family"):
        p, n = best[field]["placelink"], best[field]["naive"]
        rows.append([f"a. frequency (best: {p[1]} / {n[1]})", field, p[0], n[0], took])

    for field, column, name_col in (
        ("given", "given_bloom", "given_name"),
        ("family", "family_bloom", "family_name"),
    ):
        counts = A._public_persons(public, lambda r, c=name_col: r[c])
        row("b. bloom pattern mining", field, lambda f, c=column, p=counts, t=name_col:
            A.reidentification_rate(A.bloom_pattern_mining(f, c, p), truth[t]))  # fmt: skip

    row("c. dob frequency+swap", "dob", lambda f: A.reidentification_rate(
        A.dob_frequency_alignment(f, public), truth["dob"]))  # fmt: skip
    row("c. dob (all structure)", "dob", lambda f: A.reidentification_rate(
        A.dob_attack(f, public), truth["dob"]))  # fmt: skip
    content = A.read_content(home)
    collusion = linkage.join(content, how="left")
    began = time.perf_counter()
    rate = A.reidentification_rate(A.dob_attack(collusion, public), truth["dob"])
    rows.append(["c. dob, linkage+content zones", "dob", rate, None, time.perf_counter() - began])

    # d. the provider's dictionary.
    own_ids = truth.loc[truth["source"] == PROVIDER, "record_id"]
    began = time.perf_counter()
    joins = {
        n: A.provider_record_id_join(own_ids, f[f["source"] != "x"]) for n, f in frames.items()
    }
    rows.append(["d. provider record-id join", "records joined", joins["placelink"],
                 joins["naive"], time.perf_counter() - began])  # fmt: skip
    own_mask = truth["source"] == PROVIDER
    own_persons = set(truth.loc[own_mask, "person"])
    others = truth.index[~own_mask & ~truth["person"].isin(own_persons)]
    began = time.perf_counter()
    decoded = {}
    for name, frame in frames.items():
        own = frame.loc[truth.index[own_mask]]
        decoded[name] = A.provider_dictionary(own, truth[own_mask], frame.loc[others])
    took = time.perf_counter() - began
    for field, col in (("given", "given_name"), ("family", "family_name"), ("dob", "dob")):
        rates = [A.reidentification_rate(decoded[n][field], truth.loc[others, col])
                 for n in frames]  # fmt: skip
        rows.append(["d. provider dictionary (others)", field, *rates, took])

    print(tabulate(rows, headers=["attack", "field", "placelink", "naive", "seconds"],
                   floatfmt=".4f", missingval="-"))  # fmt: skip


if __name__ == "__main__":
    main()
