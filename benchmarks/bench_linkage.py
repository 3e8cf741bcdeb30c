"""Pairwise accuracy, wall time and peak memory: placelink's link step against plaintext Splink.

    .venv/bin/python benchmarks/bench_linkage.py [--home DIR] [--people 50000] [--repeat 1]
        [--backend duckdb|spark|both]

The baseline is benchmarks/plaintext_recipe.py: a careful Splink 5 model over the standardised
plaintext (secure/standardised). placelink links only keyed encodings (linkage/encoded), with
`placelink.link.run_linkage`, and should match or beat the baseline's pairwise F1.

Without --home a fresh town of --people is generated into a temporary directory; a home that
lacks its landing files is generated into, and one that lacks standardised or encoded files is
run with `placelink run --until pseudonymise` first. Each side then runs in its own child
process, --repeat times, alternating: the child times the link call alone (not interpreter
start-up or imports), in wall and CPU seconds (user + system: steadier than wall time on a
shared machine), and reports its peak RSS (VmHWM from /proc/self/status, which exec
resets). The parent scores each side's clusters with placelink.link.evaluate.evaluate_links
against the truth (landing/_truth/truth.csv for the plaintext side, content/_truth/ keyed by
record pseudonym for placelink's) and prints medians over the repeats, and the ratios
placelink / plaintext of wall time, CPU time and peak memory. placelink's side is the whole
public run_linkage (Splink, then the stable person index and the linkage quality table), so it
does a little more than the baseline; it writes its usual record_links, person_index and
model.json under <home>/linkage, as `placelink run` would.

--backend chooses where placelink's Splink runs (PLACELINK_LINK_BACKEND): DuckDB (the side
"placelink"), Spark in local mode (the side "spark", which needs the `spark` extra and Java),
or both, each side in its own child. Spark's work is done by a JVM the child starts, so each
child's peak memory is that of its whole process tree and its CPU time includes the JVM's. So is
the side's with --pseudonymise, whose Dagster run has a process per step: the tree's memory is
the sum of its processes' proportional memory (Pss, sampled every 0.2 s; benchmarks/measure.py
TreePeak), and never below the child's own VmHWM. A sum of resident memory (Rss) would count
the pages a step process shares with the process it was forked from once for each of them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from homes import placelink, prepare
from measure import TreePeak, cpu_s, peak_mib, process_tree, run_child

ROOT = Path(__file__).resolve().parents[1]
BACKEND_SIDES = {"duckdb": "placelink", "spark": "spark"}


def _descendantscpu_s() -> float:
    """User and system seconds of the live descendants (rusage counts only reaped children)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in process_tree(os.getpid())[1:]:
        try:
            fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


# --- the children ----------------------------------------------------------------------------


