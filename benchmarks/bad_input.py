"""Every kind of bad input through the real CLI: one clear message, or quarantine, never a loss.

    .venv/bin/python benchmarks/bad_input.py [--people 3000] [--months 3]

Generates a small town, runs `placelink run --until pseudonymise` on it once, then, each case
on a fresh copy of that home:

- a file that cannot be read at all (empty, a required column missing, the wrong delimiter,
  undecodable bytes, a truncated CSV, JSON lines or Parquet file, a corrupt database): the
  run must exit 2 with one line on stderr naming the file and the problem, no
  traceback, none of the file's values, and leave that source's standardised files and
  encodings from the earlier run byte for byte as they were;
- rows with bad fields appended to one month (unparseable and impossible dates, a missing and
  a repeated record id, a bad NHS check digit, a malformed postcode, an unknown sex code): the
  run must succeed, quarantine each row that cannot be used with its reason code, null each
  field that can be lost, and reconcile rows_in = valid + quarantined exactly, per source and
  month;
- production without a key: exit 2 naming PLACELINK_SECRET, before anything is written.

Prints one line per case and exits 1 if any case does not hold.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
PLACELINK = Path(sys.executable).with_name("placelink")
MONTH = "2023-05"


def run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The CLI as a user runs it, with no PLACELINK_* setting but `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PLACELINK_")}
    return subprocess.run(
        [PLACELINK, *args, "--home", str(home)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, **env},
    )


def digests(home: Path, source: str) -> dict[str, str]:
    """A digest of a source's standardised and encoded files: what a failed pull must not touch
    (the other sources are pulled and encoded again, as they should be)."""
    files = sorted((home / "secure" / "standardised" / source).glob("*.parquet"))
    files += [home / "linkage" / "encoded" / f"{source}.parquet"]
    return {str(f.relative_to(home)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def rewrite_csv(path: Path, edit: Callable[[str], str]) -> None:
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")


def unreadable_cases(home: Path) -> dict[str, tuple[Path, Callable[[Path], None], str]]:
    """case: (the file, how it is spoiled, the problem the message must state)."""
    landing = home / "landing"
    apc = landing / "health_apc" / f"{MONTH}.csv"
    return {
        "empty file": (apc, lambda p: p.write_bytes(b""), "empty file"),
        "missing column": (
            apc,
            lambda p: rewrite_csv(p, lambda t: t.replace("postcode", "post_code", 1)),
            "missing required column(s) postcode",
        ),
        "wrong delimiter": (
            apc,
            lambda p: rewrite_csv(p, lambda t: t.replace(",", ";")),
            "is the delimiter ',' right?",
        ),
        "undecodable bytes": (
            apc,
            lambda p: p.write_bytes(p.read_bytes().replace(b"\n", b"\n\xff\xfe", 3)),
            "not valid in the declared encoding",
        ),
        "truncated csv": (apc, truncate, "rows with the wrong number of fields"),
        "truncated jsonl": (
            landing / "housing" / f"{MONTH}.jsonl",
            truncate,
            "not valid JSON lines",
        ),
        "truncated parquet": (
            landing / "benefits" / f"{MONTH}.parquet",
            truncate,
            "not a readable Parquet file",
        ),
        "corrupt database": (
            landing / "social_care" / "case_management.sqlite",
            lambda p: p.write_bytes(b"not a database " * 1000),
            "database error",
        ),
    }


BAD_ROWS = {
    # epikey suffix: (what is wrong, the field to spoil, its value, the outcome)
    "D1": ("unparseable date", "admidate", "2023-02-31", "unparseable_date"),
    "D2": ("impossible date of birth", "dob", "2090-01-01", "impossible_date_of_birth"),
    "D3": ("missing record id", "epikey", "", "missing_record_id"),
    "D4": ("bad NHS check digit", "nhs_number", "9434765918", "invalid_nhs_number"),
    "D5": ("malformed postcode", "postcode", "NOT A POSTCODE", "malformed_postcode"),
    "D6": ("unknown sex code", "sex", "7", "unknown_sex_code"),
}
QUARANTINED = {"unparseable_date", "impossible_date_of_birth", "missing_record_id"}


def add_bad_rows(path: Path) -> int:
    """Append one row per BAD_ROWS case and a repeat of an existing record id; return rows."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    template = frame.iloc[0]
    rows = []
    for suffix, (_, column, value, _) in BAD_ROWS.items():
        row = template.copy()
        row["epikey"] = f"{template['epikey']}{suffix}"
        row[column] = value
        rows.append(row)
    rows.append(template.copy())  # the first row's record id again: both rows quarantined
    pd.concat([frame, pd.DataFrame(rows)], ignore_index=True).to_csv(path, index=False)
    return len(frame) + len(rows)


