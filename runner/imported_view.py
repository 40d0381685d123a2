"""The "imported" view of `energy-score results`: results from other tools whose workload differs from the task
config's, listed apart from the ranked ones with the differences named."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd


def is_imported(row: pd.Series) -> bool:
    return str(row.get("source") or "native") != "native"


def in_own_cohort(frame: pd.DataFrame) -> pd.Series:
    """Imported rows whose protocol differs from the task config's: never ranked with native results."""
    if "cohort_protocol" not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame["cohort_protocol"].fillna("native").astype(str).str.startswith("imported:")


def protocol_differences(row: pd.Series) -> list[str]:
    """The differences an imported result's provenance names (empty for native results)."""
    try:
        provenance: dict[str, Any] = json.loads(str(row.get("record_json") or "{}")).get("provenance") or {}
    except json.JSONDecodeError:
        return []
    return [str(d) for d in provenance.get("protocol_differences") or []]


def with_differences(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with `protocol_differences`: how each imported result's workload differs ('' when it does not)."""
    out = frame.copy()
    out["protocol_differences"] = [
        "; ".join(protocol_differences(row)) if is_imported(row) else "" for _, row in frame.iterrows()
    ]
    return out


def energy_text(row: pd.Series) -> str:
    """An imported figure: one run, so no interval."""
    mark = "measured" if row["scored_energy_measured"] else "estimated"
    return f"{row['scored_energy_wh_per_1k']:.4g} ({row['scored_device']}, {mark}, one run, no interval)"


def format_imported_section(frame: pd.DataFrame) -> str:
    """One line per imported result in its own cohort, naming how its workload differs."""
    lines = ["== imported (own cohort: not ranked with native results) =="]
    for _, row in frame.iterrows():
        differences = "; ".join(protocol_differences(row)) or "protocol differs"
        lines.append(
            f"{row['task']}  {row['model_id']}  {energy_text(row)}  {row['hardware_class']}  {row['source']}  "
            f"differs: {differences}"
        )
    return "\n".join(lines)