def _child_plaintext(home: Path, out: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from benchmarks.plaintext_recipe import link_plaintext

    began, cpu = time.perf_counter(), cpu_s()
    clusters = link_plaintext(home / "secure" / "standardised")
    wall, cpu = time.perf_counter() - began, cpu_s() - cpu
    peak = peak_mib()
    clusters.rename(columns={"cluster_id": "person_id"}).to_parquet(out, index=False)
    return {"wall_s": wall, "cpu_s": cpu, "peak_mib": peak}


def _child_placelink(
    home: Path, out: Path, backend: str = "duckdb", pseudonymise: bool = False
) -> dict:
    import dataclasses
    import resource

    import pandas as pd

    from placelink.link import run_linkage
    from placelink.settings import Settings

    settings = dataclasses.replace(Settings.from_env(home=home), link_backend=backend)
    encoded = sorted((home / "linkage" / "encoded").glob("*.parquet"))
    with TreePeak() as tree:
        began, cpu = time.perf_counter(), cpu_s()
        # With --pseudonymise, the side includes making the encodings from the standardised
        # records, as `placelink run --from pseudonymise --until pseudonymise` does.
        made = 0.0
        if pseudonymise:
            made = placelink("run", "--from", "pseudonymise", "--until", "pseudonymise", home=home)
        result = run_linkage(settings, encoded, f"bench-{uuid.uuid4().hex[:8]}")
        wall = time.perf_counter() - began
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = cpu_s() - cpu + _descendantscpu_s() + children.ru_utime + children.ru_stime
    peak = max(tree.peak_mib, peak_mib())
    links = pd.read_parquet(result.record_links, columns=["source", "record_id", "person_id"])
    links.to_parquet(out, index=False)
    phases = (
        {"pseudonymise": made, **result.phase_seconds} if pseudonymise else result.phase_seconds
    )
    return {"wall_s": wall, "cpu_s": cpu, "peak_mib": peak, "phases": phases}


# --- the parent ------------------------------------------------------------------------------


def _score(path: Path, truth) -> dict:
    import pandas as pd

    from placelink.link.evaluate import evaluate_links

    overall = evaluate_links(pd.read_parquet(path), truth)["overall"]
    return {k: overall[k] for k in ("precision", "recall", "f1")}


def _bench(
    home: Path, repeat: int, backends: tuple[str, ...] = ("duckdb",), pseudonymise: bool = False
) -> None:
    import pandas as pd

    # The plaintext recipe keeps the sources' record ids; placelink's links carry record
    # pseudonyms, scored against the truth the pseudonymise step keyed the same way.
    sides = ("plaintext", *(BACKEND_SIDES[b] for b in backends))
    keyed = pd.concat(
        pd.read_parquet(f) for f in sorted((home / "content" / "_truth").glob("*.parquet"))
    )
    truths = {
        "plaintext": pd.read_csv(home / "landing" / "_truth" / "truth.csv", dtype=str),
        **{side: keyed for side in sides[1:]},
    }
    truth = truths["plaintext"]
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="bench-linkage-") as tmp:
        for i in range(repeat):
            for side in sides:
                out = Path(tmp) / f"{side}-{i}.parquet"
                env = {"BENCH_PSEUDONYMISE": "1"} if pseudonymise and side != "plaintext" else None
                figures = run_child(__file__, side, home, out, env)
                phases = figures.pop("phases", {})
                figures.update(_score(out, truths[side]))
                runs[side].append(figures)
                print(
                    f"  run {i + 1}/{repeat} {side:9}  F1 {figures['f1']:.4f}  "
                    f"wall {figures['wall_s']:.1f}s  cpu {figures['cpu_s']:.1f}s  "
                    f"peak {figures['peak_mib']:.0f} MiB",
                    flush=True,
                )
                if phases:
                    print("    " + ", ".join(f"{k} {v:.1f}s" for k, v in phases.items()))
    median = {
        side: {k: statistics.median(r[k] for r in runs[side]) for k in runs[side][0]}
        for side in sides
    }
    print(f"\nmedians over {repeat} run(s), {len(truth):,} records with truth, home {home}")
    header = ("precision", "recall", "F1", "wall s", "cpu s", "peak MiB")
    print(f"{'side':10}" + "".join(f"{h:>11}" for h in header))
    for side in sides:
        m = median[side]
        print(
            f"{side:10}{m['precision']:11.5f}{m['recall']:11.5f}{m['f1']:11.5f}"
            f"{m['wall_s']:11.1f}{m['cpu_s']:11.1f}{m['peak_mib']:11.0f}"
        )
    pt = median["plaintext"]
    for side in sides[1:]:
        pl = median[side]
        verdict = "matches or beats" if pl["f1"] >= pt["f1"] else "below"
        print(
            f"{side} / plaintext: wall {pl['wall_s'] / pt['wall_s']:.2f}x, "
            f"cpu {pl['cpu_s'] / pt['cpu_s']:.2f}x, "
            f"peak memory {pl['peak_mib'] / pt['peak_mib']:.2f}x, "
            f"F1 {pl['f1'] - pt['f1']:+.5f} ({verdict} the plaintext baseline)"
        )
    if "placelink" in median and "spark" in median:
        print(
            f"spark - duckdb F1: {median['spark']['f1'] - median['placelink']['f1']:+.5f}; "
            f"spark / duckdb wall {median['spark']['wall_s'] / median['placelink']['wall_s']:.2f}x"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a data home (default: a fresh temporary one)")
    parser.add_argument("--people", type=int, default=50_000, help="people in a generated town")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--backend",
        choices=("duckdb", "spark", "both"),
        default="duckdb",
        help="where placelink's Splink runs (PLACELINK_LINK_BACKEND); both: a side each",
    )
    parser.add_argument(
        "--pseudonymise",
        action="store_true",
        help="placelink's side makes its encodings first (`placelink run --from pseudonymise "
        "--until pseudonymise`), timed with the link",
    )
    parser.add_argument(
        "--child", choices=("plaintext", *BACKEND_SIDES.values()), help=argparse.SUPPRESS
    )
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.child == "plaintext":
            figures = _child_plaintext(args.home.resolve(), args.out)
        else:
            backend = next(b for b, side in BACKEND_SIDES.items() if side == args.child)
            pseudonymise = os.environ.get("BENCH_PSEUDONYMISE") == "1"
            figures = _child_placelink(args.home.resolve(), args.out, backend, pseudonymise)
        print(json.dumps(figures))
        return 0
    backends = ("duckdb", "spark") if args.backend == "both" else (args.backend,)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.home is not None:
        home = args.home.resolve()
        prepare(home, args.people, "pseudonymise")
        _bench(home, args.repeat, backends, args.pseudonymise)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-linkage-home-") as tmp:
        prepare(Path(tmp), args.people, "pseudonymise")
        _bench(Path(tmp), args.repeat, backends, args.pseudonymise)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
