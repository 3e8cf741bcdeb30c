"""The data period: from the settings, else the sources file, else the demo's 2023-04."""

from __future__ import annotations

import datetime as dt

import pytest

from placelink.errors import ConfigError, PlacelinkError
from placelink.period import DEFAULT_FIRST, Period, check_months, period_in_file, resolve_period
from placelink.settings import Settings


def _settings(tmp_path, period: str | None, **environ) -> Settings:
    sources = tmp_path / "sources.yaml"
    sources.write_text("version: 1\n" + (f"period: {period}\n" if period else "") + "sources: []\n")
    return Settings.from_env(environ={"PLACELINK_SOURCES": str(sources), **environ}, home=tmp_path)


def test_the_setting_wins_over_the_sources_file_which_wins_over_the_default(tmp_path):
    assert resolve_period(_settings(tmp_path, None)) == Period(
        DEFAULT_FIRST, None, "the default period"
    )
    in_file = resolve_period(_settings(tmp_path, '{first: "2020-01", last: "2020-12"}'))
    assert (in_file.first, in_file.last) == ("2020-01", "2020-12")
    unquoted = resolve_period(_settings(tmp_path, "{first: 2020-01}"))
    assert (unquoted.first, unquoted.last) == ("2020-01", None)
    env = {"PLACELINK_PERIOD_START": "2019-07", "PLACELINK_PERIOD_END": "2019-09"}
    chosen = resolve_period(_settings(tmp_path, '{first: "2020-01"}', **env))
    assert (chosen.first, chosen.last, chosen.origin) == (
        "2019-07",
        "2019-09",
        "PLACELINK_PERIOD_START",
    )
    end_only = _settings(tmp_path, '{first: "2020-01"}', PLACELINK_PERIOD_END="2020-03")
    end_only = resolve_period(end_only)
    assert (end_only.first, end_only.last) == ("2020-01", "2020-03")


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ('{first: "2020-13"}', "the first month must be a month YYYY-MM"),
        ('{first: "2020-05", last: "2020-04"}', "the last month 2020-04 is before the first"),
        ('"2020-01"', "period must be {first: YYYY-MM"),
        ('{first: "2020-01", end: "2020-02"}', "unknown key(s) ['end']"),
    ],
)
def test_a_bad_period_is_one_config_error_naming_the_file(tmp_path, period, message):
    settings = _settings(tmp_path, period)
    with pytest.raises(ConfigError) as error:
        resolve_period(settings)
    assert str(settings.sources_file) in str(error.value) and message in str(error.value)


def test_a_bad_period_setting_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="PLACELINK_PERIOD_START must be a month YYYY-MM"):
        _settings(tmp_path, None, PLACELINK_PERIOD_START="2020-1")


def test_months_in_and_out_of_a_period():
    period = Period("2020-01", "2020-12")
    assert "2020-01" in period and "2020-12" in period
    assert "2019-12" not in period and "2021-01" not in period
    assert period.end_exclusive() == "2021-01" and Period("2020-03", "2020-05").end_exclusive() == (
        "2020-06"
    )
    open_ended = Period("2020-01")
    assert open_ended.end_exclusive() is None
    assert open_ended.last_month(dt.date(2024, 3, 15)) == "2024-02"
    assert open_ended.last_month(dt.date(2024, 1, 1)) == "2023-12"


def test_months_outside_the_period_stop_with_one_line_naming_the_first_and_the_period():
    check_months(["2020-01", "2020-02"], Period("2020-01", "2020-02"))
    with pytest.raises(PlacelinkError) as error:
        check_months(["2019-11", "2019-12", "2020-01"], Period("2020-01", "2020-06", "x.yaml"))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("month 2019-11 (and 1 more) is outside the period 2020-01 to 2020-06")


def test_a_sources_file_without_a_period_or_missing_has_none(tmp_path):
    assert period_in_file(tmp_path / "nowhere.yaml") is None
    (tmp_path / "s.yaml").write_text("version: 1\nsources: []\n")
    assert period_in_file(tmp_path / "s.yaml") is None
