"""The Space shows quality beside energy: table columns, the energy-quality plot with its frontier, the model view,
and the demo-data note where the task's inputs are the embedded default's generated copy."""

from __future__ import annotations

from pathlib import Path

from leaderboard_data.configs import load_task_configs
from leaderboard_data.records import Quality
from runner.zoo import write_dataset
from space import columns as C
from space import data
from space.quality_view import DEMO_DATA_NOTE
from space.views import Views
from tests.helpers_results import make_result
from tests.helpers_space import local_stores, publish


def _quality(value: float) -> Quality:
    return Quality(
        metric="spearman",
        value=value,
        ci_low=value - 0.05,
        ci_high=value + 0.05,
        samples=100,
        floor=0.1,
        floor_passed=value >= 0.1,
        gate="unrank",
    )


def test_frontier_in_table_plot_model_view_and_demo_note(tmp_path: Path) -> None:
    configs = load_task_configs()
    stores = local_stores(tmp_path)
    results = [
        make_result(
            model_id=f"org/{name}",
            task="sentence_similarity",
            device="cpu",
            scored_energy_wh_per_1k=energy,
            quality=_quality(value),
        )
        for name, energy, value in [("real", 2.0, 0.8), ("random", 1.0, -0.8), ("big", 6.0, 0.75)]
    ]
    publish(stores, results, configs)
    views = Views(data.LeaderboardData(stores, configs))
    table, _, _, ids = views.leaderboard("sentence_similarity", "", [], [], C.ENERGY.label, False)
    by_model = dict(zip(ids, table.to_dict("records"), strict=True))
    assert by_model["org/real"][C.FRONTIER.label] == "◆ on the frontier"
    assert by_model["org/real"][C.QUALITY.label] == "spearman 0.8 [0.75, 0.85]"
    assert by_model["org/random"][C.QUALITY.label].endswith("⚠ below quality floor")
    assert by_model["org/big"][C.FRONTIER.label] == "org/real uses 3.0x less energy at equal or better quality"
    figure = views.frontier("sentence_similarity")
    traces = {trace.name: trace for trace in figure.data}
    assert list(traces["on the frontier"].x) == [0.8] and list(traces["below quality floor"].x) == [-0.8]
    assert list(traces["Pareto frontier"].y) == [2.0] and figure.layout.yaxis.type == "log"
    model_table, result, _ = views.model("org/big")
    assert "uses 3.0x less energy" in model_table[C.FRONTIER.label].iloc[0]
    caption = views.result(result["value"])[-1]
    assert "spearman 0.75" in caption and "uses 3.0x less energy" in caption
    _, _, description = views.filters("sentence_similarity")
    assert "spearman" in description and "no stars" in description and DEMO_DATA_NOTE not in description
    write_dataset(configs["sentence_similarity"].pipeline, tmp_path / "datasets" / "sentence_similarity", 4)
    assert DEMO_DATA_NOTE in views.filters("sentence_similarity")[2]
    assert "(demo data)" in views.frontier("sentence_similarity").layout.title.text


def test_a_task_without_a_metric_plots_the_reason(tmp_path: Path) -> None:
    configs = load_task_configs()
    stores = local_stores(tmp_path)
    publish(stores, [make_result(task="text_generation", device="cpu")], configs)
    figure = Views(data.LeaderboardData(stores, configs)).frontier("text_generation")
    assert "prompts only" in figure.layout.annotations[0].text
