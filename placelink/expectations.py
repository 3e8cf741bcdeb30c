"""Great Expectations suites, kept as JSON in expectations/, run against DataFrames.

The JSON files are the single source of truth: this module loads them, it does not define them.
Results carry counts and expectation names only, never the unexpected values, because a source
suite runs on identifiable rows and its results travel into Dagster metadata.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from placelink.errors import ConfigError

EXPECTATIONS_DIR = Path(__file__).resolve().parent.parent / "expectations"


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None

    @property
    def label(self) -> str:
        return f"{self.expectation}({self.column})" if self.column else self.expectation


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    success: bool
    outcomes: list[ExpectationOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def describe_failures(self) -> str:
        return "; ".join(
            f"{o.label}: {o.unexpected_count} unexpected"
            if o.unexpected_count is not None
            else o.label
            for o in self.failed
        )


def suite_path(kind: str, name: str, root: Path = EXPECTATIONS_DIR) -> Path:
    """expectations/<kind>/<name>.json, kind being `sources` or `published`."""
    return root / kind / f"{name}.json"


def load_suite(path: Path) -> dict[str, Any]:
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: expectation suite not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON (line {exc.lineno})") from None
    if not isinstance(suite.get("expectations"), list):
        raise ConfigError(f"{path}: a suite needs an `expectations` list")
    return suite


@cache
def _context():
    import great_expectations as gx  # ~3 s to import: only when a suite actually runs

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    return context


def validate_frame(frame: pd.DataFrame, path: Path) -> SuiteResult:
    """Run the suite at `path` on `frame` and summarise it without any row values."""
    import great_expectations as gx

    spec = load_suite(path)
    context = _context()
    tag = uuid.uuid4().hex[:8]
    suite = context.suites.add(
        gx.ExpectationSuite(
            name=f"{spec.get('name', path.stem)}-{tag}",
            expectations=[
                {"type": e["type"], "kwargs": e.get("kwargs", {}), "meta": e.get("meta", {})}
                for e in spec["expectations"]
            ],
        )
    )
    source = context.data_sources.add_pandas(f"frame-{tag}")
    batch = source.add_dataframe_asset(f"asset-{tag}").add_batch_definition_whole_dataframe("all")
    definition = gx.ValidationDefinition(name=f"validation-{tag}", data=batch, suite=suite)
    result = definition.run(
        batch_parameters={"dataframe": frame}, result_format={"result_format": "SUMMARY"}
    )
    outcomes = [
        ExpectationOutcome(
            expectation=r.expectation_config.type,
            column=r.expectation_config.kwargs.get("column"),
            success=bool(r.success),
            unexpected_count=r.result.get("unexpected_count"),
            unexpected_percent=r.result.get("unexpected_percent"),
        )
        for r in result.results
    ]
    context.data_sources.delete(source.name)
    context.suites.delete(suite.name)
    return SuiteResult(
        suite=spec.get("name", path.stem), success=bool(result.success), outcomes=outcomes
    )


def write_result(result: SuiteResult, path: Path) -> Path:
    """Keep a result (counts only) for the governance report."""
    from placelink.files import write_text_atomic

    return write_text_atomic(json.dumps(asdict(result), indent=2), path)


def read_result(path: Path) -> SuiteResult:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return SuiteResult(
        suite=raw["suite"],
        success=raw["success"],
        outcomes=[ExpectationOutcome(**o) for o in raw["outcomes"]],
    )


def validate_partitions(
    files: Mapping[str, Path], path: Path, max_rows: int
) -> dict[str, SuiteResult]:
    """Validate Parquet partitions a group at a time, and each alone only when its group fails.

    Groups of whole partitions up to `max_rows` rows (a partition larger than that alone) keep
    a 36-month backfill fast and its memory bounded; re-running per partition on failure names
    the partitions at fault.
    """
    results: dict[str, SuiteResult] = {}
    for group in _groups(files, max_rows):
        frames = {key: pd.read_parquet(files[key]) for key in group}
        together = validate_frame(pd.concat(list(frames.values()), ignore_index=True), path)
        if together.success:
            results.update(dict.fromkeys(frames, together))
        else:
            results.update({key: validate_frame(frame, path) for key, frame in frames.items()})
    return results


def _groups(files: Mapping[str, Path], max_rows: int) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    rows = 0
    for key, file in files.items():
        n = pq.ParquetFile(file).metadata.num_rows
        if groups[-1] and rows + n > max_rows:
            groups.append([])
            rows = 0
        groups[-1].append(key)
        rows += n
    return [g for g in groups if g]
