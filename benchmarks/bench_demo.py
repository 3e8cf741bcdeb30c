"""Wall time of each step of the demo: generate a town, then run the whole pipeline once.

    .venv/bin/python benchmarks/bench_demo.py [--people 50000] [--months 36] [--home DIR]
        [--limit 300]

Generates a town into a temporary home (in a child process, timed), then calls
`pipelines.run.run_pipeline(settings)` once for every step (pull ... report), the way
`placelink run` does, and reads each step's duration from that run's Dagster event log
(<home>/dagster): the time between a step's STEP_START and its STEP_SUCCESS or STEP_FAILURE.
Prints every step, the time per stage (the sum of its steps: under the default multiprocess
executor the sources' steps overlap, so a stage's sum can exceed its share of the wall time),
generate plus the pipeline against --limit seconds (the demo must finish within 5 minutes for
50,000 people), the peak RSS of the pipeline process and of the generator, and the peak of the
pipeline's whole process tree (its step processes; benchmarks/measure.py TreePeak).
PLACELINK_* variables are ignored, so the defaults apply (a development key, DuckDB).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from measure import TreePeak

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ("pull", "pseudonymise", "linkage", "warehouse", "outcomes", "published", "report")


def generate_town(home: Path, people: int, months: int) -> float:
    code = (
        "import sys; from pathlib import Path; from placelink.generate import generate; "
        "generate(Path(sys.argv[1]), people=int(sys.argv[2]), months=int(sys.argv[3])); "
        "from placelink.encode import init_keys; from placelink.settings import Settings; "
        "init_keys(Settings.from_env(environ={}, home=sys.argv[1]))"
    )
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code, str(home), str(people), str(months)],
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return time.perf_counter() - began


def step_durations(dagster_home: Path, run_id: str) -> dict[str, tuple[float, str]]:
    """{step key: (seconds, outcome)} from the run's STEP_START/SUCCESS/FAILURE events."""
    from dagster import DagsterEventType, DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    kinds = {
        DagsterEventType.STEP_START: "start",
        DagsterEventType.STEP_SUCCESS: "success",
        DagsterEventType.STEP_FAILURE: "failure",
    }
    starts: dict[str, float] = {}
    out: dict[str, tuple[float, str]] = {}
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or event.event_type not in kinds or not entry.step_key:
                continue
            kind = kinds[event.event_type]
            if kind == "start":
                starts[entry.step_key] = entry.timestamp
            elif entry.step_key in starts:
                out[entry.step_key] = (entry.timestamp - starts[entry.step_key], kind)
    return out


def stage_of(step_key: str) -> str:
    prefix = step_key.split("__", 1)[0]
    return prefix if prefix in STAGES else "other"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--home", type=Path, help="use (and keep) this home, not a temp dir")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds allowed for the demo")
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith("PLACELINK_")]:
        del os.environ[name]

    with tempfile.TemporaryDirectory(prefix="placelink-demo-") as tmp:
        home = (args.home or Path(tmp) / "home").resolve()
        gen_seconds = generate_town(home, args.people, args.months)
        gen_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"generate: {gen_seconds:.1f} s ({args.people:,} people)", flush=True)

        began = time.perf_counter()
        from pipelines.run import run_pipeline
        from placelink.settings import Settings

        settings = Settings.from_env(home=home)
        with TreePeak() as tree:
            summary = run_pipeline(settings)
        pipeline_seconds = time.perf_counter() - began
        steps = step_durations(settings.dagster_home, summary.run_id)

    pipeline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"run {summary.run_id}: {'success' if summary.success else 'FAILED'}")
    if summary.error or summary.failed_checks:
        print(f"  {summary.error or ''} {'; '.join(summary.failed_checks)}".rstrip())
    records = sum(s["rows_in"] for s in summary.sources)
    print(f"records landed: {records:,}")

    by_stage: dict[str, float] = defaultdict(float)
    print(f"\n{'step':<44} {'seconds':>8}")
    for key, (seconds, outcome) in sorted(steps.items(), key=lambda kv: -kv[1][0]):
        by_stage[stage_of(key)] += seconds
        flag = "" if outcome == "success" else f"  ({outcome})"
        print(f"{key:<44} {seconds:>8.2f}{flag}")
    print(f"\n{'stage':<14} {'steps':>5} {'seconds':>8}")
    for stage in (*STAGES, "other"):
        if stage in by_stage:
            count = sum(1 for k in steps if stage_of(k) == stage)
            print(f"{stage:<14} {count:>5} {by_stage[stage]:>8.2f}")
    steps_total = sum(s for s, _ in steps.values())
    total = gen_seconds + pipeline_seconds
    print(
        f"\nsteps: {steps_total:.1f} s; run_pipeline call (with imports, definitions, "
        f"run overhead): {pipeline_seconds:.1f} s"
    )
    verdict = "within" if total <= args.limit else "OVER"
    print(
        f"demo total (generate + pipeline): {total:.1f} s, {verdict} the {args.limit:.0f} s limit"
    )
    print(f"peak RSS: pipeline process {pipeline_rss:,.0f} MiB, generator {gen_rss:,.0f} MiB")
    print(f"peak Pss of the pipeline's process tree (with its steps): {tree.peak_mib:,.0f} MiB")
    if child_rss > gen_rss:
        print(f"  (largest child process {child_rss:,.0f} MiB)")
    return 0 if summary.success and total <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
