"""`generate`: the synthetic place written to <home>/landing/, byte-identical per arguments."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from placelink.errors import ConfigError
from placelink.generate import extracts, services
from placelink.generate.identity import FACTORS
from placelink.generate.people import build_population, load_names
from placelink.generate.place import build_place
from placelink.generate.timeline import NEVER, Timeline


@dataclass(frozen=True)
class GenerateSummary:
    """What a generate run wrote: people simulated, records per source, files, wall time."""

    people: int
    records: dict[str, int]
    files: int
    seconds: float


def generate(
    home: Path, people: int = 50000, months: int = 36, seed: int = 42, errors: str = "default"
) -> GenerateSummary:
    """Simulate `people` in the made-up place for `months` from 2023-04 and write the landing.

    Args:
        home: the data home; `home/landing/` is replaced.
        people: population size.
        months: extract months from 2023-04.
        seed: the only source of randomness.
        errors: identifier error level, "none", "default" or "heavy" (3x the rates).

    Returns:
        A GenerateSummary.
    """
    if errors not in FACTORS:
        raise ConfigError(f"errors must be one of none, default, heavy, not {errors!r}")
    if people < 100:
        raise ConfigError(f"people must be at least 100, not {people}")
    if not 1 <= months <= 120:
        raise ConfigError(f"months must be between 1 and 120, not {months}")
    began = time.perf_counter()
    rng = np.random.Generator(np.random.PCG64(seed))
    tl = Timeline(months)
    place = build_place(rng, people)
    pop, names = build_population(rng, place, load_names(), people, tl)

    benefits = services.simulate_benefits(rng, pop, tl)
    s = benefits["sanction_start"] != NEVER
    sanctions = {"pid": benefits["pid"][s], "day": benefits["sanction_start"][s]}
    housing = services.simulate_housing(rng, pop, tl, sanctions)
    apc, ecds = services.simulate_health(rng, pop, tl, sanctions, housing)
    social = services.simulate_social_care(rng, pop, tl, place, apc, ecds, sanctions)

    landing = Path(home) / "landing"
    if landing.exists():
        shutil.rmtree(landing)
    landing.mkdir(parents=True)
    ctx = extracts.Context(rng, tl, place, pop, names, FACTORS[errors], landing)
    written = [
        extracts.write_health_apc(ctx, apc),
        extracts.write_health_ecds(ctx, ecds),
        extracts.write_social_care(ctx, social),
        extracts.write_housing(ctx, housing),
        extracts.write_benefits(ctx, benefits),
    ]
    extracts.write_truth(ctx, written)
    extracts.write_reference(ctx)
    sources = (resources.files("placelink.generate") / "sources.yaml").read_bytes()
    (landing / "sources.yaml").write_bytes(with_period(sources, tl.labels[0], tl.labels[-1]))
    return GenerateSummary(
        people=people,
        records={w.source: len(w.record_id) for w in written},
        files=sum(w.files for w in written) + 4,
        seconds=round(time.perf_counter() - began, 3),
    )


def with_period(sources: bytes, first: str, last: str) -> bytes:
    """The sources file with the months generated as its `period:` (after `version: 1`)."""
    line = f'period: {{first: "{first}", last: "{last}"}}  # the months generated\n'.encode()
    head, sep, tail = sources.partition(b"\nversion: 1\n")
    if not sep:
        raise ValueError("the packaged sources file has no `version: 1` line")
    return head + sep + line + tail
