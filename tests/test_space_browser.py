"""The Space in a real headless chromium: browse tasks, open a model's label, submit a model and see it queued.

Screenshots go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leaderboard_data.configs import load_task_configs
from space.app import CSS, THEME, build_app
from tests.helpers_results import make_result, make_results
from tests.helpers_space import add_tiny_bert, free_port, local_stores, publish

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    root = tmp_path_factory.mktemp("space-browser")
    stores = local_stores(root)
    configs = load_task_configs()
    results = make_results(60, 11, ("text_generation", "image_classification", "text_classification"))
    results.append(make_result(model_id="evil/x-script", task="image_classification", scored_energy_wh_per_1k=0.01))
    publish(stores, results, configs)
    add_tiny_bert(root, "acme/tiny-bert")
    demo = build_app(stores, configs, refresh_s=0)
    port = free_port()
    demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, ssr_mode=False, theme=THEME, css=CSS
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def page(url):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, wait_until="load", timeout=60_000)
        yield page
        browser.close()


def _visible(page, selector: str, timeout: float = 20_000):
    locator = page.locator(selector).locator("visible=true").first
    locator.wait_for(state="visible", timeout=timeout)
    return locator


def test_browse_tasks_stars_and_plot(page):
    _visible(page, "#leaderboard-table")
    page.get_by_label("Image classification", exact=True).check()
    _visible(page, "text=★★★★★")
    _visible(page, "#leaderboard-table >> text=evil/x-script")
    _visible(page, ".js-plotly-plot")
    page.screenshot(path=str(ARTIFACTS / "space-leaderboard.png"), full_page=True)
    assert page.locator("script:has-text('alert')").count() == 0


def test_open_model_label(page):
    # evil/x-script uses the least energy, so it is the first row; click its rating cell (not the Hub link).
    assert "evil/x-script" in _visible(page, "#leaderboard-table [data-testid='cell-0-1']").inner_text()
    _visible(page, "#leaderboard-table [data-testid='cell-0-2']").click()
    _visible(page, "#energy-label img", timeout=30_000)
    _visible(page, "text=g CO2e per 1,000 queries")
    page.screenshot(path=str(ARTIFACTS / "space-model.png"), full_page=True)


def test_submit_and_see_it_queued(page):
    page.get_by_role("tab", name="Submit").click()
    _visible(page, "textarea, input[placeholder='org/name']")
    page.get_by_placeholder("org/name").fill("acme/tiny-bert")
    page.get_by_label("Task").locator("visible=true").last.click()
    page.get_by_role("option", name="Text classification").click()
    page.get_by_role("button", name="Submit").click()
    _visible(page, "text=in the queue", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "space-submit.png"), full_page=True)
    page.get_by_role("tab", name="Queue").click()
    _visible(page, "text=PENDING")
    _visible(page, "text=#1 in the queue")
    page.screenshot(path=str(ARTIFACTS / "space-queue.png"), full_page=True)


def test_about_shows_thresholds_and_loading_code(page):
    page.get_by_role("tab", name="About").click()
    _visible(page, "text=What the stars mean")
    _visible(page, "text=load_dataset")
    page.screenshot(path=str(ARTIFACTS / "space-about.png"), full_page=True)
