"""One month's pull materialisation as an operator sees it in the Dagster UI, in headless Chromium.

Against the `dagster dev` of tests/e2e/conftest.py, after its two-month backfill: the asset page
for pull/health_apc at partition 2023-05 shows that month's own figures (rows_in, valid,
quarantined, reconciles, quarantine_reasons, gx_suite_passed), not the run's totals. The page
is saved as a screenshot in the test's tmp dir and, when PLACELINK_SCREENSHOT_DIR is set, there.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance
from dagster._core.instance.ref import InstanceRef
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SOURCE, MONTH = "health_apc", "2023-05"
FIGURES = ("rows_in", "valid", "quarantined", "reconciles", "quarantine_reasons", "gx_suite_passed")


def month_metadata(dagster_home: Path, month: str) -> dict:
    """The figures the instance holds for pull/<SOURCE>'s materialisation of `month`."""
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(["pull", SOURCE]), asset_partitions=[month]),
            limit=1,
        ).records
    assert records, f"no materialisation of pull/{SOURCE} for {month}"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def test_a_months_materialisation_shows_its_own_figures(
    dagster_dev, ui_backfill, browser, tmp_path
):
    assert MONTH in ui_backfill["months"]
    figures = month_metadata(dagster_dev.settings.dagster_home, MONTH)
    browser.get(f"{dagster_dev.url}/assets/pull/{SOURCE}?view=partitions&partition={MONTH}")
    WebDriverWait(browser, 90).until(
        lambda b: "rows_in" in b.find_element(By.TAG_NAME, "body").text
    )
    _dismiss_community_dialog(browser)
    text = browser.find_element(By.TAG_NAME, "body").text
    shot = tmp_path / "placelink_month_screenshot.png"
    browser.save_screenshot(str(shot))
    if os.environ.get("PLACELINK_SCREENSHOT_DIR"):
        target = Path(os.environ["PLACELINK_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / shot.name)
    assert f"{MONTH}\nMaterialized" in text, text  # the partition shown is the month asked for
    for name in FIGURES:
        assert re.search(rf"^{name}$", text, re.MULTILINE), f"{name} not shown:\n{text}"
    for name in ("rows_in", "valid", "quarantined"):
        assert _shown(text, name) == figures[name], (name, figures, text)


def _shown(text: str, name: str) -> int | None:
    """The whole number the page shows under (or beside) a metadata label."""
    found = re.search(rf"^{name}\s+([\d,]+)$", text, re.MULTILINE)
    return int(found.group(1).replace(",", "")) if found else None


def _dismiss_community_dialog(browser) -> None:
    """A fresh browser gets Dagster's "Join the community" dialog over the page: skip it."""
    skip = "//button[normalize-space()='Skip']"
    try:
        WebDriverWait(browser, 5).until(lambda b: b.find_elements(By.XPATH, skip))
    except TimeoutException:
        return
    browser.find_element(By.XPATH, skip).click()
    WebDriverWait(browser, 10).until(lambda b: not b.find_elements(By.XPATH, skip))
