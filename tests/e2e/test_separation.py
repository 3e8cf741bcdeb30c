"""The separation principle, run as three roles on three data homes that share only what
PRIVACY allows: the provider hands linkage/encoded to the linkage unit and content/ to
analytics; the linkage unit hands record_links to analytics. No linkage key is anywhere near
the linkage unit or analytics."""

from __future__ import annotations

import os
import shutil
import stat

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.run import run_pipeline
from placelink.encode import (
    IDENTITY_KEY,
    KEY_FINGERPRINT,
    OUTPUT_COLUMNS,
    identity_keys,
    load_key,
    record_pseudonyms,
)
from placelink.errors import ConfigError
from placelink.link import run_linkage
from placelink.settings import Settings
from tests.towns import keyed_town

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def roles(tmp_path_factory):
    """(provider, linkage unit, analytics) settings after each ran its own steps."""
    provider_home = tmp_path_factory.mktemp("provider")
    provider = keyed_town(provider_home, people=3000, months=4, seed=7)
    assert run_pipeline(provider, until="pseudonymise").success
    sources = provider_home / "landing" / "sources.yaml"

    linkage_home = tmp_path_factory.mktemp("linkage_unit")
    shutil.copytree(provider.encoded, linkage_home / "linkage" / "encoded")
    analytics_home = tmp_path_factory.mktemp("analytics")
    shutil.copytree(provider.content, analytics_home / "content")
    shutil.copytree(provider.reference, analytics_home / "landing" / "_reference")
    shutil.copy(provider.release_key_path, analytics_home / "release_key")

    env = {"PLACELINK_SOURCES": str(sources)}
    linkage = Settings.from_env(environ=env, home=linkage_home)
    analytics = Settings.from_env(
        environ={**env, "PLACELINK_RELEASE_KEY_FILE": str(analytics_home / "release_key")},
        home=analytics_home,
    )
    with pytest.MonkeyPatch.context() as patch:
        for name in ("PLACELINK_SECRET", "PLACELINK_SECRET_FILE", "PLACELINK_HOME"):
            patch.delenv(name, raising=False)
        patch.setenv("PLACELINK_SOURCES", str(sources))
        linked = run_pipeline(linkage, start="link", until="link")
        shutil.copytree(linkage.linkage, analytics_home / "linkage", dirs_exist_ok=True)
        shutil.rmtree(analytics_home / "linkage" / "encoded")
        patch.setenv("PLACELINK_RELEASE_KEY_FILE", str(analytics_home / "release_key"))
        analysed = run_pipeline(analytics, start="models", until="report")
    return provider, (linkage, linked), (analytics, analysed)


def _no_linkage_key(home) -> bool:
    return not any(p.name == "key" for p in home.rglob("*")) and not os.environ.get(
        "PLACELINK_SECRET"
    )


def test_link_models_publish_and_report_run_with_no_linkage_key(roles):
    _, (linkage, linked), (analytics, analysed) = roles
    assert _no_linkage_key(linkage.home) and _no_linkage_key(analytics.home)
    assert linked.success and linked.linkage["records"] > 0
    assert analysed.success, analysed.error
    assert len(analysed.tables) == 10 and analysed.report
    assert (analytics.reports / "quality" / "index.html").exists()
    # the linkage unit's home holds encodings and links, never content or a landing file
    held = {p.relative_to(linkage.home).parts[0] for p in linkage.home.rglob("*") if p.is_file()}
    assert held <= {"linkage", "dagster", "reports"}, held


def test_the_linkage_zone_holds_pseudonyms_and_encodings_only(roles):
    provider, _, _ = roles
    for path in provider.encoded.glob("*.parquet"):
        columns = set(pq.read_schema(path).names)
        assert columns - {"source", "record_id", IDENTITY_KEY} <= {
            c for c in columns if c.endswith(("_token", "_tokens", "_bloom"))
        }, path.name
        assert not {"age_at_event", "sex", "neighbourhood", "postcode_district"} & columns
        # The identity key is a hash of the record's encodings alone: it adds nothing to them.
        encoded = pq.read_table(path)
        keys = identity_keys(encoded.select(list(OUTPUT_COLUMNS)))
        assert keys.to_pylist() == encoded[IDENTITY_KEY].to_pylist(), path.name


