"""Analyst-grade outputs on the shared town: typed and rounded Parquet that names its run, data
period and key, and a report whose header names the run and whose links reach every GX result.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from placelink import __version__
from placelink.cli import main
from placelink.encode import key_fingerprint
from placelink.publish import ARROW_TYPES, decimals
from tests.demo_project import demo_project

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _dictionary_types() -> dict[str, dict[str, str]]:
    """Each published table's column types as docs/data_dictionary.md states them."""
    tables: dict[str, dict[str, str]] = {}
    current = None
    for line in (ROOT / "docs" / "data_dictionary.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            current = line[4:].strip()
        elif line.startswith("Where: `published/"):
            tables[current] = {}
        elif current in tables and (row := re.match(r"^\| `(\w+)` \| (\w+)", line)):
            tables[current][row.group(1)] = row.group(2)
    return tables


def test_published_parquet_types_are_the_data_dictionarys(town):
    settings, summary = town
    stated = _dictionary_types()
    files = sorted(settings.published.glob("*/*.parquet"))
    assert {p.stem for p in files} == set(stated) == {t["name"] for t in summary.tables}
    for path in files:
        schema = pq.read_schema(path)
        assert schema.names == list(stated[path.stem]), path.stem
        for field in schema:
            assert field.type == ARROW_TYPES[stated[path.stem][field.name]], (path, field)


def test_every_published_date_is_a_date32_never_text(town):
    settings, _ = town
    dates = 0
    for path in settings.published.glob("*/*.parquet"):
        table = pq.read_table(path)
        for field in table.schema:
            if field.type == pa.date32():
                dates += 1
            elif pa.types.is_string(field.type):
                values = [v for v in table.column(field.name).to_pylist() if v is not None]
                assert not (values and all(ISO_DATE.match(v) for v in values)), (path, field)
    assert dates >= 12  # person tables' event, admission, discharge, death, ... dates


def test_rates_and_shares_are_published_rounded(town):
    settings, _ = town
    project = demo_project()
    rounded = fractional = 0
    for path in settings.published.glob("*/*.parquet"):
        table = pq.read_table(path)
        for name, column in project.models[path.stem].columns.items():
            places = decimals(column.meta)
            if places is None:
                continue
            values = [v for v in table.column(name).to_pylist() if v is not None]
            assert all(math.isclose(v, round(v, places), abs_tol=1e-9) for v in values), name
            rounded += 1
            fractional += any(v != int(v) for v in values)
    assert rounded >= 7 and fractional >= 3  # rates and F1s that had decimals to round


def test_every_published_file_names_the_run_the_period_and_the_key(town):
    settings, summary = town
    secret = bytes.fromhex((settings.secure / "key").read_text(encoding="ascii").strip())
    files = list(settings.published.glob("*/*.parquet"))
    assert files
    for path in files:
        metadata = {k.decode(): v.decode() for k, v in pq.read_schema(path).metadata.items()}
        assert metadata["placelink.run_id"] == summary.run_id, path
        assert json.loads(metadata["placelink.period"]) == {
            "first_month": summary.months[0],
            "last_month": summary.months[-1],
        }, path
        assert metadata["placelink.key_fingerprint"] == key_fingerprint(secret), path


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: dict[str, str] = {}
        self._open: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        self._open = attrs.get("id") or self._open

    def handle_data(self, data):
        if self._open:
            self.ids[self._open] = self.ids.get(self._open, "") + data

    def handle_endtag(self, tag):
        self._open = None


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _check_report(settings, run_id: str, months: list[str]) -> None:
    report = settings.reports / "quality" / "index.html"
    page = _parse(report)
    assert page.ids["run-id"].strip() == run_id
    assert page.ids["data-period"].strip() == f"{months[0]} to {months[-1]}"
    assert page.ids["code-version"].strip().startswith(f"placelink {__version__}")
    targets = {(report.parent / href).resolve() for href in page.links}
    assert all(t.is_file() for t in targets), [t for t in targets if not t.is_file()]
    validations = settings.reports / "validations"
    docs = settings.reports / "data_docs"
    expected = {
        docs / "sources" / f.parent.name / f"{f.stem}.html"
        for f in validations.glob("*/*.json")
        if f.parent.name != "published"
    }
    expected |= {
        docs / "published" / f"{f.stem}.html" for f in validations.glob("published/*.json")
    }
    assert len(expected) >= 5 * len(months) + 10
    assert expected | {docs / "index.html"} == targets
    for target in expected:  # each page links back and states its suite's result
        sub = _parse(target)
        assert sub.ids["outcome"].strip() in ("passed", "FAILED")
        assert all((target.parent / href).resolve().is_file() for href in sub.links)


def test_the_report_names_the_run_period_and_version_and_links_every_validation(town):
    settings, summary = town
    _check_report(settings, summary.run_id, summary.months)


def test_placelink_report_rebuilds_the_report_and_data_docs_from_files_alone(own_town, capsys):
    settings, summary = own_town
    shutil.rmtree(settings.reports / "quality")
    shutil.rmtree(settings.reports / "data_docs")
    stale = settings.reports / "data_docs" / "sources" / "gone" / "2020-01.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("a result no longer kept")
    assert main(["report", "--home", str(settings.home)]) == 0, capsys.readouterr().err
    assert not stale.exists()
    _check_report(settings, summary.run_id, summary.months)  # the run id from the tables


def test_no_aggregate_table_is_a_margin_of_another(town):
    """Differencing needs a total beside its parts: no published aggregate table's count column
    sums, over its extra dimensions, to the same column of another (tests/unit/test_sdc.py shows
    what four suppressed parts beside their total would give away)."""
    import itertools

    import duckdb

    from tests.demo_project import demo_project

    settings, _ = town
    project = demo_project()
    kinds = {
        name: {c: col.meta.get("sdc") for c, col in m.columns.items()}
        for name, m in project.models.items()
        if m.publish == "aggregate"
    }
    database = settings.warehouse / "placelink.duckdb"
    with duckdb.connect(str(database), read_only=True) as con:
        for coarse, fine in itertools.permutations(kinds, 2):
            dims = {c for c, k in kinds[coarse].items() if k == "none"}
            fine_dims = {c for c, k in kinds[fine].items() if k == "none"}
            shared = {c for c, k in kinds[coarse].items() if k == "count"} & {
                c for c, k in kinds[fine].items() if k == "count"
            }
            if not dims < fine_dims:
                continue
            by = ", ".join(sorted(dims))
            for column in shared:
                rows, equal = con.execute(
                    f"select count(*), count(*) filter (where c.{column} = f.total) "
                    f"from {coarse} c join (select {by}, sum({column}) as total from {fine} "
                    f"group by all) f using ({by})"
                ).fetchone()
                assert not (rows and equal == rows), f"{coarse}.{column} is a margin of {fine}"
