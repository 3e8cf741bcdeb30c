"""The governance report as a lead sees it: rendered by a real headless Chromium."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from placelink.encode import key_fingerprint

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_the_report_renders_with_every_section_a_lead_signs_off(town, browser):
    settings, summary = town
    browser.get((settings.reports / "quality" / "index.html").as_uri())
    assert browser.title == "placelink data-quality report"
    verdict = browser.find_element(By.ID, "verdict")
    assert "every blocking check passed" in verdict.text
    rows = browser.find_elements(By.CSS_SELECTOR, "#reconciliation tr")[1:]
    assert {r.find_elements(By.TAG_NAME, "td")[0].text for r in rows} == {
        s["source"] for s in summary.sources
    }
    assert all(r.find_elements(By.TAG_NAME, "td")[7].text == "yes" for r in rows)
    # The town's key is the development key its run created, as hex, in secure/key.
    secret = bytes.fromhex((settings.secure / "key").read_text(encoding="ascii").strip())
    assert browser.find_element(By.ID, "key-fingerprint").text == key_fingerprint(secret)
    tables = browser.find_elements(By.CSS_SELECTOR, "#tables tr")[1:]
    assert len(tables) == len(summary.tables)
    images = browser.find_elements(By.TAG_NAME, "img")
    assert images and all(
        browser.execute_script("return arguments[0].naturalWidth", img) > 100 for img in images
    )
    for section in ("sources", "linkage", "published", "signoff"):
        assert browser.find_element(By.ID, section).is_displayed()
