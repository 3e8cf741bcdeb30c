"""A throwaway PostgreSQL server for the warehouse parity tests.

Started once per session from the Debian server binaries on a free loopback port, with its data
and socket in a temporary folder that is removed afterwards. initdb refuses to run as root, so
under root the server runs as the `postgres` user (or `nobody`) and owns the folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

MISSING = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin: "
    "run `make sysdeps` (tools/sysdeps.sh installs Debian's postgresql package)."
)


def postgres_bindir() -> Path | None:
    """The newest installed server's bin folder, or None."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found = [d for d in found if (d / "pg_ctl").exists() and (d / "postgres").exists()]
    if not found:
        return None
    return max(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: None (ourselves) unless we are root, whom initdb refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.fail("running as root and neither a `postgres` nor a `nobody` user exists for initdb")


def _temp_base(user: pwd.struct_passwd | None) -> str:
    """Where the server's folder goes: the usual temp dir, unless the server's user could not
    reach it or its socket path would be too long, then /tmp."""
    base = tempfile.gettempdir()
    reachable = all(os.stat(p).st_mode & 0o001 for p in [base, *map(str, Path(base).parents)])
    return base if len(base) < 60 and (user is None or reachable) else "/tmp"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of an empty database on a fresh PostgreSQL server."""
    bindir = postgres_bindir()
    if bindir is None:
        pytest.fail(MISSING)
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="placelink-pg-", dir=_temp_base(user)))
    data, log = root / "data", root / "server.log"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            args,
            cwd=root,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            extra_groups=[] if user else None,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
            capture_output=True,
            text=True,
            timeout=60,
        )

    try:
        if user:
            os.chown(root, user.pw_uid, user.pw_gid)
        init = run(
            str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        if init.returncode:
            pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        port = _free_port()
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        start = run(
            str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
            "-t", "30", "start",
        )  # fmt: skip
        if start.returncode:
            detail = log.read_text() if log.exists() else ""
            pytest.fail(f"PostgreSQL did not start:\n{start.stdout}\n{start.stderr}\n{detail}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():  # also after a start that timed out
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
