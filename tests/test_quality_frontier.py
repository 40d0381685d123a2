"""Published results carry their quality; readers flag the floor and draw the energy-quality frontier per cohort."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

import datasets

from leaderboard_data.badges import badge_from_row
from leaderboard_data.configs import load_task_configs
from leaderboard_data.rated import load_rated_results
from leaderboard_data.ratings import BELOW_FLOOR_NOTE
from leaderboard_data.records import Quality, Result
from leaderboard_data.results import ResultsPublisher
from leaderboard_data.stores.base import AddFile
from leaderboard_data.stores.local import LocalStore
from runner.tables import format_results, ranked_results
from tests.helpers_results import make_result


def _quality(value: float | None, floor: float = 0.55, gate: str = "flag", note: str | None = None) -> Quality:
    if value is None:
        return Quality(metric="accuracy", note=note)
    return Quality(
        metric="accuracy",
        value=value,
        ci_low=value - 0.02,
        ci_high=value + 0.02,
        samples=200,
        floor=floor,
        floor_passed=value >= floor,
        gate=gate,  # type: ignore[arg-type]
    )


def _classifier(name: str, energy: float, quality: Quality | None) -> Result:
    return make_result(
        model_id=f"org/{name}",
        task="text_classification",
        device="cpu",
        scored_energy_wh_per_1k=energy,
        quality=quality,
    )


def _publish(root: Path, results: list[Result]) -> LocalStore:
    requests, store = LocalStore(root / "requests"), LocalStore(root / "results")
    ops = [AddFile(f"outbox/{r.task}/{r.result_id}.json", r.to_json().encode()) for r in results]
    requests.commit(ops, parent_revision=requests.revision(), message="finish")
    ResultsPublisher(requests, store, load_task_configs()).publish_pending()
    return store


@pytest.fixture
def cohort(tmp_path: Path) -> LocalStore:
    return _publish(
        tmp_path,
        [
            _classifier("frugal", 1.0, _quality(0.60)),
            _classifier("accurate", 2.0, _quality(0.90)),
            _classifier("wasteful", 4.0, _quality(0.85)),
            _classifier("silent", 0.5, _quality(0.50)),
            _classifier("generic-labels", 3.0, _quality(None, note="the model's labels do not name the dataset's")),
            _classifier("heavy", 8.0, _quality(0.90)),
        ],
    )


def _rows(store: LocalStore) -> dict[str, dict[str, Any]]:
    frame = load_rated_results(store, load_task_configs()).frame
    return {str(row["model_id"]).split("/")[1]: row for row in frame.to_dict("records")}


def test_frontier_floor_and_who_does_better(cohort: LocalStore) -> None:
    rows = _rows(cohort)
    assert {name for name, row in rows.items() if row["on_frontier"] is True} == {"frugal", "accurate"}
    assert rows["wasteful"]["frontier_note"] == "org/accurate uses 2.0x less energy at equal or better quality"
    assert rows["heavy"]["frontier_note"] == "org/accurate uses 4.0x less energy at equal or better quality"
    # the cheapest model is below the floor: flagged, never on the frontier, still rated under the flag gate
    assert rows["silent"]["below_quality_floor"] and rows["silent"]["on_frontier"] is False
    assert rows["silent"]["frontier_note"] == "below quality floor" and rows["silent"]["stars"] is not None
    assert rows["generic-labels"]["on_frontier"] is None and "labels" in rows["generic-labels"]["frontier_note"]
    badge = badge_from_row(rows["accurate"], "Text classification")
    assert "on the frontier" in badge.value_text and "on the frontier" in badge.title
    assert "below quality floor" in badge_from_row(rows["silent"], "Text classification").value_text


def test_results_table_and_load_dataset_show_quality(cohort: LocalStore, tmp_path: Path) -> None:
    table = format_results(ranked_results(cohort, load_task_configs(), None), "table")
    assert "accuracy 0.9 [0.88, 0.92] F" in table and "accuracy 0.5 [0.48, 0.52] BELOW FLOOR" in table
    assert "org/accurate uses 2.0x less energy" in table
    split = datasets.load_dataset(cohort.location, "text_classification", split="train", cache_dir=str(tmp_path))
    by_model = dict(
        zip(split["model_id"], zip(split["quality_value"], split["quality_floor_passed"], strict=True), strict=True)
    )
    assert by_model["org/accurate"] == (0.9, True) and by_model["org/silent"] == (0.5, False)
    assert by_model["org/generic-labels"] == (None, None)
    assert set(split["quality_metric"]) == {"accuracy"}
    frontier = datasets.load_dataset(cohort.location, "frontier", split="train", cache_dir=str(tmp_path / "f"))
    on = dict(zip(frontier["model_id"], frontier["on_frontier"], strict=True))
    assert on == {
        "org/frugal": True,
        "org/accurate": True,
        "org/wasteful": False,
        "org/heavy": False,
        "org/silent": False,
        "org/generic-labels": None,
    }


def test_unrank_gate_takes_the_stars_and_the_cohort_place(tmp_path: Path) -> None:
    results = [_classifier(f"model-{i}", 1.0 + i, _quality(0.6 + i / 100)) for i in range(5)]
    results.append(_classifier("below", 0.2, _quality(0.4, gate="unrank")))
    rows = _rows(_publish(tmp_path, results))
    assert rows["below"]["stars"] is None
    assert rows["below"]["rating_note"] == BELOW_FLOOR_NOTE and rows["below"]["below_quality_floor"]
    assert all(rows[f"model-{i}"]["stars"] is not None for i in range(5))
    assert rows["model-0"]["stars"] == 5  # the cheapest rated model: the unranked one takes no place in the cohort


def test_the_dataset_card_explains_each_gate_and_names_demo_data(tmp_path: Path) -> None:
    from leaderboard_data.records import LOCAL_DATASET

    demo = _quality(0.6).model_copy(update={"dataset": LOCAL_DATASET})
    store = _publish(tmp_path, [_classifier("on-demo-data", 1.0, demo)])
    card = store.read_file("README.md").decode()
    section = card.split("## Quality", 1)[1].split("\n## ", 1)[0]
    for config in load_task_configs().values():
        assert config.title in section
    assert "| Text classification | accuracy (higher is better; reads `label`)" in section
    assert "`unrank` | an encoder whose similarities do not follow meaning" in section
    assert "none yet | none yet; the configured dataset holds prompts only" in section
    assert "**Demo data** (text_classification)" in section


def test_short_answerers_are_flagged_against_the_range_and_the_cohort(tmp_path: Path) -> None:
    from leaderboard_data.records import Outputs

    def reasoner(name: str, tokens_per_answer: int) -> Result:
        outputs = Outputs(queries=50, input_tokens=5000, output_tokens=50 * tokens_per_answer)
        return make_result(
            model_id=f"org/{name}", task="text_generation_reasoning", device="cpu", outputs=outputs, samples=50
        )

    store = _publish(
        tmp_path, [reasoner("thinker", 1000), reasoner("thinker-2", 900), reasoner("terse", 100), reasoner("mute", 10)]
    )
    rows = _rows(store)
    assert rows["thinker"]["output_guard"] == "" and rows["thinker-2"]["output_guard"] == ""
    assert rows["terse"]["output_guard"] == "short answers: 100 tokens per answer, the cohort's median is 500"
    assert rows["mute"]["output_guard"] == "short answers: 10 tokens per answer, expected 64 to 8192"
    table = format_results(ranked_results(store, load_task_configs(), None), "table")
    assert "short answers: 10 tokens per answer" in table
