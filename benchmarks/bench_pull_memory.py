"""Peak memory of the pull and pseudonymise steps as one month's extract grows.

    .venv/bin/python benchmarks/bench_pull_memory.py [--rows 100000 400000 1600000]

Generates a small town in a temporary home, then builds one health_apc month file of each
size in --rows by repeating the landed month's rows (each copy's record ids made unique, so
nothing is quarantined as a duplicate) and syncs it to disk. For each size a fresh child
process pulls that month
and pseudonymises it; it prints wall time and its own peak RSS. The baseline, in the same
run, is a child that reads the same file whole into Arrow (what a reader that is not
streamed holds at once): its peak RSS grows with the file, the steps' should not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
SOURCE, MONTH = "health_apc", "2024-01"

# Peak RSS from /proc/self/status (VmHWM), which exec resets (benchmarks/measure.py); ru_maxrss
# would carry over the parent's size from the fork, and the parent holds the file it has just
# built. Each child runs from the repository root, so it imports the one helper.
PEAK = """
from benchmarks.measure import peak_mib
"""

STEPS = (
    PEAK
    + """
import json, sys, time
from pathlib import Path
from placelink.encode import load_key
from placelink.pseudonymise import load_postcode_lookup, pseudonymise_source
from placelink.pull import pull_months
from placelink.settings import Settings
from placelink.sources import load_sources
settings = Settings.from_env(environ={}, home=Path(sys.argv[1]))
spec = next(s for s in load_sources(settings.sources_file) if s.name == sys.argv[2])
began = time.perf_counter()
[result] = pull_months(spec, [sys.argv[3]], settings)
pulled = time.perf_counter()
pull_peak = peak_mib()
encoded = pseudonymise_source(spec, settings, load_key(settings), load_postcode_lookup(settings))
print(json.dumps({"rows_in": result.rows_in, "valid": result.valid, "encoded": encoded.records,
                  "pull_s": pulled - began, "pseudonymise_s": time.perf_counter() - pulled,
                  "pull_peak_mib": pull_peak,
                  "peak_mib": peak_mib()}))
"""
)

WHOLE = (
    PEAK
    + """
import json, sys
import pyarrow as pa, pyarrow.csv as pacsv
table = pacsv.read_csv(sys.argv[1], convert_options=pacsv.ConvertOptions(
    column_types={n: pa.string() for n in pacsv.open_csv(sys.argv[1]).schema.names}))
print(json.dumps({"rows": table.num_rows, "peak_mib": peak_mib()}))
"""
)


def child(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def build_month(seed_file: Path, rows: int, dest: Path) -> None:
    """`rows` rows made of copies of the seed month, record ids suffixed copy by copy."""
    seed = pacsv.read_csv(
        seed_file,
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in pacsv.open_csv(seed_file).schema.names}
        ),
    )
    copies = []
    for k in range(-(-rows // seed.num_rows)):
        ids = pc.binary_join_element_wise(seed.column("epikey"), pa.scalar(f"{k}"), "-")
        copies.append(seed.set_column(seed.schema.get_field_index("epikey"), "epikey", ids))
    table = pa.concat_tables(copies).slice(0, rows)
    pacsv.write_csv(table, dest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 400_000, 1_600_000])
    parser.add_argument("--people", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="placelink-bench-") as tmp:
        home = Path(tmp) / "home"
        subprocess.run(
            [Path(sys.executable).with_name("placelink"), "generate", "--home", str(home),
             "--people", str(args.people), "--months", "12"],
            check=True, capture_output=True, cwd=ROOT,
        )  # fmt: skip
        subprocess.run(
            [Path(sys.executable).with_name("placelink"), "init", "--home", str(home)],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        month_file = home / "landing" / SOURCE / f"{MONTH}.csv"
        seed_file = Path(tmp) / "seed.csv"
        month_file.rename(seed_file)
        print(
            f"{'rows':>10} {'file MiB':>9} {'pull s':>7} {'pseud s':>8} "
            f"{'pull peak MiB':>14} {'both peak MiB':>14} {'whole-file read MiB':>20} {'ratio':>6}"
        )
        for rows in sorted(args.rows):
            build_month(seed_file, rows, month_file)
            os.sync()  # the extract has landed: its writing is not the steps' to wait for
            steps = child(STEPS, str(home), SOURCE, MONTH)
            whole = child(WHOLE, str(month_file))
            assert steps["rows_in"] == whole["rows"] == rows, (steps, whole)
            assert steps["encoded"] == steps["valid"], steps
            print(
                f"{rows:>10,} {month_file.stat().st_size / 2**20:>9,.0f} {steps['pull_s']:>7.2f} "
                f"{steps['pseudonymise_s']:>8.2f} {steps['pull_peak_mib']:>14,.0f} "
                f"{steps['peak_mib']:>14,.0f} {whole['peak_mib']:>20,.0f} "
                f"{steps['peak_mib'] / whole['peak_mib']:>6.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
