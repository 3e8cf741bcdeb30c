"""Test-wide settings."""

from hypothesis import settings

# A shared, noisy 2-core machine makes per-example timing meaningless: no Hypothesis deadline.
settings.register_profile("placelink", deadline=None)
settings.load_profile("placelink")
