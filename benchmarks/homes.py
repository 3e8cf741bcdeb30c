"""The data homes benchmarks run on: the placelink command in a child process, and a town made
ready up to the step a benchmark starts from, only where the home lacks it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from measure import ROOT


def placelink(*args: str, home: Path) -> float:
    """`placelink ARGS --home HOME` in a child process (its output discarded); wall seconds."""
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "placelink.cli", *args, "--home", str(home)],
        check=True,
        env={**os.environ, "PLACELINK_HOME": str(home)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - began


def prepare(home: Path, people: int, until: str) -> None:
    """Generate `people` into `home` and key it, where it has no landing files, then run it to
    `until` ("pull" or "pseudonymise") where that step's files are missing."""
    if not (home / "landing" / "_truth" / "truth.csv").exists():
        print(f"generating {people:,} people into {home}", flush=True)
        placelink("generate", "--people", str(people), home=home)
        placelink("init", home=home)
    done = any((home / "secure" / "standardised").glob("*/*.parquet"))
    if until == "pseudonymise":
        done = done and any((home / "linkage" / "encoded").glob("*.parquet"))
    if not done:
        print(f"placelink run --until {until}", flush=True)
        placelink("run", "--until", until, home=home)
