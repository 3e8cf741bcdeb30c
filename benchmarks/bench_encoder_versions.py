"""The identity encoder of this tree against another checkout's, on the same records, alternately.

    .venv/bin/python benchmarks/bench_encoder_versions.py --home DIR --before CHECKOUT
        [--source health_ecds] [--rows 200000] [--runs 3]

CHECKOUT is another checkout of placelink (`git worktree add /tmp/before <commit>`). The first
--rows records of a source's standardised months (DIR/secure/standardised/<source>, as
`placelink run --until pull` leaves them) are encoded by `IdentityEncoder` in chunks of the
pseudonymise step's size, once with each checkout's code, in child processes that alternate:
each pair runs under the same load, which on a shared machine moves single runs by half. Each
child prints its CPU and wall seconds for the encoding alone (not reading, not imports); the
parent prints every pair's ratio (this tree / CHECKOUT) and the medians. Only the encoder is
timed: the pseudonymise step around it is bench_pseudonymise.py's and bench_linkage.py's work.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
from pathlib import Path
import pandas as pd, pyarrow as pa, pyarrow.parquet as pq
from placelink.encode import IdentityEncoder, LinkageKey
from placelink.pseudonymise import CHUNK_ROWS
from placelink.sources import IDENTITY_FIELDS
folder, rows = Path(sys.argv[1]), int(sys.argv[2])
fields = [f for f in IDENTITY_FIELDS if f != "record_id"]
tables, held = [], 0
for path in sorted(folder.glob("*.parquet")):
    table = pq.read_table(path, columns=[f for f in fields if f in pq.read_schema(path).names])
    tables.append(table)
    held += table.num_rows
    if held >= rows:
        break
table = pa.concat_tables(tables, promote_options="permissive").slice(0, rows)
chunks = [table.slice(at, CHUNK_ROWS).to_pandas(types_mapper=pd.ArrowDtype)
          for at in range(0, table.num_rows, CHUNK_ROWS)]
encoder = IdentityEncoder(LinkageKey(bytes(range(32)), False, "benchmark"))
cpu, wall = time.process_time(), time.perf_counter()
for chunk in chunks:
    encoder(chunk)
print(json.dumps({"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall,
                  "rows": table.num_rows, "code": str(Path(sys.modules["placelink"].__file__))}))
"""


def _run(checkout: Path, folder: Path, rows: int) -> dict:
    """The child under `checkout`'s code: its directory first on the path (cwd and PYTHONPATH),
    ahead of the editable install."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), str(rows)],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout)},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the child under {checkout} failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a pulled data home")
    parser.add_argument("--before", type=Path, required=True, help="the baseline checkout")
    parser.add_argument("--source", default="health_ecds")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    folder = args.home / "secure" / "standardised" / args.source
    if not any(folder.glob("*.parquet")):
        parser.error(f"{folder}: no standardised months (run `placelink run --until pull`)")
    if not (args.before / "placelink" / "encode.py").exists():
        parser.error(f"{args.before}: not a placelink checkout")
    sides = {"before": args.before.resolve(), "this tree": ROOT}
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    for i in range(args.runs):
        for side, checkout in sides.items():
            figures = _run(checkout, folder, args.rows)
            runs[side].append(figures)
            print(
                f"  run {i + 1}/{args.runs} {side:9}  cpu {figures['cpu_s']:6.1f}s  "
                f"wall {figures['wall_s']:6.1f}s  ({figures['code']})",
                flush=True,
            )
    rows = runs["this tree"][0]["rows"]
    ratios = [
        after["cpu_s"] / before["cpu_s"]
        for before, after in zip(runs["before"], runs["this tree"], strict=True)
    ]
    medians = {side: statistics.median(r["cpu_s"] for r in runs[side]) for side in sides}
    print(
        f"\n{rows:,} {args.source} records, {args.runs} pair(s): median cpu before "
        f"{medians['before']:.1f}s, this tree {medians['this tree']:.1f}s; "
        f"pair ratios {', '.join(f'{r:.3f}' for r in ratios)}, "
        f"median **{statistics.median(ratios):.3f}**"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
