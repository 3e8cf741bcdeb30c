"""The SQL project as the pipeline loads it for a generated town: the demo's sources declared."""

from __future__ import annotations

from pathlib import Path

from placelink.sources import load_sources
from placelink.sqlmodels import SqlProject, load_project

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "dbt_like_sql"
DEMO_SOURCES = ROOT / "placelink" / "generate" / "sources.yaml"


def demo_project() -> SqlProject:
    return load_project(PROJECT, load_sources(DEMO_SOURCES))
