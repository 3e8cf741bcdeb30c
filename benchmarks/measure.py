"""What every benchmark measures of its child processes: CPU seconds, peak memory, and one
child run per side, each in a fresh interpreter so that peak memory is its own."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_s() -> float:
    """This process's user plus system CPU seconds: steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mib() -> float:
    """This process's peak resident memory (VmHWM, which exec resets), in MiB."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def run_child(script: str, side: str, home: Path, out: Path) -> dict:
    """Run `script --child side --home home --out out` and return the JSON its last line holds."""
    done = subprocess.run(
        [sys.executable, script, "--child", side, "--home", str(home), "--out", str(out)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {side} child failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])
