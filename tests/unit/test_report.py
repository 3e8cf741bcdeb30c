"""The report's pieces that need no run: the code version and the validation pages."""

from __future__ import annotations

import subprocess

from placelink import __version__, report
from placelink.expectations import ExpectationOutcome, SuiteResult, write_result
from placelink.settings import Settings


def test_the_code_version_names_the_commit_when_git_can_and_is_tolerant_when_not(monkeypatch):
    assert report.code_version().startswith(__version__)

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(report.subprocess, "run", no_git)
    assert report.code_version() == __version__

    def not_a_repo(*args, **kwargs):
        raise subprocess.CalledProcessError(128, "git")

    monkeypatch.setattr(report.subprocess, "run", not_a_repo)
    assert report.code_version() == __version__


def test_one_page_per_kept_validation_result_linked_from_the_report(tmp_path):
    settings = Settings.from_env(environ={}, home=tmp_path)
    validations = settings.reports / "validations"
    failed = SuiteResult(
        "sources.housing",
        False,
        [
            ExpectationOutcome("expect_column_values_to_not_be_null", "case_id", True, 0, 0.0),
            ExpectationOutcome("expect_column_values_to_be_in_set", "duty", False, 3, 1.5),
        ],
    )
    write_result(failed, validations / "housing" / "2023-04.json")
    write_result(SuiteResult("published.t", True, []), validations / "published" / "t.json")
    stale = settings.reports / "data_docs" / "sources" / "housing" / "2019-01.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    report_file = settings.reports / "quality" / "index.html"

    links = report._write_data_docs(settings, report_file)

    assert links == {
        validations / "housing" / "2023-04.json": "../data_docs/sources/housing/2023-04.html",
        validations / "published" / "t.json": "../data_docs/published/t.html",
    }
    assert all((report_file.parent / href).resolve().is_file() for href in links.values())
    assert not stale.exists()
    page = (settings.reports / "data_docs" / "sources" / "housing" / "2023-04.html").read_text()
    assert 'id="outcome" class="bad">FAILED' in page
    assert "NOT MET" in page and ">3<" in page and "1.50" in page
    assert 'href="../../../quality/index.html"' in page
    index = (settings.reports / "data_docs" / "index.html").read_text()
    assert 'href="sources/housing/2023-04.html"' in index and 'href="published/t.html"' in index
