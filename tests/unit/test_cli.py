"""The command line: help, version, and one clear line for every mistake (no Dagster run)."""

import os
import sys

import pandas as pd
import pytest

import placelink
from placelink.cli import main

COMMANDS = ("init", "generate", "run", "evaluate", "report", "ui")


def _flat(text: str) -> str:
    """Help text with its line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def _no_home_from_the_environment(monkeypatch):
    monkeypatch.delenv("PLACELINK_HOME", raising=False)
    monkeypatch.setenv("COLUMNS", "100")


def test_version(capsys):
    assert main(["--version"]) == 0
    out, err = capsys.readouterr()
    assert out == f"placelink {placelink.__version__}\n"
    assert err == ""


def test_run_help_lists_every_option_with_its_default(capsys):
    assert main(["run", "--help"]) == 0
    out = _flat(capsys.readouterr().out)
    for option, default in (
        ("--home", "default: $PLACELINK_HOME, else ./data"),
        ("--from", "default: pull"),
        ("--until", "default: report"),
        ("--no-retrain", "default: retrain"),
    ):
        assert option in out
        assert default in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_every_command_has_help_with_its_default(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    entries: list[str] = []
    for line in out[out.index("options:") :].splitlines()[1:]:
        if line.startswith("  -"):
            entries.append(line)
        elif entries:
            entries[-1] += line
    options = {_flat(e).split()[0].rstrip(","): _flat(e) for e in entries}
    assert {"-h", "--home"} <= set(options)
    for option, text in options.items():
        if option != "-h":
            assert "(default: " in text, f"{command} {option}: {text}"


def test_generate_help_shows_the_defaults(capsys):
    main(["generate", "--help"])
    out = _flat(capsys.readouterr().out)
    for default in ("default: 50000", "default: 36", "default: 42", "default: default"):
        assert default in out


def test_ui_help_shows_host_and_port(capsys):
    main(["ui", "--help"])
    out = _flat(capsys.readouterr().out)
    assert "--host HOST" in out and "default: 127.0.0.1" in out
    assert "--port PORT" in out and "default: 3000" in out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["run", "--until", "bogus"], ["placelink run: error", "--until", "bogus"]),
        (["generate", "--people", "lots"], ["--people", "whole number", "'lots'"]),
        (["generate", "--people", "0"], ["--people", "at least 1"]),
        (["ui", "--port", "70000"], ["--port", "65535"]),
        ([], ["placelink: error", "command"]),
    ],
)
def test_a_command_line_mistake_is_one_line(argv, words, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    for word in words:
        assert word in err


@pytest.mark.parametrize(
    "argv", [["run"], ["run", "--from", "models"], ["evaluate"], ["report"], ["init"], ["ui"]]
)
def test_a_missing_home_stops_naming_it_and_is_not_made(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "execvpe", _no_exec)
    home = tmp_path / "does" / "not" / "exist"
    assert main([*argv, "--home", str(home)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"placelink: {home}: no such data home (make one with `placelink generate`, "
        "or point --home or PLACELINK_HOME at one)\n"
    )
    assert not home.exists()
    assert not home.parent.exists()


def test_a_missing_home_from_the_environment_is_not_made(tmp_path, capsys, monkeypatch):
    home = tmp_path / "nowhere"
    monkeypatch.setenv("PLACELINK_HOME", str(home))
    assert main(["report"]) == 2
    assert str(home) in capsys.readouterr().err
    assert not home.exists()


def test_a_home_that_is_a_file_is_one_line(tmp_path, capsys):
    home = tmp_path / "home"
    home.write_text("not a folder")
    for command in ("generate", "report"):
        assert main([command, "--home", str(home)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{home}: not a folder" in err


def test_report_before_any_run_says_there_is_nothing_to_report(tmp_path, capsys):
    (tmp_path / "content").mkdir()
    (tmp_path / "published").mkdir()
    assert main(["report", "--home", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"placelink: {tmp_path}: nothing to report yet: run `placelink run` first\n"
    assert not (tmp_path / "reports").exists()


def test_report_goes_ahead_once_something_is_published(tmp_path, capsys, monkeypatch):
    made = []

    def build_report(settings):
        made.append(settings.home)
        return type("Report", (), {"path": settings.reports / "quality" / "index.html"})

    monkeypatch.setattr("placelink.report.build_report", build_report)
    (tmp_path / "published" / "outcomes").mkdir(parents=True)
    pd.DataFrame({"n": [1]}).to_parquet(tmp_path / "published" / "outcomes" / "t.parquet")
    assert main(["report", "--home", str(tmp_path)]) == 0
    assert made == [tmp_path.resolve()]
    assert capsys.readouterr().out.startswith("report: ")


def test_evaluate_on_a_home_without_linkage_is_one_line(tmp_path, capsys):
    assert main(["evaluate", "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no linkage yet" in err


class _Exec(Exception):
    pass


def _no_exec(file, args, env):
    raise _Exec(file, args, env)


def test_ui_passes_host_and_port_to_dagster_dev(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "execvpe", _no_exec)
    with pytest.raises(_Exec) as caught:
        main(["ui", "--home", str(tmp_path), "--host", "0.0.0.0", "--port", "3001"])
    file, argv, env = caught.value.args
    assert file == sys.executable
    assert argv == [
        *[sys.executable, "-m", "dagster", "dev", "-m", "pipelines.definitions"],
        *["-h", "0.0.0.0", "-p", "3001"],
    ]
    assert env["DAGSTER_HOME"] == str(tmp_path.resolve() / "dagster")
    assert env["PLACELINK_HOME"] == str(tmp_path.resolve())
    assert (tmp_path / "dagster" / "dagster.yaml").exists()  # prepare_dagster_home ran first


def test_ui_defaults_to_localhost_port_3000(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "execvpe", _no_exec)
    with pytest.raises(_Exec) as caught:
        main(["ui", "--home", str(tmp_path)])
    argv = caught.value.args[1]
    assert argv[-4:] == ["-h", "127.0.0.1", "-p", "3000"]
