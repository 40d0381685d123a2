"""The Space's newer pieces on real published stores: default task, rated results, badges, overview, compare,
server paths kept out of messages."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from leaderboard_data.badges import Badge, badge_files, badge_from_row, badge_svg, best_rows
from leaderboard_data.configs import load_task_configs
from leaderboard_data.rated import load_rated_results
from runner.tables import ranked_results
from space import columns as C
from space import compare, data, overview, plots
from space.badges import markdown_snippet, split_badge_path
from space.redact import PLACEHOLDER, redact_paths
from tests.helpers_results import make_result, make_results
from tests.helpers_space import local_stores, publish

TASKS = ("text_generation", "image_classification", "text_classification")
HOSTILE = 'evil/<script>alert("x")</script>&amp;'
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def configs():
    return load_task_configs()


@pytest.fixture(scope="module")
def stores(tmp_path_factory, configs):
    stores = local_stores(tmp_path_factory.mktemp("space-features"))
    results = make_results(45, 5, TASKS)
    results += make_results(20, 9, ("image_classification",))  # image classification has the most results
    results.append(make_result(model_id=HOSTILE, task="text_classification", scored_energy_wh_per_1k=0.2))
    publish(stores, results, configs)
    return stores


@pytest.fixture(scope="module")
def snap(stores, configs):
    return data.LeaderboardData(stores, configs).refresh()


def _badge(**overrides) -> Badge:
    fields = dict(
        model_id="org/m",
        task="text_generation",
        task_title="Text generation",
        stars=4,
        rating_note="",
        energy_wh_per_1k=0.2234,
        measured=True,
        hardware_class="nvidia-h100-80gb",
        config_version="1.0",
    )
    return Badge(**{**fields, **overrides})


# --- default task, task choices, initial model ---------------------------------------------------------------


def test_opens_on_the_task_with_most_results_and_marks_empty_tasks(snap, configs):
    tasks = sorted(configs, key=lambda t: configs[t].title)
    assert data.default_task(snap, tasks) == "image_classification"
    labels = dict((task, label) for label, task in data.task_choices(snap, configs, tasks))
    assert labels["automatic_speech_recognition"] == "Automatic speech recognition (no results yet)"
    assert labels["image_classification"] == f"Image classification ({len(snap.task_frame('image_classification'))})"
    first_row = snap.task_frame("image_classification")["model_id"].iloc[0]
    assert data.top_model(snap, "image_classification") == first_row


def test_default_task_on_an_empty_store_is_the_first(tmp_path, configs):
    empty = data.LeaderboardData(local_stores(tmp_path), configs).refresh()
    assert data.default_task(empty, ["b_task", "a_task"]) == "b_task"
    assert data.top_model(empty, "b_task") is None


# --- one reader of rated results ------------------------------------------------------------------------------


def test_cli_tables_and_space_read_the_same_stars(stores, configs, snap):
    rated = load_rated_results(stores.results, configs)
    assert rated.published and rated.thresholds is not None
    cli = ranked_results(stores.results, configs, "text_generation").set_index("result_id")
    space = snap.task_frame("text_generation").set_index("result_id")
    assert len(cli) == len(space) > 0
    assert cli["stars"].astype("Int64").equals(space.loc[cli.index, "stars"].astype("Int64"))
    one_task = load_rated_results(stores.results, configs, "text_generation").frame.set_index("result_id")
    assert one_task["stars"].astype("Int64").equals(cli.loc[one_task.index, "stars"].astype("Int64"))


def test_unpublished_store_is_rated_by_computed_thresholds(tmp_path, configs):
    from leaderboard_data.results import THRESHOLDS_PATH
    from leaderboard_data.stores import DeleteFile

    stores = local_stores(tmp_path)
    publish(stores, make_results(12, 1, ("text_classification",)), configs)
    stores.results.commit([DeleteFile(THRESHOLDS_PATH)], parent_revision=stores.results.revision(), message="x")
    rated = load_rated_results(stores.results, configs)
    assert not rated.published and rated.thresholds is not None
    assert rated.frame["stars"].notna().any()


# --- badges ---------------------------------------------------------------------------------------------------


def test_badge_says_stars_energy_task_and_hardware():
    svg = badge_svg(_badge())
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "4/5 · 0.223 Wh/1k · text generation · nvidia-h100-80gb" in texts
    assert "⚡ energy" in texts
    assert root.find(f"{SVG}title").text.startswith("AI Energy Score · org/m · Text generation: 4 of 5 stars")


def test_badge_escapes_a_hostile_model_id():
    svg = badge_svg(_badge(model_id=HOSTILE, hardware_class="<b>hw</b>"))
    root = ET.fromstring(svg)  # well-formed XML
    assert root.find(f"{SVG}title").text.startswith(f"AI Energy Score · {HOSTILE} ·")
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&amp;amp;" in svg


def test_unrated_and_estimated_badges_say_so():
    small = badge_svg(_badge(stars=None, rating_note="cohort too small (3 of 5)", measured=False))
    assert "not rated (too few peers) · 0.223 Wh/1k est. ·" in small
    assert "cohort too small (3 of 5)" in small  # the full reason in the tooltip
    unstable = _badge(stars=None, rating_note="unstable: CV 12% over repetitions")
    assert unstable.rating_text == "not rated (unstable)"
    assert "4/5" not in badge_svg(unstable)
    flagged = {**_row_fields(), "stars": pd.NA, "rating_note": "", "unstable": True}
    assert badge_from_row(flagged, "Text generation").rating_text == "not rated (unstable)"


def _row_fields() -> dict:
    return {
        "model_id": "org/m",
        "task": "text_generation",
        "scored_energy_wh_per_1k": 0.5,
        "scored_energy_measured": pd.NA,
        "hardware_class": "h",
        "config_version": "1.0",
    }


def test_best_rows_prefer_the_latest_rated_result():
    frame = pd.DataFrame(
        {
            "model_id": ["a", "a", "a", "b"],
            "task": ["t", "t", "t", "t"],
            "stars": pd.array([3, 5, None, None], dtype="Int64"),
            "finished_at": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01", "2025-01-01"], utc=True),
            "result_id": ["old", "rated", "newest-unrated", "b1"],
        }
    )
    assert sorted(best_rows(frame)["result_id"]) == ["b1", "rated"]


def test_published_badges_match_the_space(stores, configs, snap):
    files = stores.results.list_files("badges/")
    rated = snap.frame
    pairs = best_rows(rated)
    hub_ids = pairs[pairs["model_id"] != HOSTILE]
    assert len(files) == len(hub_ids) > 0  # the hostile id is no safe path: served by the Space, not stored
    row = hub_ids.iloc[0].to_dict()
    stored = stores.results.read_file(f"badges/{row['model_id']}/{row['task']}.svg").decode()
    title = configs[row["task"]].title
    assert stored == badge_svg(badge_from_row(row, title))
    assert set(badge_files(rated, configs)) == set(files)


def test_badge_paths_and_snippet():
    assert split_badge_path("org/name/text_generation.svg") == ("org/name", "text_generation")
    assert split_badge_path("name/task.svg") == ("name", "task")
    assert split_badge_path("task.svg") is None and split_badge_path("org/name/task.png") is None
    snippet = markdown_snippet("https://x.hf.space", "org/a b", "text_generation")
    assert (
        snippet == "[![AI Energy Score](https://x.hf.space/badge/org/a%20b/text_generation.svg)](https://x.hf.space/)"
    )


# --- overview -------------------------------------------------------------------------------------------------


def test_overview_names_every_task_and_its_median(snap, configs):
    hardware = overview.hardware_classes(snap)[0]
    items = overview.summaries(snap, hardware, configs)
    assert {i.task for i in items} == set(configs)
    with_results = [i for i in items if i.median_wh_per_1k is not None]
    assert {i.task for i in with_results} <= set(TASKS) and with_results
    medians = [i.median_wh_per_1k for i in with_results]
    assert medians == sorted(medians)
    points = overview.points(snap, hardware)
    first = with_results[0]
    expected = points[points["task"] == first.task]["scored_energy_wh_per_1k"].astype(float).median()
    assert first.median_wh_per_1k == pytest.approx(expected)
    text = overview.equivalents_markdown(items, hardware)
    charges = f"{first.median_wh_per_1k / 12.0:.2g}"
    assert f"≈ {charges} smartphone charges" in text
    assert "No results on this hardware yet:** Automatic speech recognition" in text
    assert "Power Hungry Processing" in text  # the factor's source
    order = [(i.task, i.title, i.median_wh_per_1k) for i in reversed(items)]
    figure = plots.tasks_overview(points, order, "t")
    assert figure.layout.xaxis.type == "log"
    assert "Image generation (no results)" in figure.layout.yaxis.ticktext


# --- compare --------------------------------------------------------------------------------------------------


def test_compare_says_when_intervals_overlap(snap, configs):
    frame = snap.task_frame("text_generation")
    ids = frame["result_id"].tolist()
    rows = compare.picked_rows(snap, [*ids[:4], "unknown"])
    assert len(rows) == 4
    verdict = compare.verdict_markdown(rows, configs)
    assert verdict.count(" vs ") >= 6
    near = rows.iloc[[0, 0]].copy()
    near["model_id"] = ["a/x", "b/y"]
    near["scored_energy_ci95_high"] = [1.0, 1.2]
    near["scored_energy_ci95_low"] = [0.9, 0.95]
    assert "not distinguishable at 95 %" in compare.verdict_markdown(near, configs)
    near["scored_energy_ci95_low"] = [0.9, 1.1]
    near["scored_energy_wh_per_1k"] = [0.95, 1.15]
    assert "distinguishable at 95 %: **a/x** uses 1.21× less energy" in compare.verdict_markdown(near, configs)
    assert "Pick 2 to 4" in compare.verdict_markdown(rows.iloc[:1], configs)
    assert list(compare.table(rows).columns) == C.labels(compare.COMPARE_COLUMNS)
    phases = compare.scored_phases(rows.iloc[0].to_dict())
    assert set(phases["device"]) == {rows.iloc[0]["scored_device"]}


# --- server paths ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "does not exist in the local models folder /srv/data/energy-score-data/models",
        "model folder /tmp/pytest-of-root/pytest-3/x/models/acme/m: no config.json",
        "see /…/energy\\_score-data/models.",
        "under C:\\Users\\me\\models",
        "path ./data/models/acme",
    ],
)
def test_server_paths_are_redacted(text):
    shown = redact_paths(text)
    assert PLACEHOLDER in shown and "models/" not in shown and "\\Users" not in shown


def test_urls_and_model_ids_are_left_alone():
    text = "see https://huggingface.co/org/name and org/name at 1/2 speed"
    assert redact_paths(text) == text


def test_a_superseded_result_leaves_the_ranking_but_stays_in_the_model_view(tmp_path, configs):
    stores = local_stores(tmp_path)
    results = make_results(6, 5, ("text_classification",))
    first = results[0]
    rerun = first.model_copy(
        update={
            "result_id": "f" * 16,
            "started_at": first.started_at + pd.Timedelta(days=1),
            "finished_at": first.finished_at + pd.Timedelta(days=1),
        }
    )
    publish(stores, [*results, rerun], configs)
    snapshot = data.LeaderboardData(stores, configs).refresh()
    shown = data.filter_task_frame(snapshot.task_frame("text_classification"), data.ViewFilter())
    assert first.result_id not in set(shown["result_id"]) and rerun.result_id in set(shown["result_id"])
    assert shown["model_id"].is_unique
    history = data.model_rows(snapshot, first.model_id)
    assert {first.result_id, rerun.result_id} <= set(history["result_id"])


def test_the_cli_table_shows_an_unranked_row_as_a_dash(tmp_path, configs):
    from runner.tables import format_results

    stores = local_stores(tmp_path)
    results = make_results(5, 3, ("text_classification",))
    results.append(make_result(model_id="org/shaky", task="text_classification", unstable=True))
    publish(stores, results, configs)
    text = format_results(ranked_results(stores.results, configs, "text_classification"), "table")
    shaky = next(line for line in text.splitlines() if "org/shaky" in line)
    assert shaky.split()[0] == "-" and "<NA>" not in text
