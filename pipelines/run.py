"""`placelink run`: materialise the same Definitions, with their executor, on a real instance.

The instance lives in <home>/dagster, so the runs show in the UI afterwards. Every landed month
is pulled in one run (single-run backfill), then the unpartitioned steps follow. Under the
multiprocess executor (the default) each step runs in a process of its own that rebuilds the job
from `monthly_job_for(home)`, so the sources' steps run side by side.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing.forkserver
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    JobDefinition,
    RunConfig,
    build_reconstructable_job,
    execute_job,
)
from dagster._core.instance.ref import InstanceRef
from rich.console import Console
from rich.table import Table

from assets.linkage import RECORD_LINKS, LinkageConfig
from pipelines.sensors import RANGE_END, RANGE_START
from placelink.connectors import landed_months
from placelink.encode import load_key, load_release_key
from placelink.errors import PlacelinkError
from placelink.files import write_text_atomic
from placelink.period import check_months, resolve_period
from placelink.reference import reference_warnings
from placelink.settings import Settings
from placelink.sources import load_sources
from placelink.zones import apply_zone_modes

STEPS = {  # each step of `--from` / `--until`, its asset groups, and the role that runs it
    "pull": ["pull"],
    "pseudonymise": ["pseudonymise"],
    "link": ["linkage"],
    "models": ["warehouse", "outcomes"],
    "publish": ["published"],
    "report": ["report"],
}
COUNTS = ("rows_in", "valid", "quarantined")


@dataclass
class RunSummary:
    run_id: str
    success: bool
    months: list[str]
    sources: list[dict] = field(default_factory=list)
    linkage: dict = field(default_factory=dict)
    tables: list[dict] = field(default_factory=list)
    report: str | None = None
    failed_checks: list[str] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def render(self) -> str:
        console = Console(record=True, width=100, file=io.StringIO())
        period = f": months {self.months[0]} to {self.months[-1]}" if self.months else ""
        console.print(f"run {self.run_id}{period}")
        if self.sources:
            table = Table("source", "rows in", "valid", "quarantined", "reconciles")
            for s in self.sources:
                table.add_row(
                    s["source"],
                    f"{s['rows_in']:,}",
                    f"{s['valid']:,}",
                    f"{s['quarantined']:,}",
                    "yes" if s["reconciles"] else "NO",
                )
            console.print(table)
        if self.linkage:
            console.print(
                "linked {records:,} records into {persons:,} persons "
                "({persons_in_two_or_more_sources:,} in two or more sources; "
                "{distinct_encoded_identities:,} distinct encoded identities)".format(
                    **self.linkage
                )
            )
            if "linkage_mode" in self.linkage:
                console.print(
                    "linkage: {linkage_mode}, {new_records:,} new records".format(**self.linkage)
                )
        if self.tables:
            console.print(f"published {len(self.tables)} tables:")
            for t in self.tables:
                console.print(f"  {t['path']}  ({t['rows']:,} rows)")
        for warning in self.warnings:
            console.print(f"[yellow]warning: {warning}[/yellow]", highlight=False, soft_wrap=True)
        if self.report:
            console.print(f"report: {self.report}")
        for check in self.failed_checks:
            console.print(f"[red]blocking check failed: {check}[/red]")
        return console.export_text()


INSTANCE_CONFIG = "telemetry:\n  enabled: false\n"


def prepare_dagster_home(settings: Settings) -> None:
    """The instance folder, with telemetry off: no usage data leaves the safe setting."""
    settings.dagster_home.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = settings.dagster_home / "dagster.yaml"
    if not config.exists():
        write_text_atomic(INSTANCE_CONFIG, config)


def open_instance(settings: Settings) -> DagsterInstance:
    """The data home's own Dagster instance (what `placelink ui` shows)."""
    prepare_dagster_home(settings)
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(settings.dagster_home)))


def monthly_job_for(home: str) -> JobDefinition:
    """monthly_job over the data home `home`: what each step's process rebuilds. Only the home
    crosses the process boundary (the pointer is stored with the run); keys and every other
    setting come from each process's own environment, as they do for a run the UI launches."""
    from pipelines.build import build_definitions

    return build_definitions(home=home).resolve_job_def("monthly_job")


