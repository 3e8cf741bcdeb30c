"""Time `generate` and check that one seed gives byte-identical files.

Usage: python benchmarks/bench_generate.py [--people 50000] [--months 36] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from placelink.generate import generate


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=50000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    times, hashes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            home = Path(tmp) / f"run{i}"
            began = time.perf_counter()
            summary = generate(home, people=args.people, months=args.months, seed=args.seed)
            times.append(time.perf_counter() - began)
            hashes.append(tree_hash(home / "landing"))
            print(f"run {i + 1}: {times[-1]:.2f} s, records {summary.records}", flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    identical = len(set(hashes)) == 1
    print(
        f"people={args.people} months={args.months} median={statistics.median(times):.2f} s "
        f"peak_rss={peak_mb:.0f} MB identical_files={identical}"
    )
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
