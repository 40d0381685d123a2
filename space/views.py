"""The handlers behind the page: each turns widget values into what the widgets show, from one LeaderboardData."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from leaderboard_data.verifications import load_verifications_frame
from space import about, badges, carbon, compare, data, overview, plots, verification_view
from space import columns as C
from space.escape import escape_markdown, model_link
from space.label import label_info, label_png, render_label
from space.per_token import per_token_text
from space.quality_view import energy_vs_quality, quality_description

_LABEL_DIR = Path(tempfile.gettempdir()) / "energy-score-labels"


class Views:
    """The handlers behind the page, bound to one LeaderboardData."""

    def __init__(self, source: data.LeaderboardData) -> None:
        self.source = source
        self.configs = source.task_configs

    def title(self, task: str) -> str:
        return self.configs[task].title if task in self.configs else task

    def leaderboard(
        self, task: str, query: str, sizes: list[str], hardware: list[str], sort_by: str, descending: bool
    ) -> tuple[pd.DataFrame, Any, str, list[str]]:
        """The task's table, its energy-vs-size plot, a summary line and the model ids in table order."""
        snap = self.source.snapshot()
        view = data.ViewFilter(query or "", tuple(sizes or ()), tuple(hardware or ()), sort_by, bool(descending))
        rows = data.filter_task_frame(snap.task_frame(task), view)
        rows, imported_note = verification_view.imported_apart(snap.frame, rows)
        rows, exploratory_note = verification_view.exploratory_apart(snap.frame, rows)
        figure = plots.energy_vs_parameters(rows, f"{self.title(task)}: energy against model size")
        summary = data.task_summary(snap, task, len(rows), self.configs.get(task)) + imported_note + exploratory_note
        return data.task_table(rows), figure, summary, rows["model_id"].astype(str).tolist()

    def filters(self, task: str) -> tuple[Any, Any, str]:
        """Filter choices for a task (selection cleared) and the task's description."""
        sizes, hardware = data.filter_choices(self.source.snapshot(), task)
        config = self.configs[task]
        description = f"**{escape_markdown(config.title)}** (config {config.config_version}): " + escape_markdown(
            config.description
        )
        description += quality_description(config, demo_data=self.uses_demo_data(task))
        return gr.update(choices=sizes, value=[]), gr.update(choices=hardware, value=[]), description

    def uses_demo_data(self, task: str) -> bool:
        """The task's inputs are the embedded default's generated copy, not the configured dataset."""
        config = self.configs.get(task)
        return config is not None and self.source.stores.dataset_path(config) != config.dataset.path

    def frontier(self, task: str) -> Any:
        """The task's energy per query (log) against quality, with the Pareto frontier drawn."""
        rows = data.filter_task_frame(self.source.snapshot().task_frame(task), data.ViewFilter("", (), (), "", False))
        title = f"{self.title(task)}: energy against quality"
        if self.uses_demo_data(task):
            title += " (demo data)"
        return energy_vs_quality(rows, title, self.configs.get(task))

    def model(self, model_id: str | None) -> tuple[pd.DataFrame, Any, str]:
        """A model's figures on every task and the choice of one of its results."""
        snap = self.source.snapshot()
        rows = data.model_rows(snap, model_id or "")
        choices = data.result_choices(rows, self.configs)
        heading = f"### {model_link(model_id)}" if model_id else "Pick a model."
        if model_id and rows.empty:
            heading += "\n\nNo results for this model yet."
        verifications = load_verifications_frame(self.source.stores.results)
        heading += verification_view.model_notes(snap.frame, verifications, rows["result_id"], self.configs)
        value = choices[0][1] if choices else None
        return data.model_table(rows, self.configs), gr.update(choices=choices, value=value), heading

    def result(self, result_id: str | None) -> tuple[Any, Any, Any, str | None, str]:
        """Phases, position in the task, energy label (image and file) and a one-line description."""
        snap = self.source.snapshot()
        row = data.find_result(snap, result_id) if result_id else None
        if row is None:
            empty = plots.phases_bar(pd.DataFrame(), "Energy per phase")
            return (
                empty,
                plots.position_in_task(pd.DataFrame({"scored_energy_wh_per_1k": []}), "", 1.0, ""),
                None,
                None,
                "",
            )
        task_title = self.title(str(row["task"]))
        phases = plots.phases_bar(data.phases_frame(row["phases_json"]), f"Energy per phase · {task_title}")
        frame = snap.task_frame(str(row["task"]))
        peers = frame[frame["hardware_class"] == row["hardware_class"]]
        share = data.percentile_in_task(snap, row)
        where = f" · uses less energy than {share:.0f}% of the others" if share == share else ""
        position = plots.position_in_task(
            peers,
            str(row["model_id"]),
            float(row["scored_energy_wh_per_1k"]),
            f"Among {len(peers)} results on {row['hardware_class']}<br><sup>{where.lstrip(' ·')}</sup>",
        )
        info = label_info(row, task_title)
        path = _LABEL_DIR / f"energy-label-{row['result_id']}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(label_png(info))
        caption = (
            f"{row[C.ENERGY.label]:g} Wh per 1,000 queries ({row[C.SCORED_ON.label]}), 95% interval "
            f"{row[C.ENERGY_CI.label]}, on {escape_markdown(row[C.HARDWARE.label])}, config "
            f"{escape_markdown(row['config_version'])}, {row[C.METERS.label]}. Quality: "
            f"{escape_markdown(row[C.QUALITY.label])}; {escape_markdown(row[C.FRONTIER.label] or 'not compared')}."
        )
        tokens = per_token_text(row)
        caption += f"\n\n{tokens}" if tokens else ""
        return phases, position, render_label(info), str(path), caption

    def carbon(self, result_id: str | None, region_key: str) -> str:
        """Grams of CO2e per 1,000 queries of one result on one grid, with equivalents and sources."""
        snap = self.source.snapshot()
        row = data.find_result(snap, result_id) if result_id else None
        region = carbon.grid_regions().get(region_key or carbon.WORLD, carbon.grid_regions()[carbon.WORLD])
        if row is None:
            return "Pick a model and one of its results to see its footprint."
        return carbon.carbon_markdown(row, region)

    def queue(self) -> pd.DataFrame:
        return data.queue_table(self.source.requests(), self.configs, datetime.now(UTC))

    def about(self) -> str:
        snap = self.source.snapshot()
        return about.stars_markdown(snap.thresholds, snap.thresholds_published)

    def badge(self, result_id: str | None, request: gr.Request) -> tuple[str, str]:
        """The badge of the shown result's (model, task) and the Markdown to paste into the model card."""
        row = data.find_result(self.source.snapshot(), result_id) if result_id else None
        if row is None:
            return "", ""
        model_id, task = str(row["model_id"]), str(row["task"])
        host = request.headers.get("host") if request is not None else None
        snippet = badges.markdown_snippet(badges.public_base_url(host), model_id, task)
        preview = (
            f"![energy badge]({badges.badge_url_path(model_id, task)})\n\n"
            "<span class='numbers-note'>The badge shows the model's latest rated result for the task (else its "
            "latest result, marked not rated), and follows the data as new results come in.</span>"
        )
        return preview, snippet

    def overview(self, hardware_class: str | None) -> tuple[Any, str]:
        """Every task on one log axis for one hardware class, and each task's median in relatable terms."""
        snap = self.source.snapshot()
        classes = overview.hardware_classes(snap)
        chosen = hardware_class if hardware_class in classes else (classes[0] if classes else "")
        items = overview.summaries(snap, chosen, self.configs)
        order = [(s.task, s.title, s.median_wh_per_1k) for s in reversed(items)]
        title = f"Energy per 1,000 queries, every task, on {chosen or 'no hardware yet'} (log scale)"
        figure = plots.tasks_overview(overview.points(snap, chosen), order, title)
        return figure, overview.equivalents_markdown(items, chosen or "any hardware")

    def overview_choices(self) -> Any:
        """Hardware classes for the Overview tab, the one with the most results selected."""
        classes = overview.hardware_classes(self.source.snapshot())
        return gr.update(choices=classes, value=classes[0] if classes else None)

    def compare_choices(self, task: str) -> Any:
        """The task's results to pick from, the two using least energy picked."""
        choices = compare.choices(self.source.snapshot(), task)
        return gr.update(choices=choices, value=[value for _, value in choices[: compare.MIN_PICK]])

    def compare(self, result_ids: list[str] | None) -> tuple[str, pd.DataFrame, Any, Any]:
        """Verdicts on each pair, the figures side by side, phases and intervals of 2 to 4 picked results."""
        rows = compare.picked_rows(self.source.snapshot(), list(result_ids or []))
        names = compare.names(rows)
        phases = {name: compare.scored_phases(row) for name, row in zip(names, rows.to_dict("records"), strict=True)}
        return (
            compare.verdict_markdown(rows, self.configs),
            compare.table(rows),
            plots.compare_phases(phases, "Energy per phase on the scored device (95% intervals)"),
            plots.compare_intervals(rows, names, "Scored energy with 95% intervals"),
        )
