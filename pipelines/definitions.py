"""The Definitions Dagster loads (`dagster dev -m pipelines.definitions`), for the data home and
sources file of the environment (PLACELINK_HOME, PLACELINK_SOURCES)."""

from pipelines.build import build_definitions

defs = build_definitions()
