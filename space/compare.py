"""The Compare tab: 2 to 4 results of one task side by side, and whether their differences are real.

Two results whose 95% intervals overlap are called "not distinguishable at 95 %": overlap of two intervals is
a conservative test (non-overlap implies a significant difference; overlap does not prove equality), so the
words claim no more than the data give. Results from different hardware classes or config versions are
compared with a warning, since their workloads or meters differ.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pandas as pd

from leaderboard_data.configs import TaskConfig
from space import columns as C
from space import data
from space.escape import escape_markdown

MIN_PICK, MAX_PICK = 2, 4
COMPARE_COLUMNS = (C.MODEL, C.RATING, C.ENERGY, C.ENERGY_CI, C.SCORED_ON, C.HARDWARE, C.PRECISION, C.CONFIG, C.DATE)


def choices(snapshot: data.Snapshot, task: str) -> list[tuple[str, str]]:
    """(label, result_id) for every result of the task, least energy first."""
    frame = snapshot.task_frame(task)
    records = frame[["model_id", "hardware_class", "config_version", "finished_at", "result_id"]].to_dict("records")
    return [
        (
            f"{r['model_id']} · {r['hardware_class']} · config {r['config_version']} · "
            f"{data.date_text(r['finished_at'])}",
            str(r["result_id"]),
        )
        for r in records
    ]


def picked_rows(snapshot: data.Snapshot, result_ids: list[str]) -> pd.DataFrame:
    """The picked results' rows (display and raw columns), in the order picked; unknown ids are skipped."""
    rows = [row for rid in result_ids[:MAX_PICK] if (row := data.find_result(snapshot, rid)) is not None]
    return pd.DataFrame(rows)


def names(rows: pd.DataFrame) -> list[str]:
    """A short name per picked result: the model id, with the hardware class where one model appears twice."""
    ids = rows["model_id"].astype(str).tolist() if len(rows) else []
    return [f"{m} ({h})" if ids.count(m) > 1 else m for m, h in zip(ids, rows.get("hardware_class", []), strict=False)]


def table(rows: pd.DataFrame) -> pd.DataFrame:
    """The compare table's displayed columns."""
    if rows.empty:
        return pd.DataFrame(columns=C.labels(COMPARE_COLUMNS))
    return rows[C.labels(COMPARE_COLUMNS)].reset_index(drop=True)


def scored_phases(row: dict[str, Any]) -> pd.DataFrame:
    """One result's per-phase figures on its scored device."""
    phases = data.phases_frame(row.get("phases_json"))
    return phases[phases["device"] == str(row.get("scored_device"))].reset_index(drop=True)


def overlaps(low_a: float, high_a: float, low_b: float, high_b: float) -> bool:
    """Whether two closed intervals share a point."""
    return low_a <= high_b and low_b <= high_a


def verdict_markdown(rows: pd.DataFrame, task_configs: dict[str, TaskConfig]) -> str:
    """Per pair: overlapping intervals ("not distinguishable at 95 %") or which uses less and by how much."""
    if len(rows) < MIN_PICK:
        return f"Pick {MIN_PICK} to {MAX_PICK} results of the task to compare them."
    labels = names(rows)
    records = rows.to_dict("records")
    lines = ["| pair | 95% intervals (Wh/1k) | verdict |", "|---|---|---|"]
    for (i, a), (j, b) in combinations(enumerate(records), 2):
        name_a, name_b = escape_markdown(labels[i]), escape_markdown(labels[j])
        spans = f"{a[C.ENERGY_CI.label]} vs {b[C.ENERGY_CI.label]}"
        bounds = [a.get("scored_energy_ci95_low"), a.get("scored_energy_ci95_high")]
        bounds += [b.get("scored_energy_ci95_low"), b.get("scored_energy_ci95_high")]
        if not all(data.present(v) for v in bounds):
            verdict = "no interval for one of them: cannot tell"
        elif overlaps(*(float(v) for v in bounds)):
            verdict = "intervals overlap: **not distinguishable at 95 %**"
        else:
            low, high = (a, b) if float(a["scored_energy_wh_per_1k"]) < float(b["scored_energy_wh_per_1k"]) else (b, a)
            ratio = float(high["scored_energy_wh_per_1k"]) / float(low["scored_energy_wh_per_1k"])
            winner = name_a if low is a else name_b
            verdict = f"distinguishable at 95 %: **{winner}** uses {ratio:.3g}× less energy"
        lines.append(f"| {name_a} vs {name_b} | {spans} | {verdict} |")
    lines += _warnings(rows)
    return "\n".join(lines)


def _warnings(rows: pd.DataFrame) -> list[str]:
    notes = []
    if rows["hardware_class"].nunique() > 1:
        notes.append("different hardware classes: energy depends on the hardware as much as on the model")
    if rows["config_version"].nunique() > 1:
        notes.append("different config versions: the workloads differ")
    if rows["scored_device"].nunique() > 1:
        notes.append("scored on different devices (GPU and CPU)")
    if not notes:
        return []
    return ["", "**Not like for like:** " + "; ".join(notes) + "."]
