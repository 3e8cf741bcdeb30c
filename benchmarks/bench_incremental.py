"""One new month linked incrementally against a full link of every month: time, memory, F1.

    .venv/bin/python benchmarks/bench_incremental.py [--home DIR] [--people 50000] [--runs 3]
        [--before DIR]

The town's last month is held back (its standardised files moved aside), the other months are
pseudonymised and linked in full (the run before: it leaves the model, the person index and
the profiles state). Then the last month comes back, is pseudonymised with the rest, and is
linked twice from that same state: incrementally (`run_linkage(..., full_relink=False)`, what
a monthly `placelink run` does) and by a full re-link of every month (`--full-relink`, which
trains again). Each link runs in its own child process, timed around run_linkage alone (wall
and CPU seconds) with its peak RSS (VmHWM); the parent scores each link's record_links against
the truth (content/_truth/, keyed by record pseudonym) and prints the ratio of the
incremental link's time to the full link's, and the two F1s. With --runs N the two links run
N times each, alternately, from the same state: each pair's ratio is measured under the same
load, and the medians are printed, with each link's wall seconds by phase.

With --before DIR the state after months 1 to n-1 (linkage/ but its encodings) is kept in DIR,
and a later run that finds DIR reuses it, skipping the held-back month, both pseudonymise
runs and the first full link: the home's encodings must then hold every month already.

Without --home a fresh town of --people is generated into a temporary directory; a home that
lacks its landing files is generated into, and one not yet pulled is pulled
(`placelink run --until pull`). The home's linkage/ is rewritten.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from homes import placelink, prepare
from measure import cpu_s, peak_mib, run_child

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
        "phases": result.phase_seconds,
    }


def _score(path: Path, truth) -> dict:
    import pandas as pd

    from placelink.link.evaluate import evaluate_links

    links = pd.read_parquet(path)
    overall = evaluate_links(links, truth)["overall"]
    return {k: overall[k] for k in ("precision", "recall", "f1")}


def _restore(saved: Path, linkage: Path) -> None:
    """Put the saved state back into linkage/ (its encodings stay)."""
    for item in saved.iterdir():
        target = linkage / item.name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if item.is_dir():
            shutil.copytree(item, target)
        else:
            shutil.copy2(item, target)


def _link_before(home: Path, tmp: Path, saved: Path) -> tuple[str, dict]:
    """Link every month but the last in full, then pseudonymise every month; keep the state."""
    standardised = home / "secure" / "standardised"
    last = max(p.stem for p in standardised.glob("*/*.parquet"))
    held = home / "secure" / "held-back"
    shutil.rmtree(home / "linkage" / "profiles", ignore_errors=True)
    for month_file in standardised.glob(f"*/{last}.parquet"):
        (held / month_file.parent.name).mkdir(parents=True, exist_ok=True)
        month_file.rename(held / month_file.parent.name / month_file.name)
    try:
        seconds = placelink("run", "--from", "pseudonymise", "--until", "pseudonymise", home=home)
        print(f"months before {last}: pseudonymised in {seconds:.1f}s", flush=True)
        before = run_child(__file__, "before", home, tmp / "before.parquet")
    finally:
        for month_file in held.glob("*/*.parquet"):
            month_file.rename(standardised / month_file.parent.name / month_file.name)
        shutil.rmtree(held, ignore_errors=True)
    seconds = placelink("run", "--from", "pseudonymise", "--until", "pseudonymise", home=home)
    print(f"every month with {last}: pseudonymised in {seconds:.1f}s", flush=True)
    shutil.copytree(home / "linkage", saved, ignore=shutil.ignore_patterns("encoded", "spill"))
    return last, before


def _bench(home: Path, runs: int, keep: Path | None) -> None:
    import pandas as pd

    linkage = home / "linkage"
    results: dict[str, list[dict]] = {"before": [], "incremental": [], "full": []}
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as tmp_name:
        tmp = Path(tmp_name)
        if keep is not None and keep.exists():
            saved, last = keep, "the newest"
            print(f"reusing the state of {keep}", flush=True)
        else:
            saved = keep or tmp / "linkage-before"
            last, before = _link_before(home, tmp, saved)
            results["before"].append({**before, "out": tmp / "before.parquet"})
        for run in range(runs):
            for which in ("incremental", "full"):  # each from the same state
                _restore(saved, linkage)
                out = tmp / f"{which}-{run}.parquet"
                figures = run_child(__file__, which, home, out)
                print(
                    f"run {run + 1} {which}: {figures['wall_s']:.1f}s, "
                    f"{figures['peak_mib']:.0f} MiB",
                    flush=True,
                )
                results[which].append({**figures, "out": out})
        truth = pd.concat(
            pd.read_parquet(f) for f in sorted((home / "content" / "_truth").glob("*.parquet"))
        )
        for rows in results.values():
            for row in rows:
                row.update(_score(row["out"], truth))
    _report(home, last, results)


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


def _report(home: Path, last: str, results: dict[str, list[dict]]) -> None:
    print(f"\nhome {home}, new month {last}, {len(results['full'])} run(s) of each link")
    header = ("mode", "records", "new", "pairs", "precision", "recall", "F1", "wall s", "cpu s")
    header = (*header, "peak MiB")
    print(f"{'link':16}" + "".join(f"{h:>12}" for h in header))
    for which, rows in results.items():
        for i, f in enumerate(rows):
            print(
                f"{f'{which} {i + 1}':16}{f['mode']:>12}{f['records']:12,}{f['new_records']:12,}"
                f"{f['pairs_scored']:12,}"
                f"{f['precision']:12.5f}{f['recall']:12.5f}{f['f1']:12.5f}"
                f"{f['wall_s']:12.1f}{f['cpu_s']:12.1f}{f['peak_mib']:12.0f}"
            )
    inc, full = results["incremental"], results["full"]
    for which, rows in (("incremental", inc), ("full", full)):
        names = list(dict.fromkeys(name for row in rows for name in row["phases"]))
        print(f"\n{which}: median wall seconds by phase")
        for name in names:
            print(f"  {name:24}{_median([row['phases'].get(name, 0.0) for row in rows]):10.2f}")
        print(f"  {'total (run_linkage)':24}{_median([row['wall_s'] for row in rows]):10.2f}")
    ratios = [i["wall_s"] / f["wall_s"] for i, f in zip(inc, full, strict=True)]
    ratio = _median(ratios)
    print(
        f"\nincremental / full, each pair in the same run: wall "
        f"{', '.join(f'{r:.3f}' for r in ratios)}; median {ratio:.3f} "
        f"({'within' if ratio <= 0.1 else 'over'} 10%); "
        f"cpu {_median([i['cpu_s'] / f['cpu_s'] for i, f in zip(inc, full, strict=True)]):.3f}, "
        f"peak memory "
        f"{_median([i['peak_mib'] / f['peak_mib'] for i, f in zip(inc, full, strict=True)]):.2f}"
        f"; median wall {_median([r['wall_s'] for r in inc]):.1f}s vs "
        f"{_median([r['wall_s'] for r in full]):.1f}s; median peak "
        f"{_median([r['peak_mib'] for r in inc]):.0f} vs "
        f"{_median([r['peak_mib'] for r in full]):.0f} MiB; "
        f"F1 {_median([r['f1'] for r in inc]):.5f} vs {_median([r['f1'] for r in full]):.5f} "
        f"({_median([r['f1'] for r in inc]) - _median([r['f1'] for r in full]):+.5f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a data home (default: a fresh temporary one)")
    parser.add_argument("--people", type=int, default=50_000, help="people in a generated town")
    parser.add_argument("--runs", type=int, default=1, help="runs of each link (medians)")
    parser.add_argument(
        "--before", type=Path, help="keep (or reuse) the state of months 1 to n-1 here"
    )
    parser.add_argument("--child", choices=LINKS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.home.resolve(), args.child, args.out)))
        return 0
    if args.home is not None:
        home = args.home.resolve()
        prepare(home, args.people, "pull")
        _bench(home, args.runs, args.before)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-incremental-home-") as tmp:
        prepare(Path(tmp), args.people, "pull")
        _bench(Path(tmp), args.runs, args.before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
