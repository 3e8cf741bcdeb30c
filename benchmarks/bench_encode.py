"""Throughput of placelink.encode.encode_identities against a naive per-record encoder.

    .venv/bin/python benchmarks/bench_encode.py [--rows 200000] [--repeat 5] [--naive-rows 20000]

Builds realistic standardised identity rows (a few people recurring across records, as in the
extracts), times encode_identities (median of --repeat), and measures on a smaller sample a
naive encoder that computes every HMAC and Bloom filter per row, the way one would without the
distinct-value trick. Prints records/second, the speed-up and the peak RSS.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from naive import naive_encode  # noqa: E402

from placelink.encode import (  # noqa: E402
    LinkageKey,
    encode_identities,
)

GIVEN = [
    "JAMES",
    "JOHN",
    "WILLIAM",
    "ROBERT",
    "MICHAEL",
    "DAVID",
    "RICHARD",
    "THOMAS",
    "MOHAMMED",
    "AHMED",
    "PIOTR",
    "TOMASZ",
    "OLIVER",
    "JACK",
    "HARRY",
    "GEORGE",
    "NOAH",
    "MARY",
    "ELIZABETH",
    "SARAH",
    "EMMA",
    "OLIVIA",
    "AMELIA",
    "FATIMA",
    "AISHA",
    "ALEKSANDRA",
    "KATARZYNA",
    "CATHERINE",
    "SOPHIE",
    "CHLOE",
    "GRACE",
    "MARY",
    "ANN",
    "JEAN",
    "PAUL",
]
FAMILY = [
    "SMITH",
    "JONES",
    "WILLIAMS",
    "TAYLOR",
    "BROWN",
    "DAVIES",
    "EVANS",
    "WILSON",
    "THOMAS",
    "JOHNSON",
    "ROBERTS",
    "ROBINSON",
    "THOMPSON",
    "WRIGHT",
    "WALKER",
    "WHITE",
    "EDWARDS",
    "HUGHES",
    "GREEN",
    "HALL",
    "KHAN",
    "AHMED",
    "ALI",
    "HUSSAIN",
    "BEGUM",
    "NOWAK",
    "KOWALSKI",
    "WISNIEWSKI",
    "OBRIEN",
    "MURPHY",
    "KELLY",
    "PATEL",
    "SHAH",
    "SINGH",
    "KAUR",
    "OKAFOR",
    "ADEYEMI",
]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _nhs(rng: random.Random) -> str:
    while True:
        digits = [rng.randrange(10) for _ in range(9)]
        check = (11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def _typo(rng: random.Random, name: str) -> str:
    i = rng.randrange(len(name))
    return name[:i] + rng.choice(LETTERS) + name[i + 1 :]


def make_rows(n: int, seed: int = 1) -> pd.DataFrame:
    """n records of about n/4 people, with typos, missing fields and district-only postcodes."""
    rng = random.Random(seed)
    people = []
    for _ in range(max(1, n // 4)):
        family = rng.choice(FAMILY)
        if rng.random() < 0.05:
            family += " " + rng.choice(FAMILY)
        people.append(
            (
                _nhs(rng),
                rng.choice(GIVEN),
                family,
                date(1930, 1, 1) + timedelta(days=rng.randrange(90 * 365)),
                rng.choice("MF"),
                f"{rng.choice(['AB', 'M', 'LS', 'B'])}{rng.randrange(1, 40)} "
                f"{rng.randrange(10)}{rng.choice(LETTERS)}{rng.choice(LETTERS)}",
            )
        )
    cols: dict[str, list] = {k: [] for k in ("record_id", "nhs_number", "ni_number")}
    cols.update({k: [] for k in ("given_name", "family_name", "date_of_birth", "sex", "postcode")})
    for i in range(n):
        nhs, given, family, dob, sex, postcode = rng.choice(people)
        cols["record_id"].append(f"R{i:09d}")
        cols["nhs_number"].append(nhs if rng.random() > 0.2 else None)
        cols["ni_number"].append(f"AB{rng.randrange(10**6):06d}C" if rng.random() < 0.3 else None)
        cols["given_name"].append(_typo(rng, given) if rng.random() < 0.03 else given)
        cols["family_name"].append(_typo(rng, family) if rng.random() < 0.03 else family)
        cols["date_of_birth"].append(dob)
        cols["sex"].append(sex)
        cols["postcode"].append(postcode if rng.random() > 0.02 else postcode.split()[0])
    frame = pd.DataFrame(cols)
    frame["date_of_birth"] = pd.Series(
        pa.array(cols["date_of_birth"], type=pa.date32()), dtype=pd.ArrowDtype(pa.date32())
    )
    return frame


def naive_encode_rows(frame: pd.DataFrame, secret: bytes) -> list[dict]:
    """The baseline: every encoding of every row afresh, no reuse of distinct values."""
    return [naive_encode(secret, row) for row in frame.to_dict("records")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--naive-rows", type=int, default=20_000)
    args = parser.parse_args()

    key = LinkageKey(b"\x01" * 32, created=False, source="benchmark")
    frame = make_rows(args.rows)
    encode_identities(frame.head(1000), key)  # warm imports and the nickname table

    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        encoded = encode_identities(frame, key)
        times.append(time.perf_counter() - start)
    assert len(encoded) == len(frame)
    fast = args.rows / statistics.median(times)

    sample = make_rows(args.naive_rows, seed=2)
    sample["date_of_birth"] = sample["date_of_birth"].astype(object)
    sample = sample.astype(object).where(sample.notna(), None)
    start = time.perf_counter()
    naive_encode_rows(sample, key.secret)
    naive = args.naive_rows / (time.perf_counter() - start)

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows: {args.rows}, repeats: {args.repeat}")
    print(f"encode_identities: {fast:,.0f} records/s (median {statistics.median(times):.3f} s)")
    print(f"naive per-record:  {naive:,.0f} records/s (on {args.naive_rows} rows)")
    print(f"speed-up: {fast / naive:.1f}x")
    print(f"peak RSS: {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
