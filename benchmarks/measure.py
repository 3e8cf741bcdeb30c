"""What every benchmark measures of its child processes: CPU seconds, peak memory, and one
child run per side, each in a fresh interpreter so that peak memory is its own."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Mapping
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


class TreePeak:
    """The peak, sampled every `every` seconds, of the summed proportional memory (Pss) of this
    process and all its descendants: a run whose steps are processes of their own holds them at
    once, so no single process's peak says what the machine had to hold. Pss shares the pages
    a forked process still has in common with its parent, so nothing is counted twice."""

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.peak_mib = every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            total = sum(_pss_kib(p) for p in process_tree(os.getpid()))
            self.peak_mib = max(self.peak_mib, total / 1024)


def process_tree(root: int) -> list[int]:
    """`root` (first) and every live process descended from it, found by parent in /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone since the listing
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def _pss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return int(text.split("\nPss:")[1].split()[0]) if "\nPss:" in text else 0


def run_child(
    script: str, side: str, home: Path, out: Path, env: Mapping[str, str] | None = None
) -> dict:
    """Run `script --child side --home home --out out` (with `env` over this environment) and
    return the JSON its last line holds."""
    done = subprocess.run(
        [sys.executable, script, "--child", side, "--home", str(home), "--out", str(out)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env} if env else None,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the {side} child failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])