def test_a_providers_own_record_ids_decode_nothing_of_other_sources(roles):
    provider, _, _ = roles
    own = pd.concat(
        pd.read_parquet(f, columns=["record_id"])
        for f in (provider.standardised / "health_apc").glob("*.parquet")
    )["record_id"].astype(str)
    for zone in (provider.encoded, provider.content):
        for path in zone.glob("*.parquet"):
            ids = set(pd.read_parquet(path, columns=["record_id"])["record_id"].astype(str))
            assert not ids & set(own), path


def test_no_source_record_id_is_published(roles):
    provider, _, (analytics, _) = roles
    source_ids = set()
    for folder in provider.standardised.iterdir():
        for f in folder.glob("*.parquet"):
            frame = pd.read_parquet(f)
            source_ids |= set(frame["record_id"].astype(str))
            if "claim_id" in frame:
                source_ids |= set(frame["claim_id"].dropna().astype(str))
    source_ids = {i for i in source_ids if len(i) >= 6}  # ids, not small counts or ages
    assert len(source_ids) > 1000
    for path in analytics.published.rglob("*.parquet"):
        frame = pd.read_parquet(path)
        for column in frame.columns:
            values = set(frame[column].dropna().astype(str))
            values |= {v.split(":", 1)[-1] for v in values}  # 'housing:<id>' style keys
            assert not values & source_ids, f"{path.name}.{column}"


def test_published_person_ids_are_release_ids_not_linkage_ids(roles):
    _, (linkage, _), (analytics, _) = roles
    internal = set(pd.read_parquet(linkage.linkage / "record_links.parquet")["person_id"])
    published = set(
        pd.read_parquet(analytics.published / "person" / "person_spine.parquet")["person_id"]
    )
    assert len(published) > 100 and not internal & published


def test_linkage_refuses_encodings_made_under_two_keys_naming_them(roles, tmp_path):
    provider, _, _ = roles
    home = tmp_path / "mixed"
    shutil.copytree(provider.encoded, home / "linkage" / "encoded")
    other = load_key(Settings.from_env(environ={"PLACELINK_SECRET": "11" * 32}, home=tmp_path))
    path = home / "linkage" / "encoded" / "housing.parquet"
    table = pq.read_table(path)
    ids = record_pseudonyms(other, "housing", pa.array([str(i) for i in range(len(table))]))
    table = table.set_column(table.schema.get_field_index("record_id"), "record_id", ids)
    # housing pseudonymised again under another key: its file carries that key's fingerprint
    pq.write_table(table.replace_schema_metadata({KEY_FINGERPRINT: other.fingerprint}), path)
    settings = Settings.from_env(environ={}, home=home)
    files = sorted(settings.encoded.glob("*.parquet"))
    with pytest.raises(ConfigError, match="different keys") as err:
        run_linkage(settings, files, "run")
    message = str(err.value)
    assert "housing.parquet" in message and other.fingerprint in message
    assert load_key(provider).fingerprint in message


def test_zone_folders_keep_identifiers_from_the_group(roles):
    provider, _, (analytics, _) = roles
    for folder in (provider.secure, provider.encoded.parent, provider.content):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for folder in (analytics.published, analytics.reports):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o750, folder
        for f in folder.rglob("*.parquet"):
            assert stat.S_IMODE(f.stat().st_mode) == 0o640, f


def test_the_instance_placelink_creates_sends_no_telemetry(roles):
    from pipelines.run import open_instance

    _, (linkage, _), (analytics, _) = roles
    for settings in (linkage, analytics):
        with open_instance(settings) as instance:
            assert instance.telemetry_enabled is False
