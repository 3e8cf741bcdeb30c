"""The period from the sources file: partitions follow it, and a month outside it is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.build import build_definitions
from placelink.cli import main
from placelink.encode import init_keys
from placelink.settings import Settings

SOURCES = """version: 1
{period}
sources:
  - name: gp_registrations
    service: health
    connector: {{kind: csv, path: "landing/gp_registrations/{{month}}.csv"}}
    dates: {{dob: "%d/%m/%Y", registered: "%d/%m/%Y"}}
    identity: {{record_id: reg_id, given_name: first, family_name: last, date_of_birth: dob,
               sex: sex, postcode: postcode}}
    sex_map: {{"1": M, "2": F}}
    keep: [registered]
    event: {{start: registered}}
"""
FIRST = ["Ada", "Ben", "Cleo", "Dev", "Esi", "Finn", "Gwen", "Hari", "Ines", "Jon"]


def _town(home: Path, months: list[str], period: str) -> Settings:
    """A town of hand-written GP registration extracts, one CSV a month (no generator)."""
    landing = home / "landing"
    (landing / "gp_registrations").mkdir(parents=True)
    (landing / "sources.yaml").write_text(SOURCES.format(period=period))
    for m, month in enumerate(months):
        year, mm = month.split("-")
        rows = ["reg_id,first,last,dob,sex,postcode,registered"]
        for i, first in enumerate(FIRST):
            rows.append(
                f"R{m}{i:03d},{first},Smith{i},0{1 + i % 9}/0{1 + i % 9}/19{50 + i},"
                f"{1 + i % 2},PK{1 + i % 9} {i}AB,1{i % 9}/{mm}/{year}"
            )
        (landing / "gp_registrations" / f"{month}.csv").write_text("\n".join(rows) + "\n")
    settings = Settings.from_env(environ={}, home=home)
    init_keys(settings)
    return settings


@pytest.fixture(autouse=True)
def _no_shell_settings(monkeypatch):
    for name in ("PLACELINK_SOURCES", "PLACELINK_PERIOD_START", "PLACELINK_PERIOD_END"):
        monkeypatch.delenv(name, raising=False)


def test_the_partitions_follow_the_period_in_the_sources_file(tmp_path):
    _town(tmp_path, ["2020-01"], 'period: {first: "2020-01", last: "2020-06"}')
    defs = build_definitions(home=str(tmp_path), environ={})
    keys = defs.resolve_job_def("monthly_job").partitions_def.get_partition_keys()
    assert keys == ["2020-01", "2020-02", "2020-03", "2020-04", "2020-05", "2020-06"]
    overridden = build_definitions(home=str(tmp_path), environ={"PLACELINK_PERIOD_END": "2020-02"})
    assert overridden.resolve_job_def("pull_job").partitions_def.get_partition_keys() == [
        "2020-01",
        "2020-02",
    ]


def test_a_town_whose_period_starts_in_2020_runs_through_placelink_run(tmp_path, capsys):
    settings = _town(tmp_path, ["2020-01", "2020-02", "2020-03"], 'period: {first: "2020-01"}')

    code = main(["run", "--home", str(tmp_path), "--until", "pseudonymise"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "months 2020-01 to 2020-03" in out
    pulled = sorted(p.stem for p in (settings.standardised / "gp_registrations").glob("*.parquet"))
    assert pulled == ["2020-01", "2020-02", "2020-03"]
    assert (settings.content / "gp_registrations.parquet").exists()


@pytest.mark.parametrize(
    ("period", "named"),
    [
        ('period: {first: "2020-01", last: "2020-02"}', "2020-01 to 2020-02"),
        ("", "2023-04 to the last whole month"),  # no period: the demo's default
    ],
)
def test_a_landed_month_outside_the_period_is_one_line_naming_both(tmp_path, capsys, period, named):
    _town(tmp_path, ["2020-01", "2020-02", "2020-03"], period)

    code = main(["run", "--home", str(tmp_path), "--until", "pull"])

    out, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "month 2020" in err and f"outside the period {named}" in err
    assert "CheckError" not in out + err and "Traceback" not in out + err
