"""What the Space says about verifications and imported results, as markdown the views append.

A result shows "verified N×, agreement X %". A verification that disagrees (each mean outside the other's
interval) adds a warning naming both figures; the published figure is never replaced by a re-measurement.
Imported results whose workload differs from the task config are listed apart from the ranked table, with the
differences named; so are exploratory results (measured otherwise than their protocol says), with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from leaderboard_data.configs import TaskConfig
from space.escape import escape_markdown


def _interval(low: Any, high: Any) -> str:
    return f"[{float(low):.4g}, {float(high):.4g}]"


def disagreement_warning(row: Mapping[str, Any]) -> str:
    """One warning line naming the published and remeasured figures of a disagreeing verification."""
    when = pd.Timestamp(row["measured_at"]).strftime("%Y-%m-%d")
    return (
        f"⚠ A re-measurement disagrees: published {float(row['published_wh_per_1k']):.4g} Wh per 1,000 queries "
        f"{_interval(row['published_ci95_low'], row['published_ci95_high'])}, remeasured "
        f"{float(row['remeasured_wh_per_1k']):.4g} {_interval(row['remeasured_ci95_low'], row['remeasured_ci95_high'])}"
        f" (ratio {float(row['ratio']):.3f}) by {escape_markdown(row['verifier_worker_id'])} on "
        f"{escape_markdown(row['hardware_class'])}, {when}. The published figure stands."
    )


def verification_summary(verifications: pd.DataFrame, result_id: str) -> str:
    """'verified N×, agreement X %' for one result (or 'not verified yet'), then a warning per disagreement."""
    rows = verifications[verifications["result_id"] == result_id] if len(verifications) else verifications
    if rows.empty:
        return "not verified yet"
    agreeing = int((rows["verdict"] == "agrees").sum())
    lines = [f"verified {len(rows)}×, agreement {100 * agreeing / len(rows):.0f} %"]
    lines += [disagreement_warning(r) for r in rows.to_dict("records") if r["verdict"] == "disagrees"]
    return "\n\n".join(lines)


def _imported_text(record: Mapping[str, Any]) -> str:
    if str(record.get("source") or "native") == "native":
        return ""
    provenance = json.loads(str(record.get("record_json") or "{}")).get("provenance") or {}
    differences = provenance.get("protocol_differences") or []
    differs = "; ".join(escape_markdown(d) for d in differences) or "none: ranked with native results"
    return f" · {escape_markdown(record['source'])}, one run, no interval · differs from native: {differs}"


def model_notes(
    frame: pd.DataFrame,
    verifications: pd.DataFrame,
    result_ids: Iterable[str],
    task_configs: Mapping[str, TaskConfig],
) -> str:
    """A markdown list, one item per result of a model: task, hardware, verification summary, imported or not."""
    if frame.empty:
        return ""
    by_id = {str(r["result_id"]): r for r in frame.to_dict("records")}
    items = []
    for result_id in result_ids:
        record = by_id.get(str(result_id))
        if record is None:
            continue
        task = str(record["task"])
        title = task_configs[task].title if task in task_configs else task
        summary = verification_summary(verifications, str(result_id)).replace("\n\n", "\n\n  ")
        items.append(
            f"- **{escape_markdown(title)}** on {escape_markdown(record['hardware_class'])}: {summary}"
            f"{_imported_text(record)}"
        )
    return "\n\n" + "\n".join(items) if items else ""


def imported_apart(frame: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The task's rows without imported results of another protocol, and a note listing those apart."""
    if rows.empty or "cohort_protocol" not in frame.columns:
        return rows, ""
    imported = frame["cohort_protocol"].fillna("native").astype(str).str.startswith("imported:")
    apart_ids = set(frame.loc[imported, "result_id"].astype(str))
    apart = rows["result_id"].astype(str).isin(apart_ids)
    if not apart.any():
        return rows, ""
    by_id = {str(r["result_id"]): r for r in frame.to_dict("records")}
    notes = [
        f"{escape_markdown(by_id[i]['model_id'])}: {float(by_id[i]['scored_energy_wh_per_1k']):.4g} Wh per 1,000 "
        f"queries{_imported_text(by_id[i])}"
        for i in rows.loc[apart, "result_id"].astype(str)
    ]
    return rows[~apart], "\n\n**Imported, in their own cohort (not ranked here):** " + " | ".join(notes)


def exploratory_apart(frame: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The task's rows without exploratory results, and a note listing those apart with why they are not rated."""
    if rows.empty or "exploratory_reason" not in frame.columns:
        return rows, ""
    reasons = {
        str(r["result_id"]): r
        for r in frame.to_dict("records")
        if isinstance(r.get("exploratory_reason"), str) and r["exploratory_reason"]
    }
    apart = rows["result_id"].astype(str).isin(set(reasons))
    if not apart.any():
        return rows, ""
    notes = [
        f"{escape_markdown(reasons[i]['model_id'])}: {float(reasons[i]['scored_energy_wh_per_1k']):.4g} Wh per 1,000 "
        f"queries ({escape_markdown(str(reasons[i]['exploratory_reason']))})"
        for i in rows.loc[apart, "result_id"].astype(str)
    ]
    return rows[~apart], "\n\n**Exploratory, not rated (measured otherwise than its protocol):** " + " | ".join(notes)
