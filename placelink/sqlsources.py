"""The sources file as the SQL project sees it: what each declared source gives the models.

Adding a source is configuration only. A source without a hand-written staging model
(`models/stg_<name>.sql`) gets one generated from `generated/staging.sql`, and int_events
loops over the declared sources to give each source with an event its branch. This module
says, per source, what those templates need: its name, service, event fields and kept fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from placelink.sources import SourceSpec

GENERATED_STAGING = Path("generated") / "staging.sql"
RECORD_COLUMNS = {
    "person_id": "Linked person (release id).",
    "record_id": "The record's pseudonym within its source.",
    "extract_month": "Month partition the record came from (YYYY-MM).",
    "age_at_event": "Age in whole years on the event's start (identity-only: the extract month's).",
    "sex": "M, F or null.",
    "lsoa": "LSOA-like area of the postcode.",
    "neighbourhood": "Neighbourhood of the postcode.",
    "locality": "Locality of the postcode.",
    "imd_decile": "IMD decile of the neighbourhood (1 most deprived).",
}


def staging_model(source: str) -> str:
    return f"stg_{source}"


def source_context(spec: SourceSpec, hand_written: bool) -> dict[str, Any]:
    """What the SQL templates read about one declared source (plain values, for Jinja)."""
    dates = {spec.event_start, spec.event_end, *spec.dates} - {None}
    return {
        "name": spec.name,
        "service": spec.service,
        "description": spec.description,
        "hand_written": hand_written,
        "event": (
            {"start": spec.event_start, "end": spec.event_end, "type": spec.event_type}
            if spec.has_event
            else None
        ),
        "fields": [{"name": c, "is_date": c in dates} for c in spec.keep],
    }


def staging_columns(context: dict[str, Any]) -> dict[str, str]:
    """A generated staging model's columns and their descriptions."""
    kept = {
        f["name"]: f"{context['name']}'s {f['name']} ({'date' if f['is_date'] else 'text'})."
        for f in context["fields"]
    }
    return RECORD_COLUMNS | kept
