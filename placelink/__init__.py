"""placelink: link public-service extracts into persons on pseudonymised encodings."""

__version__ = "0.1.0"