def check_bad_rows(home: Path, rows_in: int) -> list[str]:
    failures = []
    runs = sorted((home / "reports" / "runs").glob("*.json"), key=os.path.getmtime)
    summary = json.loads(runs[-1].read_text())
    for source in summary["sources"]:
        if source["rows_in"] != source["valid"] + source["quarantined"]:
            failures.append(f"{source['source']} does not reconcile: {source}")
    reconciliation = json.loads(
        pq.ParquetFile(
            home / "secure" / "standardised" / "health_apc" / f"{MONTH}.parquet"
        ).metadata.metadata[b"placelink.reconciliation"]
    )
    quarantine = pd.read_parquet(home / "quarantine" / "health_apc" / f"{MONTH}.parquet")
    reasons = quarantine["reasons"].str.split(";").explode().value_counts().to_dict()
    expected = {code: 1 for _, _, _, code in BAD_ROWS.values() if code in QUARANTINED}
    expected["duplicate_record_id"] = 2
    if reconciliation["rows_in"] != rows_in:
        failures.append(f"rows_in {reconciliation['rows_in']} != {rows_in} rows in the file")
    if reconciliation["rows_in"] != reconciliation["valid"] + reconciliation["quarantined"]:
        failures.append(f"month does not reconcile: {reconciliation}")
    if reasons != expected:
        failures.append(f"quarantine reasons {reasons} != {expected}")
    nulled = {code for _, _, _, code in BAD_ROWS.values() if code not in QUARANTINED}
    if not nulled <= set(reconciliation["warnings"]):
        failures.append(f"nulled-field warnings {reconciliation['warnings']} lack {nulled}")
    print(
        f"  bad rows in {MONTH}.csv: rows_in {reconciliation['rows_in']:,} = valid "
        f"{reconciliation['valid']:,} + quarantined {reconciliation['quarantined']} "
        f"(reasons {dict(sorted(reasons.items()))}); nulled with a warning "
        f"{dict(sorted(reconciliation['warnings'].items()))}"
    )
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--months", type=int, default=3)
    args = parser.parse_args()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="placelink-bad-") as tmp:
        good = Path(tmp) / "good"
        run(good, "generate", "--people", str(args.people), "--months", str(args.months))
        run(good, "init")
        first = run(good, "run", "--until", "pseudonymise")
        if first.returncode != 0:
            print(first.stderr)
            return 1
        print(f"baseline: a clean run of {args.people:,} people over {args.months} months")

        for case, (target, spoil, problem) in unreadable_cases(good).items():
            home = Path(tmp) / case.replace(" ", "_")
            shutil.copytree(good, home)
            spoiled = home / target.relative_to(good)
            source = spoiled.relative_to(home / "landing").parts[0]
            before = digests(home, source)
            spoil(spoiled)
            done = run(home, "run", "--until", "pseudonymise")
            lines = done.stderr.strip().splitlines()
            named = spoiled.name in done.stderr
            held = (
                done.returncode == 2
                and len(lines) == 1
                and named
                and problem in done.stderr
                and "Traceback" not in done.stderr
                and digests(home, source) == before
            )
            print(f"  {'ok ' if held else 'BAD'} {case:<18} exit {done.returncode}: {lines[-1:]}")
            if not held:
                failures.append(f"{case}: {done.stderr.strip()}")

        home = Path(tmp) / "bad_rows"
        shutil.copytree(good, home)
        rows_in = add_bad_rows(home / "landing" / "health_apc" / f"{MONTH}.csv")
        done = run(home, "run", "--until", "pseudonymise")
        if done.returncode != 0:
            failures.append(f"bad rows: the run failed: {done.stderr.strip()}")
        else:
            failures += check_bad_rows(home, rows_in)

        home = Path(tmp) / "production"
        shutil.copytree(good / "landing", home / "landing")
        done = run(home, "run", PLACELINK_ENV="production")
        held = (
            done.returncode == 2
            and "PLACELINK_SECRET" in done.stderr
            and not (home / "secure").exists()
            and not (home / "dagster").exists()
        )
        print(f"  {'ok ' if held else 'BAD'} production, no key exit {done.returncode}: "
              f"{done.stderr.strip().splitlines()[-1:]}")  # fmt: skip
        if not held:
            failures.append(f"production without a key: {done.stderr.strip()}")

    for failure in failures:
        print(f"FAILED {failure}")
    print(f"{'all cases hold' if not failures else f'{len(failures)} case(s) do not hold'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
