"""The Space in a real headless chromium: the default view, the Model tab before any click, overview, compare,
badges, a model's label, submitting a model and seeing it queued.

Screenshots go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leaderboard_data.configs import load_task_configs
from space.app import launch_app
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


HOSTILE = "evil/<img src=x onerror=window.__pwned=1>"


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    root = tmp_path_factory.mktemp("space-browser")
    stores = local_stores(root)
    configs = load_task_configs()
    results = make_results(60, 11, ("text_generation", "image_classification", "text_classification"))
    results.append(make_result(model_id="evil/x-script", task="image_classification", scored_energy_wh_per_1k=0.01))
    results.append(make_result(model_id=HOSTILE, task="image_classification", scored_energy_wh_per_1k=0.02))
    publish(stores, results, configs)
    add_tiny_bert(root, "acme/tiny-bert")
    port = free_port()
    demo = launch_app(stores, port=port, block=False, task_configs=configs, refresh_s=0)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url, wait_until="load", timeout=60_000)
    yield page
    assert page.evaluate("window.__pwned") is None  # no hostile markup ran during the whole session


def _visible(page, selector: str, timeout: float = 20_000):
    locator = page.locator(selector).locator("visible=true").first
    locator.wait_for(state="visible", timeout=timeout)
    return locator


def test_default_view_is_a_ranked_table_with_stars(page):
    """Found 2: the page opens on the task with the most results (image classification here), not an empty one."""
    table = _visible(page, "#leaderboard-table")
    _visible(page, "#leaderboard-table >> text=★★★★★")
    assert page.get_by_label("Image classification (22)", exact=True).is_checked()
    assert "No results for this task yet" not in page.inner_text("body")
    assert page.get_by_label("Automatic speech recognition (no results yet)", exact=True).count() == 1
    first_rank = _visible(page, "#leaderboard-table [data-testid='cell-0-0']").inner_text().strip()
    assert first_rank == "1"
    assert "evil/x-script" in table.inner_text()
    page.screenshot(path=str(ARTIFACTS / "space-default.png"), full_page=True)


def test_model_tab_shows_figures_without_a_click(page):
    """Found 3: the Model tab's initial selection is rendered on load, before any model is picked."""
    page.get_by_role("tab", name="Model").click()
    _visible(page, "#model-table [data-testid='cell-0-0']")
    assert "Image classification" in _visible(page, "#model-table").inner_text()
    _visible(page, "#result-caption >> text=Wh per 1,000 queries", timeout=30_000)
    _visible(page, "#phases-plot .js-plotly-plot", timeout=30_000)
    _visible(page, "#energy-label img", timeout=30_000)
    _visible(page, "text=g CO2e per 1,000 queries")
    badge = _visible(page, "#badge-preview img", timeout=30_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 100", arg=badge.element_handle())
    snippet = _visible(page, "#badge-snippet textarea").input_value()
    assert snippet.startswith("[![AI Energy Score](http://127.0.0.1:") and "/image_classification.svg)" in snippet
    page.screenshot(path=str(ARTIFACTS / "space-model-initial.png"), full_page=True)


def test_overview_renders_every_task(page):
    page.get_by_role("tab", name="Overview").click()
    _visible(page, "#overview-plot .js-plotly-plot", timeout=30_000)
    text = _visible(page, "#overview-equivalents").inner_text()
    assert "smartphone charges" in text and "No results on this hardware yet" in text
    assert "Power Hungry Processing" in text
    assert page.locator("#overview-plot >> text=Image generation (no results)").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "space-overview.png"), full_page=True)


def test_compare_renders_side_by_side(page):
    page.get_by_role("tab", name="Compare").click()
    verdict = _visible(page, "#compare-verdict >> text=95 %", timeout=30_000)
    assert verdict is not None
    _visible(page, "#compare-table [data-testid='cell-1-0']")
    assert page.locator("#compare-table [data-testid='cell-2-0']").count() == 0  # two picked by default
    page.screenshot(path=str(ARTIFACTS / "space-compare.png"), full_page=True)


def test_badge_renders_in_chromium(url, browser):
    badge_page = browser.new_page(viewport={"width": 600, "height": 120})
    response = badge_page.goto(f"{url}badge/evil/x-script/image_classification.svg", wait_until="load")
    assert response is not None and response.headers["content-type"] == "image/svg+xml"
    box = badge_page.locator("svg").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] == 20
    assert "5/5" in (badge_page.locator("svg").text_content() or "")
    badge_page.screenshot(path=str(ARTIFACTS / "space-badge.png"))
    hostile = "evil/%3Cimg%20src=x%20onerror=window.__pwned=1%3E/image_classification.svg"
    badge_page.goto(f"{url}badge/{hostile}", wait_until="load")
    assert (badge_page.locator("svg title").text_content() or "").startswith("AI Energy Score · evil/<img src=x")
    assert badge_page.locator("img").count() == 0 and badge_page.evaluate("window.__pwned") is None
    badge_page.screenshot(path=str(ARTIFACTS / "space-badge-hostile.png"))
    badge_page.close()


def test_browse_tasks_stars_and_plot(page):
    page.get_by_role("tab", name="Leaderboard").click()
    page.get_by_label("Text classification (20)", exact=True).check()
    _visible(page, "text=★★★★★")
    page.get_by_label("Image classification (22)", exact=True).check()
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
