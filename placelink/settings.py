"""The one place that reads the environment (DESIGN.md section 4)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from placelink.errors import ConfigError

EXECUTORS = ("multiprocess", "in_process")


@dataclass(frozen=True)
class Settings:
    """Every setting a run needs; built once by `Settings.from_env()` and passed down."""

    home: Path
    sources_file: Path
    warehouse_url: str
    secret: str | None = field(default=None, repr=False)
    secret_file: Path | None = None
    release_key: str | None = field(default=None, repr=False)
    release_key_file: Path | None = None
    env: str = "development"
    link_backend: str = "duckdb"  # where Splink runs: duckdb, or spark (the `spark` extra, Java)
    spark_master: str = "local[2]"  # PLACELINK_SPARK_MASTER, with link_backend spark
    sdc_threshold: int = 8
    sdc_base: int = 5
    linkage_min_precision: float = 0.98
    linkage_min_recall: float = 0.95
    linkage_min_pair_f1: float = 0.965
    link_memory_limit: str = "2GB"
    # A blocking rule adding more pairs than this is narrowed to one postcode district.
    link_max_rule_pairs: int = 5_000_000
    period_start: str | None = None  # PLACELINK_PERIOD_START, YYYY-MM (placelink.period)
    period_end: str | None = None  # PLACELINK_PERIOD_END, YYYY-MM
    home_from_environment: bool = False  # PLACELINK_HOME named the home (not --home, not ./data)
    # How a run executes its steps (pipelines/build.py): each in its own process, side by side
    # where the graph allows (multiprocess), or one after another in the run's process.
    executor: str = "multiprocess"  # PLACELINK_EXECUTOR: multiprocess or in_process
    max_concurrent: int = field(default_factory=lambda: os.cpu_count() or 1)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, home: Path | str | None = None):
        """Read PLACELINK_* variables; `home` (e.g. from --home) overrides PLACELINK_HOME."""
        env = os.environ if environ is None else environ
        home_path = Path(home or env.get("PLACELINK_HOME") or "./data").resolve()
        sources = env.get("PLACELINK_SOURCES")
        if sources:
            sources_file = Path(sources)
        elif (home_path / "landing" / "sources.yaml").exists():
            sources_file = home_path / "landing" / "sources.yaml"
        else:
            sources_file = Path("sources.yaml").resolve()
        warehouse = env.get("PLACELINK_WAREHOUSE_URL") or (
            f"duckdb:///{home_path / 'warehouse' / 'placelink.duckdb'}"
        )
        secret_file = env.get("PLACELINK_SECRET_FILE")
        release_file = env.get("PLACELINK_RELEASE_KEY_FILE")
        run_env = env.get("PLACELINK_ENV", "development")
        if run_env not in ("development", "production", "test"):
            raise ConfigError(
                f"PLACELINK_ENV must be development, test or production, not {run_env!r}"
            )
        backend = env.get("PLACELINK_LINK_BACKEND", "duckdb")
        if backend not in ("duckdb", "spark"):
            raise ConfigError(f"PLACELINK_LINK_BACKEND must be duckdb or spark, not {backend!r}")
        executor = env.get("PLACELINK_EXECUTOR") or "multiprocess"
        if executor not in EXECUTORS:
            raise ConfigError(
                f"PLACELINK_EXECUTOR must be multiprocess or in_process, not {executor!r}"
            )
        return cls(
            home=home_path,
            sources_file=sources_file,
            warehouse_url=warehouse,
            secret=env.get("PLACELINK_SECRET") or None,
            secret_file=Path(secret_file) if secret_file else None,
            release_key=env.get("PLACELINK_RELEASE_KEY") or None,
            release_key_file=Path(release_file) if release_file else None,
            env=run_env,
            link_backend=backend,
            spark_master=(env.get("PLACELINK_SPARK_MASTER") or "local[2]").strip(),
            sdc_threshold=_int(env, "PLACELINK_SDC_THRESHOLD", 8),
            sdc_base=_int(env, "PLACELINK_SDC_BASE", 5),
            linkage_min_precision=_share(env, "PLACELINK_LINKAGE_MIN_PRECISION", 0.98),
            linkage_min_recall=_share(env, "PLACELINK_LINKAGE_MIN_RECALL", 0.95),
            linkage_min_pair_f1=_share(env, "PLACELINK_LINKAGE_MIN_PAIR_F1", 0.965),
            link_memory_limit=_memory(env, "PLACELINK_LINK_MEMORY", "2GB"),
            link_max_rule_pairs=_int(env, "PLACELINK_LINK_MAX_RULE_PAIRS", 5_000_000),
            period_start=_month(env, "PLACELINK_PERIOD_START"),
            period_end=_month(env, "PLACELINK_PERIOD_END"),
            home_from_environment=home is None and bool(env.get("PLACELINK_HOME")),
            executor=executor,
            # Steps at once in a multiprocess run: one per core unless told otherwise.
            max_concurrent=_int(env, "PLACELINK_MAX_CONCURRENT", os.cpu_count() or 1),
        )

    def with_home(self, home: Path | str) -> Settings:
        """The same settings over another data home (tests, --home)."""
        home_path = Path(home).resolve()
        return replace(
            self,
            home=home_path,
            sources_file=home_path / "landing" / "sources.yaml",
            warehouse_url=f"duckdb:///{home_path / 'warehouse' / 'placelink.duckdb'}",
        )

    # The data home's folders (DESIGN.md section 2).
    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def secure(self) -> Path:
        return self.home / "secure"

    @property
    def standardised(self) -> Path:
        return self.secure / "standardised"

    @property
    def quarantine(self) -> Path:
        return self.home / "quarantine"

    @property
    def linkage(self) -> Path:
        return self.home / "linkage"

    @property
    def encoded(self) -> Path:
        return self.linkage / "encoded"

    @property
    def content(self) -> Path:
        """Analytics' input: record pseudonym and non-identifying fields, per source."""
        return self.home / "content"

    @property
    def release_key_path(self) -> Path:
        return self.warehouse / "release_key"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse"

    @property
    def published(self) -> Path:
        return self.home / "published"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def truth_file(self) -> Path:
        return self.landing / "_truth" / "truth.csv"

    @property
    def reference(self) -> Path:
        return self.landing / "_reference"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, not {value}")
    return value


def _share(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number between 0 and 1, not {raw!r}") from None
    if not 0 <= value <= 1:
        raise ConfigError(f"{name} must be between 0 and 1, not {value}")
    return value


def _memory(env: Mapping[str, str], name: str, default: str) -> str:
    """A DuckDB memory size such as 3GB or 512MB."""
    raw = (env.get(name) or default).strip().upper().replace(" ", "")
    if not re.fullmatch(r"\d+(\.\d+)?(KB|MB|GB|TB)", raw):
        raise ConfigError(f"{name} must be a size such as 3GB or 512MB, not {raw!r}")
    return raw


def _month(env: Mapping[str, str], name: str) -> str | None:
    """A month YYYY-MM, or None when unset."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", raw):
        raise ConfigError(f"{name} must be a month YYYY-MM, not {raw!r}")
    return raw
