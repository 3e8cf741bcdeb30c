"""The Definitions' factory: the assets built from the sources file and the SQL project.

Kept apart from pipelines.definitions, whose import builds the graph from the environment, so that
`placelink run --home DIR` builds it for DIR alone, wherever it is run from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dagster import (
    Definitions,
    EnvVar,
    ExecutorDefinition,
    in_process_executor,
    multiprocess_executor,
)

from assets.concurrency import SINGLE_WRITER
from assets.linkage import build_linkage_assets
from assets.outcomes import build_model_assets
from assets.partitions import monthly_partitions_for
from assets.publish import build_publish_assets, published_key, published_names
from assets.report import build_report_asset
from assets.resources import PlacelinkResource
from assets.sources import build_source_assets
from pipelines.jobs import build_jobs
from pipelines.schedules import build_schedules
from pipelines.sensors import build_sensors
from placelink.period import resolve_period
from placelink.pseudonymise import largest_first
from placelink.settings import Settings
from placelink.sources import load_sources
from placelink.sqlmodels import load_project

# Imported once by the forkserver each step process is forked from, not by every step: with
# spawn, a step spent 4 to 10 s importing before it began (Great Expectations alone takes ~3 s).
FORKSERVER_PRELOAD = ["pipelines.build", "great_expectations"]
SQL_PROJECT = Path(__file__).resolve().parent.parent / "dbt_like_sql"


def build_definitions(
    home: str | None = None, environ: Mapping[str, str] | None = None
) -> Definitions:
    """Every asset, check, job, schedule and sensor for the sources file in force.

    The sources file comes from `environ` (default: os.environ) and `home`, as Settings.from_env
    reads them; pass both to build the graph independently of the shell (tests).
    """
    settings = Settings.from_env(environ=environ, home=home)
    specs = load_sources(settings.sources_file)
    partitions = monthly_partitions_for(resolve_period(settings))
    project = load_project(SQL_PROJECT, specs)
    assets = [
        *(
            a
            for spec, priority in zip(specs, largest_first(settings, specs), strict=True)
            for a in build_source_assets(spec, partitions, priority)
        ),
        *build_linkage_assets(specs),
        *build_model_assets(project),
        *build_publish_assets(project),
        build_report_asset([published_key(n) for n in published_names(project)]),
    ]
    jobs = build_jobs(partitions)
    return Definitions(
        assets=assets,
        jobs=jobs,
        schedules=build_schedules(jobs),
        sensors=build_sensors(specs, partitions),
        resources={"placelink": _resource(settings, home)},
        executor=build_executor(settings),
    )


def build_executor(settings: Settings) -> ExecutorDefinition:
    """Each step in its own process, up to PLACELINK_MAX_CONCURRENT at once, so the sources'
    pull and pseudonymise steps run side by side; the steps tagged SINGLE_WRITER (those that
    open the DuckDB warehouse, which takes one process at a time) run one at a time.
    PLACELINK_EXECUTOR=in_process runs every step in the run's own process instead."""
    if settings.executor == "in_process":
        return in_process_executor
    return multiprocess_executor.configured(
        {
            "max_concurrent": settings.max_concurrent,
            "tag_concurrency_limits": [{"key": SINGLE_WRITER, "limit": 1}],
            "start_method": {"forkserver": {"preload_modules": FORKSERVER_PRELOAD}},
        },
        name="multiprocess",
    )


def _resource(settings: Settings, home: str | None) -> PlacelinkResource:
    """The data home as given, or as EnvVar("PLACELINK_HOME") so the UI shows where it came
    from and a launched run reads it from its own environment."""
    if home is None and settings.home_from_environment:
        return PlacelinkResource(home=EnvVar("PLACELINK_HOME"))
    return PlacelinkResource(home=home)
