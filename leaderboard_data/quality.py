"""Energy beside quality: the quality floor's flag and the energy-quality Pareto frontier per cohort.

Read on a rated results frame (`ratings.apply_ratings`), so the CLI, the Space, the badges and the published
frontier table agree. A result is on the frontier when no other result of its cohort spends less or equal energy
per query at equal or better quality (one of the two strictly). Only each entry's current result with a quality
figure above its floor is compared: a model below the floor is flagged, never on the frontier, so doing
nothing cheaply does not win. An unstable result (its energy's CV over repetitions above the config's) is
compared with its mean, as it is shown; its rating note says it is unstable.

Example:
    >>> frame = add_quality_columns(apply_ratings(results, thresholds))
    >>> frame[["model_id", "quality_value", "on_frontier", "frontier_note"]]
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from leaderboard_data.configs import TaskConfig
from leaderboard_data.ratings import SUPERSEDED_NOTE

BELOW_FLOOR = "below quality floor"
ON_FRONTIER = "on the frontier"
SHORT_ANSWERS = "short answers"
LOWER_IS_BETTER = frozenset({"wer"})
"""Metrics where a lower figure is better (the configs' `quality.direction: lower`)."""


@dataclass(frozen=True)
class Point:
    """One compared result: its row position, model, energy per query and quality (higher is better here)."""

    position: int
    model_id: str
    energy: float
    quality: float


def dominated_by(point: Point, others: Sequence[Point]) -> Point | None:
    """The least-energy result that dominates `point` (as little or less energy, as good or better quality, one of
    them strictly), or None when `point` is on the frontier."""
    dominating = [
        other
        for other in others
        if other.position != point.position
        and other.energy <= point.energy
        and other.quality >= point.quality
        and (other.energy < point.energy or other.quality > point.quality)
    ]
    return min(dominating, key=lambda other: (other.energy, -other.quality, other.model_id), default=None)


def frontier_note(point: Point, dominator: Point | None) -> str:
    if dominator is None:
        return ON_FRONTIER
    ratio = point.energy / dominator.energy
    return f"{dominator.model_id} uses {ratio:.1f}x less energy at equal or better quality"


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def short_answer_notes(frame: pd.DataFrame, task_configs: Mapping[str, TaskConfig]) -> list[str]:
    """Per row, the output guard's flag for generative tasks with `quality.output_length`: answers shorter than the
    expected range, or far shorter than the cohort's median, so no one wins on energy by saying nothing."""
    tokens = [
        float(t) / float(q) if not _missing(t) and not _missing(q) and float(q) > 0 else math.nan
        for t, q in zip(
            frame.get("output_tokens", [None] * len(frame)), frame.get("queries", [None] * len(frame)), strict=True
        )
    ]
    cohorts = list(frame["cohort"]) if "cohort" in frame.columns else list(frame["task"])
    medians = pd.Series(tokens).groupby(cohorts).median().to_dict()
    notes = []
    for task, cohort, per_query in zip(frame["task"], cohorts, tokens, strict=True):
        config = task_configs.get(str(task))
        guard = config.quality.output_length if config is not None and config.quality is not None else None
        if guard is None or math.isnan(per_query):
            notes.append("")
            continue
        low, high = guard.expected_tokens
        median = medians.get(cohort, math.nan)
        if per_query < low:
            notes.append(f"{SHORT_ANSWERS}: {per_query:.3g} tokens per answer, expected {low} to {high}")
        elif median == median and per_query < guard.min_share_of_cohort_median * median:
            notes.append(f"{SHORT_ANSWERS}: {per_query:.3g} tokens per answer, the cohort's median is {median:.3g}")
        else:
            notes.append("")
    return notes


def add_quality_columns(rated: pd.DataFrame, task_configs: Mapping[str, TaskConfig] | None = None) -> pd.DataFrame:
    """A copy of a rated frame with `below_quality_floor` (bool), `on_frontier` (boolean, NA where not compared),
    `frontier_note` (why, or who does better with less energy) and `output_guard` (short answerers flagged)."""
    out = rated.copy()
    out["output_guard"] = short_answer_notes(out, task_configs or {}) if len(out) else []
    count = len(out)
    passed = list(out["quality_floor_passed"]) if "quality_floor_passed" in out.columns else [None] * count
    out["below_quality_floor"] = [not _missing(value) and not bool(value) for value in passed]
    on_frontier: list[bool | None] = [None] * count
    notes = [""] * count
    compared: dict[str, list[Point]] = {}
    frame = out.reset_index(drop=True)
    for index, row in enumerate(frame.to_dict("records")):
        value = row.get("quality_value")
        if row["below_quality_floor"]:
            on_frontier[index], notes[index] = False, BELOW_FLOOR
        elif _missing(value):
            note = row.get("quality_note")
            notes[index] = "no quality figure" + (f": {note}" if not _missing(note) and note else "")
        elif row.get("rating_note") == SUPERSEDED_NOTE:
            notes[index] = "not compared (history)"
        else:
            sign = -1.0 if row.get("quality_metric") in LOWER_IS_BETTER else 1.0
            point = Point(index, str(row["model_id"]), float(row["scored_energy_wh_per_1k"]), sign * float(value))
            compared.setdefault(str(row.get("cohort", row["task"])), []).append(point)
    for points in compared.values():
        for point in points:
            dominator = dominated_by(point, points)
            on_frontier[point.position] = dominator is None
            notes[point.position] = frontier_note(point, dominator)
    out["on_frontier"] = pd.array(on_frontier, dtype="boolean")
    out["frontier_note"] = notes
    return out


FRONTIER_CONFIG = "frontier"
FRONTIER_PATH = "frontier/frontier.parquet"
"""Rewritten with the thresholds at every publish: `load_dataset(repo, "frontier")` gives `on_frontier` per result."""
FRONTIER_TABLE_COLUMNS = {
    "result_id": pa.string(),
    "model_id": pa.string(),
    "task": pa.string(),
    "cohort": pa.string(),
    "scored_energy_wh_per_1k": pa.float64(),
    "quality_metric": pa.string(),
    "quality_value": pa.float64(),
    "below_quality_floor": pa.bool_(),
    "on_frontier": pa.bool_(),
    "frontier_note": pa.string(),
    "output_guard": pa.string(),
}


def frontier_parquet(rated: pd.DataFrame) -> bytes:
    """The frontier verdict of every published result (a frame from `add_quality_columns`), as parquet."""
    rows = [
        {name: None if _missing(row.get(name)) else row.get(name) for name in FRONTIER_TABLE_COLUMNS}
        for row in rated.sort_values("result_id").to_dict("records")
    ]
    table = pa.Table.from_pylist(rows, schema=pa.schema(list(FRONTIER_TABLE_COLUMNS.items())))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()
