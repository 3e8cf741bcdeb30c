"""The sources file: any service, identity-only sources, and one clear error per mistake."""

import pytest

from placelink.errors import ConfigError
from placelink.sources import load_sources

CONNECTOR = '{kind: csv, path: "landing/gp/{month}.csv"}'


def sources_file(tmp_path, entry: str):
    path = tmp_path / "sources.yaml"
    path.write_text(
        "version: 1\nsources:\n  - name: gp_registration\n"
        f"    connector: {CONNECTOR}\n"
        "    identity: {record_id: registration_id, given_name: forename}\n" + entry
    )
    return path


def test_an_identity_only_source_needs_no_event_and_no_service(tmp_path):
    [spec] = load_sources(sources_file(tmp_path, "    keep: [practice_code]\n"))
    assert (spec.service, spec.has_event, spec.event_start) == (None, False, None)


def test_a_source_may_be_of_a_service_of_its_own(tmp_path):
    entry = (
        "    service: primary_care\n"
        "    event: {start: registration_date, type: registration_kind}\n"
        "    keep: [registration_date, registration_kind]\n"
    )
    [spec] = load_sources(sources_file(tmp_path, entry))
    assert (spec.service, spec.event_start, spec.event_end, spec.event_type) == (
        "primary_care",
        "registration_date",
        None,
        "registration_kind",
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("    event: {start: d}\n    keep: [d]\n", "a source with an event needs a service"),
        ("    service: gp\n    event: {start: d}\n", "event.start must name a kept field"),
        ("    service: gp\n    event: {end: d}\n    keep: [d]\n", "event needs a start"),
        ("    service: gp\n    event: {start: d, kind: d}\n    keep: [d]\n", "unknown event"),
        ("    service: GP\n", "service must be a lower_snake_case name"),
        ("    keep: [lsoa]\n", r"kept field\(s\) \['lsoa'\] clash"),
    ],
)
def test_a_mistake_is_one_config_error_naming_the_file_and_source(tmp_path, entry, message):
    path = sources_file(tmp_path, entry)
    with pytest.raises(ConfigError, match=message) as error:
        load_sources(path)
    assert str(error.value).startswith(f"{path}: source 'gp_registration'")
