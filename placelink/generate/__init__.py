"""The synthetic place: population, needs, events, extracts, identifier errors and truth."""

from placelink.generate.core import GenerateSummary, generate

__all__ = ["GenerateSummary", "generate"]
