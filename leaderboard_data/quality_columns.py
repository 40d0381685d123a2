"""The quality fields of a result as flat dataset columns (`results.RESULT_SCHEMA`), readable by load_dataset."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from leaderboard_data.records import Result

QUALITY_FIELDS: list[tuple[str, pa.DataType]] = [
    ("quality_metric", pa.string()),
    ("quality_value", pa.float64()),
    ("quality_ci_low", pa.float64()),
    ("quality_ci_high", pa.float64()),
    ("quality_floor", pa.float64()),
    ("quality_floor_passed", pa.bool_()),
    ("quality_unranked", pa.bool_()),
    ("quality_note", pa.string()),
    ("quality_dataset", pa.string()),
]
QUALITY_DEFAULTS: dict[str, object] = {
    "quality_metric": None,
    "quality_value": None,
    "quality_ci_low": None,
    "quality_ci_high": None,
    "quality_floor": None,
    "quality_floor_passed": None,
    "quality_unranked": False,
    "quality_note": "published before quality was scored",
    "quality_dataset": None,
}
"""What a result published before quality was scored stands for."""


def quality_columns(result: Result) -> dict[str, Any]:
    """The result's quality as flat columns; a result without one says it was not scored."""
    quality = result.quality
    if quality is None:
        return {**QUALITY_DEFAULTS, "quality_note": "not scored"}
    return {
        "quality_metric": quality.metric,
        "quality_value": quality.value,
        "quality_ci_low": quality.ci_low,
        "quality_ci_high": quality.ci_high,
        "quality_floor": quality.floor,
        "quality_floor_passed": quality.floor_passed,
        "quality_unranked": result.quality_unranked,
        "quality_note": quality.note,
        "quality_dataset": quality.dataset,
    }
