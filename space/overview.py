"""The Overview tab: every task's energy on one log axis, per hardware class, with relatable equivalents.

Energy per query spans orders of magnitude across tasks (Luccioni, Jernite & Strubell, "Power Hungry
Processing", FAccT 2024, found image generation the costliest by far). One point per model (its latest result
on the hardware class), the median of each task marked, and beside it what 1,000 of the task's queries at the
median cost in smartphone charges, with the factor's source. Tasks without results on the hardware class are
named as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from leaderboard_data.configs import TaskConfig
from space import carbon
from space.data import Snapshot
from space.escape import escape_html, escape_markdown

# What 1,000 queries of each task are, in words a reader can picture.
TASK_NOUNS = {
    "automatic_speech_recognition": "audio clips transcribed",
    "extractive_qa": "questions answered from a text",
    "image_captioning": "images captioned",
    "image_classification": "images classified",
    "image_generation": "images generated",
    "object_detection": "images searched for objects",
    "sentence_similarity": "sentence pairs compared",
    "summarization": "texts summarised",
    "text_classification": "texts classified",
    "text_generation": "prompts answered",
    "text_generation_reasoning": "prompts answered with reasoning",
}
PHONE = carbon.EQUIVALENTS[0]


@dataclass(frozen=True)
class TaskSummary:
    """One task on one hardware class: its models' points and their median, or no results."""

    task: str
    title: str
    models: int
    median_wh_per_1k: float | None
    estimated: int


def hardware_classes(snapshot: Snapshot) -> list[str]:
    """Hardware classes with results, the one with the most results first."""
    if snapshot.frame.empty:
        return []
    counts = snapshot.frame["hardware_class"].astype(str).value_counts()
    return sorted(counts.index, key=lambda h: (-int(counts[h]), h))


def points(snapshot: Snapshot, hardware_class: str) -> pd.DataFrame:
    """One row per (task, model) on the hardware class: the model's latest result there."""
    frame = snapshot.frame
    if frame.empty:
        return pd.DataFrame(columns=["task", "model_id", "scored_energy_wh_per_1k", "scored_energy_measured"])
    rows = frame[frame["hardware_class"].astype(str) == hardware_class].sort_values("finished_at", kind="stable")
    rows = rows.drop_duplicates(["task", "model_id"], keep="last")
    return rows[["task", "model_id", "scored_energy_wh_per_1k", "scored_energy_measured"]].reset_index(drop=True)


def summaries(snapshot: Snapshot, hardware_class: str, task_configs: dict[str, TaskConfig]) -> list[TaskSummary]:
    """Every configured task, those with results by ascending median, then those without."""
    found = points(snapshot, hardware_class)
    out = []
    for task, config in task_configs.items():
        rows = found[found["task"] == task]
        energies = rows["scored_energy_wh_per_1k"].astype(float)
        estimated = int((~rows["scored_energy_measured"].fillna(False).astype(bool)).sum())
        median = float(energies.median()) if len(rows) else None
        out.append(TaskSummary(task, config.title, len(rows), median, estimated))
    return sorted(out, key=lambda s: (s.median_wh_per_1k is None, s.median_wh_per_1k or 0.0, s.title))


def equivalents_markdown(items: list[TaskSummary], hardware_class: str) -> str:
    """Per task: the median, and what 1,000 queries at the median equal in smartphone charges."""
    lines = [
        f"### Median per task on {escape_markdown(hardware_class)}",
        "",
        "| task | models | median Wh per 1,000 | equals about |",
        "|---|---|---|---|",
    ]
    missing = []
    for item in items:
        if item.median_wh_per_1k is None:
            missing.append(escape_markdown(item.title))
            continue
        noun = TASK_NOUNS.get(item.task, "queries")
        charges = PHONE.count(item.median_wh_per_1k, 0.0)
        estimated = f" ({item.estimated} estimated)" if item.estimated else ""
        lines.append(
            f"| {escape_markdown(item.title)} | {item.models}{estimated} | {item.median_wh_per_1k:.3g} | "
            f"1,000 {noun} ≈ {charges:.2g} {PHONE.name} |"
        )
    if missing:
        lines += ["", f"**No results on this hardware yet:** {', '.join(missing)}."]
    lines += [
        "",
        f"<span class='numbers-note'>Smartphone charge factor and source: {escape_html(PHONE.source)}. "
        "Scored energy (the GPU's when there is one, else the CPU's); "
        "'estimated' counts models whose figure is a model of the hardware, not a counter reading.</span>",
    ]
    return "\n".join(lines)
