"""Dagster assets: thin wrappers that call placelink's library and return typed metadata."""
