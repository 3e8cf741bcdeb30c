"""A generated town with its keys, as `placelink generate` and `placelink init` leave it."""

from __future__ import annotations

from pathlib import Path

from placelink.encode import init_keys
from placelink.generate import generate
from placelink.settings import Settings


def keyed_town(home: Path, people: int, months: int, seed: int) -> Settings:
    """Generate a town into `home`, make its keys, and return its settings (no environment)."""
    generate(home, people=people, months=months, seed=seed)
    settings = Settings.from_env(environ={}, home=home)
    init_keys(settings)
    return settings
