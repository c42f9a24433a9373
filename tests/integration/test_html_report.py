"""report.html in a real browser: Debian's Chromium, headless, driven by Selenium, with every
address unresolvable and a proxy that goes nowhere. The page must ask nothing of the network, log
no console error, and draw every chart (with its axis text) and, for a profiled run, a flame
graph per stage; a screenshot at 1280 px is saved in the run folder. The committed service run's
page here; a fresh run's in test_run_all (its quick ladder, checked with `check_page`)."""

import base64
import json
import re
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By

from harness.reporting.html_report import REPORT_HTML
from tests.conftest import REPO, run_harness

SCREENSHOT = "report-1280.png"


def _open(driver: webdriver.Chrome, page: Path) -> list[str]:
    """Load the page; the URLs it asked for (the page itself included)."""
    driver.get_log("performance")  # what earlier pages asked is not this one's
    driver.get(page.as_uri())
    asked = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            asked.append(message["params"]["request"]["url"])
    return asked


def check_page(driver: webdriver.Chrome, run: Path, flames: bool) -> dict[str, int]:
    page = run / REPORT_HTML
    asked = _open(driver, page)
    assert [url for url in asked if url != page.as_uri()] == [], asked  # nothing leaves the page
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    charts = driver.find_elements(By.CSS_SELECTOR, "figure > svg:not(.flame)")
    assert len(charts) >= 3, len(charts)
    for chart in charts:  # drawn, with its axis text as text
        assert chart.size["width"] > 300 and chart.size["height"] > 100
        assert any(t.text.strip() for t in chart.find_elements(By.TAG_NAME, "text"))
    assert driver.find_elements(By.CSS_SELECTOR, "details summary")  # each verdict, folded
    flame_graphs = driver.find_elements(By.CSS_SELECTOR, "svg.flame")
    if flames:
        assert flame_graphs and all(len(f.find_elements(By.TAG_NAME, "rect")) > 5 for f in flame_graphs)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    (run / SCREENSHOT).write_bytes(base64.b64decode(shot["data"]))
    assert (run / SCREENSHOT).stat().st_size > 20_000
    return {"charts": len(charts), "flames": len(flame_graphs), "bytes": page.stat().st_size}


def test_a_committed_profile_runs_page_draws_a_flame_graph_per_stage(browser: webdriver.Chrome,
                                                                     tmp_path: Path) -> None:
    run = Path(shutil.copytree(REPO / "results" / "reference-service", tmp_path / "reference-service"))
    redrawn = run_harness("report", str(run))  # `harness report RUN` draws it again from the derived files
    assert redrawn.returncode == 0, redrawn.stderr
    seen = check_page(browser, run, flames=True)
    # each variant's flame, then the candidate's against the base: frames red as they grew, blue as they shrank
    assert seen["flames"] == len(json.loads((run / "flames.json").read_text())) + 1
    (grown,) = browser.find_elements(By.CSS_SELECTOR, "svg.flame[aria-label='flame graph of after'][role=img]")[-1:]
    fills = {r.get_attribute("fill") for r in grown.find_elements(By.TAG_NAME, "rect")}
    assert any(f.startswith("rgb(230,") for f in fills) and any(f.endswith(",235)") for f in fills), fills
    assert "What grew, against the base" in browser.page_source
    # a service's page: nothing of the ladder's story, and plain numbers on every axis
    assert "case study" not in browser.find_element(By.TAG_NAME, "body").text.lower()
    ticks = [t.text for chart in browser.find_elements(By.CSS_SELECTOR, "figure > svg:not(.flame)")
             for t in chart.find_elements(By.TAG_NAME, "text")]
    assert ticks and not [t for t in ticks if re.search(r"×\s*10|10\^|\d[eE][+-]?\d", t)], ticks
