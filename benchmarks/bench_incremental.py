"""One new month linked incrementally against a full link of every month: time, memory, F1.

    .venv/bin/python benchmarks/bench_incremental.py [--home DIR] [--people 50000]

The town's last month is held back (its standardised files moved aside), the other months are
pseudonymised and linked in full (the run before: it leaves the model, the person index and
the profiles state). Then the last month comes back, is pseudonymised with the rest, and is
linked twice from that same state: incrementally (`run_linkage(..., full_relink=False)`, what
a monthly `placelink run` does) and by a full re-link of every month (`--full-relink`, which
trains again). Each link runs in its own child process, timed around run_linkage alone (wall
and CPU seconds) with its peak RSS (VmHWM); the parent scores each link's record_links against
the truth (content/_truth/, keyed by record pseudonym) and prints the ratio of the
incremental link's time to the full link's, and the two F1s.

Without --home a fresh town of --people is generated into a temporary directory; a home that
lacks its landing files is generated into, and one not yet pulled is pulled
(`placelink run --until pull`). The home's linkage/ is rewritten.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from measure import cpu_s, peak_mib, run_child

ROOT = Path(__file__).resolve().parents[1]
LINKS = ("before", "incremental", "full")


def _child(home: Path, which: str, out: Path) -> dict:
    import pandas as pd

    from placelink.link import run_linkage
    from placelink.settings import Settings

    settings = Settings.from_env(home=home)
    encoded = sorted(settings.encoded.glob("*.parquet"))
    began, cpu = time.perf_counter(), cpu_s()
    result = run_linkage(
        settings,
        encoded,
        f"bench-{which}-{uuid.uuid4().hex[:8]}",
        full_relink=which != "incremental",
    )
    wall, cpu = time.perf_counter() - began, cpu_s() - cpu
    peak = peak_mib()
    pd.read_parquet(result.record_links).to_parquet(out, index=False)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_mib": peak,
        "mode": result.mode,
        "records": result.records,
        "new_records": result.new_records,
        "persons": result.persons,
        "pairs_scored": result.pairs_scored,
        "threshold": result.threshold,
    }


def _placelink(*args: str, home: Path) -> float:
    env = {**os.environ, "PLACELINK_HOME": str(home)}
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "placelink.cli", *args, "--home", str(home)],
        check=True,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - began


def _prepare(home: Path, people: int) -> None:
    if not (home / "landing" / "_truth" / "truth.csv").exists():
        print(f"generating {people:,} people into {home}", flush=True)
        _placelink("generate", "--people", str(people), home=home)
        _placelink("init", home=home)
    if not any((home / "secure" / "standardised").glob("*/*.parquet")):
        print("placelink run --until pull", flush=True)
        _placelink("run", "--until", "pull", home=home)


def _score(path: Path, truth) -> dict:
    import pandas as pd

    from placelink.link.evaluate import evaluate_links

    links = pd.read_parquet(path)
    overall = evaluate_links(links, truth)["overall"]
    return {k: overall[k] for k in ("precision", "recall", "f1")}


def _bench(home: Path) -> None:
    import pandas as pd

    standardised = home / "secure" / "standardised"
    last = max(p.stem for p in standardised.glob("*/*.parquet"))
    held = home / "secure" / "held-back"
    shutil.rmtree(home / "linkage" / "profiles", ignore_errors=True)
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as tmp:
        for month_file in standardised.glob(f"*/{last}.parquet"):
            (held / month_file.parent.name).mkdir(parents=True, exist_ok=True)
            month_file.rename(held / month_file.parent.name / month_file.name)
        try:
            seconds = _placelink(
                "run", "--from", "pseudonymise", "--until", "pseudonymise", home=home
            )
            print(f"months before {last}: pseudonymised in {seconds:.1f}s", flush=True)
            figures["before"] = run_child(__file__, "before", home, Path(tmp) / "before.parquet")
        finally:
            for month_file in held.glob("*/*.parquet"):
                month_file.rename(standardised / month_file.parent.name / month_file.name)
            shutil.rmtree(held, ignore_errors=True)
        seconds = _placelink("run", "--from", "pseudonymise", "--until", "pseudonymise", home=home)
        print(f"every month with {last}: pseudonymised in {seconds:.1f}s", flush=True)
        linkage = home / "linkage"
        saved = Path(tmp) / "linkage-before"
        shutil.copytree(linkage, saved, ignore=shutil.ignore_patterns("encoded", "spill"))
        figures["incremental"] = run_child(
            __file__, home, "incremental", Path(tmp) / "incremental.parquet"
        )
        for item in saved.iterdir():  # the full link starts from the same state
            target = linkage / item.name
            if target.is_dir():
                shutil.rmtree(target)
            shutil.move(str(item), target)
        figures["full"] = run_child(__file__, "full", home, Path(tmp) / "full.parquet")
        truth = pd.concat(
            pd.read_parquet(f) for f in sorted((home / "content" / "_truth").glob("*.parquet"))
        )
        for which in LINKS:
            figures[which].update(_score(Path(tmp) / f"{which}.parquet", truth))
    print(f"\nhome {home}, new month {last}")
    header = ("mode", "records", "new", "precision", "recall", "F1", "wall s", "cpu s", "peak MiB")
    print(f"{'link':12}" + "".join(f"{h:>12}" for h in header))
    for which in LINKS:
        f = figures[which]
        print(
            f"{which:12}{f['mode']:>12}{f['records']:12,}{f['new_records']:12,}"
            f"{f['precision']:12.5f}{f['recall']:12.5f}{f['f1']:12.5f}"
            f"{f['wall_s']:12.1f}{f['cpu_s']:12.1f}{f['peak_mib']:12.0f}"
        )
    inc, full = figures["incremental"], figures["full"]
    ratio = inc["wall_s"] / full["wall_s"]
    print(
        f"incremental / full: wall {ratio:.3f} ({'within' if ratio <= 0.1 else 'over'} 10%), "
        f"cpu {inc['cpu_s'] / full['cpu_s']:.3f}, "
        f"peak memory {inc['peak_mib'] / full['peak_mib']:.2f}; "
        f"F1 {inc['f1']:.5f} vs {full['f1']:.5f} ({inc['f1'] - full['f1']:+.5f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a data home (default: a fresh temporary one)")
    parser.add_argument("--people", type=int, default=50_000, help="people in a generated town")
    parser.add_argument("--child", choices=LINKS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.home.resolve(), args.child, args.out)))
        return 0
    if args.home is not None:
        home = args.home.resolve()
        _prepare(home, args.people)
        _bench(home)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-incremental-home-") as tmp:
        _prepare(Path(tmp), args.people)
        _bench(Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