def run_pipeline(
    settings: Settings,
    until: str = "report",
    retrain: bool = True,
    start: str = "pull",
    full_relink: bool = False,
) -> RunSummary:
    """Materialise every step from `start` to `until` for every landed month.

    Each role runs its own steps (a provider pull and pseudonymise, the linkage unit link,
    analytics the rest), and only the keys those steps use are asked for, before anything runs.
    """
    from pipelines.build import build_definitions

    names = list(STEPS)
    steps = names[names.index(start) : names.index(until) + 1]
    if not steps:
        raise PlacelinkError(f"--from {start} comes after --until {until}")
    if "pseudonymise" in steps:
        load_key(settings)  # refuse to start, naming PLACELINK_SECRET
    if "models" in steps:
        load_release_key(settings)
    specs = load_sources(settings.sources_file)
    months = landed_months(specs, settings.home) if "pull" in steps else []
    if "pull" in steps and not months:
        raise PlacelinkError(
            f"{settings.landing}: no extracts have landed (run `placelink generate`)"
        )
    check_months(months, resolve_period(settings))  # one line, not Dagster's CheckError
    defs = build_definitions(home=str(settings.home))
    selection = AssetSelection.key_prefixes(*[[p] for s in steps for p in STEPS[s]])
    linkage = LinkageConfig(retrain=retrain, full_relink=full_relink)
    ops = {_op_name(RECORD_LINKS): linkage} if "link" in steps else {}
    # Through the named job, so the run shows under monthly_job in the UI like a scheduled one;
    # reconstructable, so the multiprocess executor's step processes can rebuild it.
    job = build_reconstructable_job(
        __name__, monthly_job_for.__name__, reconstructable_kwargs={"home": str(settings.home)}
    )
    keys = selection.resolve(defs.resolve_asset_graph())
    with (
        _own_forkserver(),
        open_instance(settings) as instance,
        execute_job(
            job,
            instance,
            asset_selection=list(keys),
            tags={RANGE_START: months[0], RANGE_END: months[-1]} if months else {},
            run_config={
                **RunConfig(ops=ops).to_config_dict(),
                # The summary speaks for the run here; every event is kept for the UI.
                "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
            },
            raise_on_error=False,
        ) as result,
    ):
        summary = RunSummary(run_id=result.run_id, success=result.success, months=months)
        if set(steps) & {"pseudonymise", "models", "publish", "report"}:
            summary.warnings = reference_warnings(settings)
        latest, months = {}, {}
        for event in result.get_asset_materialization_events():
            mat = event.event_specific_data.materialization
            latest[mat.asset_key] = mat
            if mat.asset_key.path[0] == "pull":  # one materialisation per month, each its own
                months.setdefault(mat.asset_key.path[-1], []).append(
                    {k: v.value for k, v in mat.metadata.items()}
                )
        for name, per_month in sorted(months.items()):
            summary.sources.append(
                {
                    "source": name,
                    **{k: sum(m[k] for m in per_month) for k in COUNTS},
                    "reconciles": all(m["reconciles"] for m in per_month),
                    "months": len(per_month),
                }
            )
        for mat in latest.values():
            meta = {k: v.value for k, v in mat.metadata.items()}
            prefix, name = mat.asset_key.path[0], mat.asset_key.path[-1]
            if prefix == "linkage":
                summary.linkage = meta
            elif prefix == "published":
                summary.tables.append({"name": name, "rows": meta["dagster/row_count"], **meta})
                if meta.get("warnings"):
                    summary.warnings.append(f"published/{name}: {meta['warnings']}")
            elif prefix == "report":
                summary.report = meta["path"]
        for evaluation in result.get_asset_check_evaluations():
            if not evaluation.passed:
                key = "/".join(evaluation.asset_key.path)
                summary.failed_checks.append(
                    f"{key} {evaluation.check_name}: {evaluation.description or ''}".strip()
                )
        if not result.success:
            summary.error = _first_failure(result)
    write_text_atomic(
        json.dumps(asdict(summary), indent=2, default=str),
        settings.reports / "runs" / f"{summary.run_id}.json",
    )
    apply_zone_modes(settings)
    return summary


@contextlib.contextmanager
def _own_forkserver() -> Iterator[None]:
    """A forkserver for this run alone, stopped after it.

    The multiprocess executor forks each step from Python's forkserver, which is started once per
    process and keeps the environment it started with: a second run in the same process (tests,
    notebooks) would otherwise give its steps the first run's PLACELINK_* variables and keys.
    Stopping it also frees its memory (the preloaded modules) once the run is over.
    """
    try:
        yield
    finally:
        server = getattr(multiprocessing.forkserver, "_forkserver", None)
        if server is not None and hasattr(server, "_stop"):  # CPython's, private but stable
            server._stop()


def _op_name(key: AssetKey) -> str:
    return "__".join(key.path)


def _first_failure(result) -> str | None:
    """The first step that failed for a reason other than a blocking check (reported apart)."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
                continue
            while error is not None and error.cause is not None:
                error = error.cause
            message = error.message.strip().splitlines()[-1] if error else "failed"
            return re.sub(r"^[\w.]*(SourceError|ConfigError|PlacelinkError): ", "", message)
    return None
