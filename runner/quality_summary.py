"""A few lines on quality per task, for the demo's output and the frontier record in bench/results/."""

from __future__ import annotations

import pandas as pd

DEMO_QUALITY_NOTE = (
    "Quality on demo data: the inputs and labels are generated, and the random-initialised demo models score at "
    "chance on them (below their task's quality floor, flagged); only the shipped all-MiniLM-L6-v2 is a trained "
    "model, and on sentence similarity it separates clearly from the random encoder."
)


def frontier_summary(frame: pd.DataFrame) -> str:
    """Per task: the models on the energy-quality frontier, those below the quality floor, those without a figure."""
    if frame.empty:
        return "(no results yet)"
    lines = []
    for task, group in frame.groupby("task", sort=True):
        records = group.to_dict("records")
        on = sorted(str(r["model_id"]) for r in records if r.get("on_frontier") is True)
        below = sorted(str(r["model_id"]) for r in records if r.get("below_quality_floor") is True)
        values = ", ".join(
            f"{r['model_id']} {r['quality_metric']}={r['quality_value']:.3g}"
            for r in records
            if r.get("quality_value") is not None and r.get("quality_value") == r.get("quality_value")
        )
        if not values:
            note = next((str(r.get("quality_note")) for r in records if r.get("quality_note")), "no quality figure")
            lines.append(f"{task}: no quality figure ({note})")
            continue
        lines.append(
            f"{task}: on the frontier: {', '.join(on) or 'none'}; below quality floor: {', '.join(below) or 'none'}"
            f" [{values}]"
        )
    return "\n".join(lines)
