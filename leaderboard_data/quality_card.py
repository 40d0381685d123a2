"""The dataset card's quality section: each task's metric, floor and gate, and which tasks hold demo data."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from leaderboard_data.configs import TaskConfig
from leaderboard_data.records import LOCAL_DATASET

_INTRO = (
    "## Quality\n\n"
    "Each result carries a quality figure measured in the same run as its energy: the outputs of the benchmark's "
    "own queries, on the same samples, are kept and scored after the measured windows (`quality_*` columns), "
    "with a bootstrap interval over the samples. A result below its task's quality floor (the trivial baseline on "
    "the same samples plus a margin) is flagged `below quality floor` everywhere it is shown; under the `unrank` "
    "gate it also gets no stars and no rank. Within a cohort, a result is on the energy-quality frontier when no "
    "other result uses as little or less energy at equal or better quality; results below the floor never are. "
    'The `frontier` config (`load_dataset(repo, "frontier")`) gives `on_frontier` and `frontier_note` for every '
    "result, recomputed at each publish."
)


def _task_line(config: TaskConfig) -> str:
    quality = config.quality
    if quality is None or quality.metric == "none":
        reason = quality.reason if quality is not None else "no metric configured"
        return f"| {config.title} | none yet | {reason} | | |"
    floor = quality.floor.why if quality.floor is not None else ""
    columns = ", ".join(f"`{column}`" for column in quality.columns.values())
    metric = f"{quality.metric} ({quality.direction} is better; reads {columns})"
    return f"| {config.title} | {metric} | {floor} | `{quality.gate}` | {quality.gate_why} |"


def demo_tasks(frame_or_counts: pd.DataFrame | Mapping[str, int]) -> list[str]:
    """Tasks with a result scored on a local copy of the data (the embedded default's generated demo data)."""
    if not isinstance(frame_or_counts, pd.DataFrame) or "quality_dataset" not in frame_or_counts.columns:
        return []
    local = frame_or_counts[frame_or_counts["quality_dataset"] == LOCAL_DATASET]
    return sorted(set(local["task"].astype(str)))


def quality_section(task_configs: Mapping[str, TaskConfig], frame_or_counts: pd.DataFrame | Mapping[str, int]) -> str:
    """Markdown: the intro, a table of every task's metric, floor and gate with why, and the demo-data note."""
    lines = [
        _INTRO,
        "",
        "| task | metric | floor | gate | why this gate |",
        "|---|---|---|---|---|",
        *(_task_line(task_configs[task]) for task in sorted(task_configs)),
    ]
    demo = demo_tasks(frame_or_counts)
    if demo:
        lines += [
            "",
            f"**Demo data** ({', '.join(demo)}): some results were scored on a local copy of the inputs, which on the "
            "embedded default is generated demo data whose labels follow from how it was generated. Random-"
            "initialised demo models score at chance there; those figures say nothing about any real model.",
        ]
    return "\n".join(lines)
