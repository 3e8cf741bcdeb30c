"""The sources file (DESIGN.md section 5): what each service sends and how to read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from placelink.errors import ConfigError

IDENTITY_FIELDS = (
    "record_id",
    "nhs_number",
    "ni_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "postcode",
)
RESERVED_COLUMNS = (
    *IDENTITY_FIELDS,
    "source",
    "person_id",
    "extract_month",
    "age_at_event",
    "postcode_district",
    "lsoa",
    "neighbourhood",
    "locality",
    "imd_decile",
)
"""Names the pipeline gives columns of its own: a kept field may not take one."""
CONNECTOR_KINDS = ("csv", "jsonl", "parquet", "sql")


@dataclass(frozen=True)
class ConnectorSpec:
    kind: str
    path: str | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    url: str | None = None
    query: str | None = None
    table: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    """One source: where its extracts are, and which columns carry identity and events."""

    name: str
    service: str | None
    connector: ConnectorSpec
    identity: dict[str, str]
    keep: tuple[str, ...]
    event_start: str | None = None
    """The kept field holding the date each record's event starts; None for an identity-only
    source (a registration list, a linkage benchmark), which feeds linkage but no event."""
    event_end: str | None = None
    event_type: str | None = None
    """A kept field naming each record's kind of event; without one, the source's name."""
    dates: dict[str, str] = field(default_factory=dict)
    sex_map: dict[str, str] = field(default_factory=dict)
    description: str = ""
    quarantine_on: frozenset[str] = frozenset()
    pseudonymise: frozenset[str] = frozenset()
    """Kept fields that are identifiers of the source's own (a claim id, a case number): they
    reach analytics only as keyed pseudonyms, like record_id."""
    suite: Path | None = None
    """The source's GX suite (`suite:`, relative to the sources file); None: the packaged or a
    generated default one (placelink.expectations.source_suite)."""

    @property
    def has_event(self) -> bool:
        return self.event_start is not None

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns an extract must have: its identity columns and the kept event fields."""
        return tuple(dict.fromkeys([*self.identity.values(), *self.keep]))


def load_sources(path: Path) -> list[SourceSpec]:
    """Read and check the sources file; a mistake is one ConfigError naming the file."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: sources file not found (run `placelink generate`)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("sources"), list):
        raise ConfigError(f"{path}: expected a mapping with a `sources` list")
    specs = [_parse_source(path, entry) for entry in raw["sources"]]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: source names must be unique, got {names}")
    return specs


def _parse_source(path: Path, entry: Any) -> SourceSpec:
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError(f"{path}: every source needs a name")
    name = str(entry["name"])
    where = f"{path}: source {name!r}"
    if not _is_lower_snake(name):
        raise ConfigError(f"{where}: the name must be lower_snake_case")
    service = entry.get("service")
    if service is not None and not _is_lower_snake(str(service)):
        raise ConfigError(f"{where}: service must be a lower_snake_case name, got {service!r}")
    conn = entry.get("connector") or {}
    if conn.get("kind") not in CONNECTOR_KINDS:
        raise ConfigError(f"{where}: connector.kind must be one of {', '.join(CONNECTOR_KINDS)}")
    if conn["kind"] == "sql" and not (conn.get("url") and (conn.get("query") or conn.get("table"))):
        raise ConfigError(f"{where}: a sql connector needs a url and a query or table")
    if conn["kind"] != "sql" and "{month}" not in str(conn.get("path", "")):
        raise ConfigError(f"{where}: connector.path must contain {{month}}")
    identity = {str(k): str(v) for k, v in (entry.get("identity") or {}).items()}
    unknown = set(identity) - set(IDENTITY_FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown identity field(s) {sorted(unknown)}")
    if "record_id" not in identity:
        raise ConfigError(f"{where}: identity.record_id is required")
    keep = tuple(str(c) for c in entry.get("keep") or ())
    taken = sorted(set(keep) & set(RESERVED_COLUMNS))
    if taken:
        raise ConfigError(f"{where}: kept field(s) {taken} clash with placelink's own columns")
    event = _parse_event(where, entry.get("event"), keep)
    if event and service is None:
        raise ConfigError(f"{where}: a source with an event needs a service")
    pseudonymise = frozenset(str(c) for c in entry.get("pseudonymise") or ())
    if not pseudonymise <= set(keep):
        raise ConfigError(f"{where}: pseudonymise must name kept fields")
    return SourceSpec(
        name=name,
        service=None if service is None else str(service),
        connector=ConnectorSpec(
            **{k: v for k, v in conn.items() if k != "kind"}, kind=conn["kind"]
        ),
        identity=identity,
        keep=keep,
        event_start=event.get("start"),
        event_end=event.get("end"),
        event_type=event.get("type"),
        dates={str(k): str(v) for k, v in (entry.get("dates") or {}).items()},
        sex_map={str(k): str(v) for k, v in (entry.get("sex_map") or {}).items()},
        description=str(entry.get("description", "")),
        quarantine_on=frozenset(str(c) for c in entry.get("quarantine_on") or ()),
        pseudonymise=pseudonymise,
        suite=_suite_file(path, entry.get("suite")),
    )


def _parse_event(where: str, event: Any, keep: tuple[str, ...]) -> dict[str, str]:
    """The event's start, end and type fields; {} for an identity-only source (no `event`)."""
    if event is None:
        return {}
    if not isinstance(event, dict) or "start" not in event:
        raise ConfigError(f"{where}: event needs a start (or leave it out: identity-only)")
    unknown = set(event) - {"start", "end", "type"}
    if unknown:
        raise ConfigError(f"{where}: unknown event field(s) {sorted(unknown)}")
    for part, column in event.items():
        if column not in keep:
            raise ConfigError(f"{where}: event.{part} must name a kept field")
    return {str(k): str(v) for k, v in event.items()}


def _is_lower_snake(name: str) -> bool:
    return name.isidentifier() and name == name.lower()


def _suite_file(path: Path, suite: Any) -> Path | None:
    """A source's `suite:`, resolved relative to the sources file."""
    if suite in (None, ""):
        return None
    return (Path(path).resolve().parent / str(suite)).resolve()
