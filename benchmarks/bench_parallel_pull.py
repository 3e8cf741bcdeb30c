"""`placelink run --until pseudonymise` under the in-process and the multiprocess executor.

    .venv/bin/python benchmarks/bench_parallel_pull.py [--home DIR | --people 50000] [--repeat 3]

Each pass copies the town's landing files and keys into a fresh data home (so every run pulls
and pseudonymises everything, from the same inputs) and runs `run_pipeline(until=
"pseudonymise")` in a child process with PLACELINK_EXECUTOR set to the side's executor; the two
sides alternate which goes first. A child prints its wall time, its CPU seconds and its
children's, the largest single process's peak RSS, and the peak of the summed Pss of its whole
process tree (benchmarks/measure.py: a multiprocess run holds several step processes at once).
The baseline is the in-process run, measured in the same invocation; the ratio is the
multiprocess median over the in-process median.

Without --home a town of --people is generated (and keyed) into a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from homes import placelink
from measure import TreePeak, cpu_s, peak_mib, run_child

SIDES = ("in_process", "multiprocess")
KEYS = ("secure/key", "warehouse/release_key")


def _child(home: Path) -> dict:
    from pipelines.run import run_pipeline
    from placelink.settings import Settings

    settings = Settings.from_env(home=home)
    began, cpu = time.perf_counter(), cpu_s()
    with TreePeak() as tree:
        summary = run_pipeline(settings, until="pseudonymise")
    wall = time.perf_counter() - began
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "success": summary.success,
        "records": sum(s["valid"] for s in summary.sources),
        "wall_s": wall,
        "cpu_s": cpu_s() - cpu + children.ru_utime + children.ru_stime,
        # ru_maxrss of the children is the largest reaped descendant's (the forkserver reaps
        # the step processes, and the run stops it), in KiB.
        "process_peak_mib": max(peak_mib(), children.ru_maxrss / 1024),
        "tree_peak_mib": tree.peak_mib,
        "executor": settings.executor,
    }


def _fresh_home(town: Path, home: Path) -> None:
    """The town's landing files and keys alone, in a new data home."""
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(town / "landing", home / "landing")
    for key in KEYS:
        (home / key).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copy2(town / key, home / key)


def _bench(town: Path, repeat: int) -> None:
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as tmp:
        home, out = Path(tmp) / "home", Path(tmp) / "out.json"
        for n in range(repeat):
            for side in SIDES if n % 2 == 0 else SIDES[::-1]:
                _fresh_home(town, home)
                figures = run_child(__file__, side, home, out, env={"PLACELINK_EXECUTOR": side})
                assert figures["success"] and figures["executor"] == side, figures
                runs[side].append(figures)
                print(
                    f"pass {n + 1} {side:13} {figures['wall_s']:7.1f} s wall "
                    f"{figures['cpu_s']:7.1f} s CPU {figures['process_peak_mib']:7.0f} MiB "
                    f"largest process {figures['tree_peak_mib']:7.0f} MiB tree",
                    flush=True,
                )
    print(f"\ntown {town}, {runs['in_process'][0]['records']:,} valid records, {repeat} passes")
    header = ("wall s", "CPU s", "largest process MiB", "process tree MiB")
    print(f"{'median':14}" + "".join(f"{h:>21}" for h in header))
    medians = {}
    for side in SIDES:
        medians[side] = {
            k: statistics.median(r[k] for r in runs[side])
            for k in ("wall_s", "cpu_s", "process_peak_mib", "tree_peak_mib")
        }
        m = medians[side]
        print(
            f"{side:14}{m['wall_s']:21.1f}{m['cpu_s']:21.1f}"
            f"{m['process_peak_mib']:21.0f}{m['tree_peak_mib']:21.0f}"
        )
    ratio = {k: medians["multiprocess"][k] / medians["in_process"][k] for k in medians[SIDES[0]]}
    print(
        f"{'multi / in':14}{ratio['wall_s']:20.2f}x{ratio['cpu_s']:20.2f}x"
        f"{ratio['process_peak_mib']:20.2f}x{ratio['tree_peak_mib']:20.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a generated town with its keys (placelink init)")
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.home)))
        return
    if args.home:
        _bench(args.home.resolve(), args.repeat)
        return
    with tempfile.TemporaryDirectory(prefix="bench-parallel-town-") as tmp:
        town = Path(tmp) / "town"
        placelink("generate", "--people", str(args.people), home=town)
        placelink("init", home=town)
        _bench(town, args.repeat)


if __name__ == "__main__":
    main()
