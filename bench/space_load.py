"""How fast the Space loads and builds a task's view with 10,000 published results.

Writes 10,000 synthetic results across all tasks into a temporary LocalStore (one compacted parquet file per
task, as the publisher leaves them, plus published thresholds), then measures:
- first load: reading and rating every result and precomputing the per-task frames (`LeaderboardData.refresh`);
- a view: filter, sort, table and plot for one task, each rendered by its Gradio component as for a browser;
- the overview: every result on one plot per hardware class, with the medians' text.

Usage: `python bench/space_load.py [--results 10000] [--rounds 5]`; the last lines are
`overview_median_ms: X`, `view_median_ms: Y` and `first_load_s: Z`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gradio as gr

from leaderboard_data.configs import load_task_configs
from leaderboard_data.results import ResultsPublisher, results_to_table, table_to_parquet
from leaderboard_data.stores import AddFile, Stores, open_stores
from space import columns as C
from space import data, overview
from space.views import Views
from tests.helpers_results import make_results


def populate(stores: Stores, count: int) -> None:
    """`count` results over every task, one compacted parquet file per task, then the published thresholds."""
    configs = load_task_configs()
    results = make_results(count, seed=2025, tasks=tuple(sorted(configs)))
    by_task: dict[str, list] = {}
    for result in results:
        by_task.setdefault(result.task, []).append(result)
    operations = []
    for task, items in by_task.items():
        ids = "\n".join(sorted(r.result_id for r in items))
        name = f"data/{task}/compacted-{hashlib.sha256(ids.encode()).hexdigest()[:16]}.parquet"
        operations.append(AddFile(name, table_to_parquet(results_to_table(items))))
    stores.results.commit(operations, parent_revision=stores.results.revision(), message="bench results")
    ResultsPublisher(stores.requests, stores.results, configs).refresh_metadata()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stores = open_stores(f"local:{tmp}")
        started = time.perf_counter()
        populate(stores, args.results)
        print(f"wrote {args.results} results in {time.perf_counter() - started:.1f} s")

        configs = load_task_configs()
        started = time.perf_counter()
        views = Views(data.LeaderboardData(stores, configs))
        views.source.refresh()
        first_load_s = time.perf_counter() - started

        table_component = gr.Dataframe(
            headers=C.labels(C.LEADERBOARD_COLUMNS), datatype=C.datatypes(C.LEADERBOARD_COLUMNS), render=False
        )
        plot_component = gr.Plot(render=False)
        sorts = [C.ENERGY.label, C.PARAMETERS.label, C.DATE.label, C.RANK.label]
        timings = []
        for round_index in range(args.rounds):
            for task in sorted(configs):
                started = time.perf_counter()
                views.source.refresh()  # the store has not moved: a revision check only
                query = "org1" if round_index % 2 else ""
                table, figure, _, _ = views.leaderboard(task, query, [], [], sorts[round_index % len(sorts)], False)
                table_component.postprocess(table)
                plot_component.postprocess(figure)
                timings.append((time.perf_counter() - started) * 1000)
        overview_timings = []
        for hardware_class in overview.hardware_classes(views.source.snapshot()):
            started = time.perf_counter()
            figure, _text = views.overview(hardware_class)
            plot_component.postprocess(figure)
            overview_timings.append((time.perf_counter() - started) * 1000)
        rows = len(views.source.snapshot().frame)
        print(f"views built: {len(timings)} over {len(configs)} tasks, {rows} results loaded")
        print(f"overview_median_ms: {statistics.median(overview_timings):.1f} over {len(overview_timings)} classes")
        print(f"view_p90_ms: {statistics.quantiles(timings, n=10)[-1]:.1f}")
        print(f"view_median_ms: {statistics.median(timings):.1f}")
        print(f"first_load_s: {first_load_s:.2f}")


if __name__ == "__main__":
    main()
