"""Star ratings: 1 star (most energy) to 5 stars (least) within a cohort of comparable results.

A cohort is (task, hardware_class), plus size_class when the task config sets `rate_by_size_class`; only results
measured under the task's current `config_version` are rated together. The published thresholds are four
ascending cut points in Wh per 1,000 queries, so any client can reproduce a model's stars from them alone:
an energy <= cut 1 earns 5 stars, <= cut 2 earns 4, <= cut 3 earns 3, <= cut 4 earns 2, anything above 1.

Two methods:
- "quintile" (default): rank-based quintiles, so each star band holds about a fifth of the cohort and a single
  outlier cannot squeeze every other model into one band.
- "equal_width": AI Energy Score's method, the cohort's min..max range cut into five equal bins; kept for
  comparison.

Example:
    >>> thresholds = compute_thresholds(frame, task_configs)
    >>> rated = apply_ratings(frame, thresholds)
    >>> rated[["model_id", "stars", "rank", "rating_note"]]
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leaderboard_data.configs import TaskConfig
from leaderboard_data.errors import RecordValidationError
from leaderboard_data.records import utc_now

RatingMethod = Literal["quintile", "equal_width"]
STAR_LEVELS = 5
MIN_COHORT_SIZE = 5

# Columns compute_thresholds and apply_ratings read from a results frame (see results.RESULT_COLUMNS).
RATING_INPUT_COLUMNS = [
    "task",
    "config_version",
    "hardware_class",
    "size_class",
    "model_id",
    "revision",
    "precision",
    "scored_energy_wh_per_1k",
    "finished_at",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskRatingScope(_Frozen):
    """Which results of a task are rated: one config version, and whether cohorts split by size class."""

    config_version: str
    rate_by_size_class: bool


class CohortThresholds(_Frozen):
    """The four cut points of one cohort, or why it is not rated."""

    task: str
    config_version: str
    hardware_class: str
    size_class: str | None = None
    n: int = Field(ge=0, description="distinct (model, revision, precision) entries in the cohort")
    cuts_wh_per_1k: list[float] | None = Field(
        default=None, description="4 ascending cut points in Wh per 1,000 queries; None when not rated"
    )
    note: str = Field(default="", description="why the cohort is not rated, if it is not")

    def stars_for(self, energy_wh_per_1k: float) -> int | None:
        """Stars for an energy in this cohort, or None when the cohort is not rated."""
        if self.cuts_wh_per_1k is None:
            return None
        return stars_from_cuts(energy_wh_per_1k, self.cuts_wh_per_1k)


class RatingThresholds(_Frozen):
    """Everything needed to rate a result: per task the rated scope, per cohort key the cut points."""

    method: RatingMethod
    min_cohort_size: int = Field(ge=1)
    computed_at: datetime
    tasks: dict[str, TaskRatingScope]
    cohorts: dict[str, CohortThresholds]


def cohort_key(task: str, hardware_class: str, size_class: str | None = None) -> str:
    """The cohort's name, e.g. 'text_generation/nvidia-h100/A' or 'image_classification/cpu-x86_64'."""
    return f"{task}/{hardware_class}" if size_class is None else f"{task}/{hardware_class}/{size_class}"


def stars_from_cuts(energy_wh_per_1k: float, cuts: Sequence[float]) -> int:
    """5 stars at or below the first cut, one star fewer past each further cut."""
    return STAR_LEVELS - sum(1 for cut in cuts if energy_wh_per_1k > cut)


def _between(low: float, high: float) -> float:
    """A cut between two neighbouring sorted values: the midpoint, or `low` where floats leave no room."""
    if low >= high:
        return low
    mid = low + (high - low) / 2
    return mid if low <= mid < high else low


def quintile_cuts(sorted_energies: Sequence[float]) -> list[float]:
    """Cuts after ceil(k*n/5) values (k = 1..4): star bands of floor(n/5) or ceil(n/5) distinct values."""
    n = len(sorted_energies)
    cuts = []
    for k in range(1, STAR_LEVELS):
        count = -(-k * n // STAR_LEVELS)
        if count >= n:
            cuts.append(sorted_energies[-1])
        else:
            cuts.append(_between(sorted_energies[count - 1], sorted_energies[count]))
    return cuts


def equal_width_cuts(sorted_energies: Sequence[float]) -> list[float]:
    """AI Energy Score's cuts: the min..max range split into five equal bins."""
    low, high = sorted_energies[0], sorted_energies[-1]
    width = (high - low) / STAR_LEVELS
    return [low + k * width for k in range(1, STAR_LEVELS)]


_CUTTERS = {"quintile": quintile_cuts, "equal_width": equal_width_cuts}


def _latest_per_entry(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, revision, precision), the latest finished, so a re-run model counts once."""
    ordered = rows.sort_values("finished_at", kind="stable")
    return ordered.drop_duplicates(["model_id", "revision", "precision"], keep="last")


def _cohort_thresholds(
    cohort: dict[str, str | None], energies: list[float], method: RatingMethod, min_cohort_size: int
) -> CohortThresholds:
    """Cut points of one cohort, or the reason it is too small to rate."""
    if len(energies) < min_cohort_size:
        note = f"cohort too small ({len(energies)} of {min_cohort_size})"
        return CohortThresholds.model_validate({**cohort, "n": len(energies), "note": note})
    cuts = _CUTTERS[method](sorted(energies))
    return CohortThresholds.model_validate({**cohort, "n": len(energies), "cuts_wh_per_1k": cuts})


def compute_thresholds(
    frame: pd.DataFrame,
    task_configs: Mapping[str, TaskConfig],
    method: RatingMethod = "quintile",
    min_cohort_size: int = MIN_COHORT_SIZE,
    now: datetime | None = None,
) -> RatingThresholds:
    """Cut points for every cohort of the results in `frame` (columns RATING_INPUT_COLUMNS)."""
    if method not in _CUTTERS:
        raise ValueError(f"unknown rating method {method!r}; known: {', '.join(_CUTTERS)}")
    scopes = {
        task: TaskRatingScope(config_version=config.config_version, rate_by_size_class=config.rate_by_size_class)
        for task, config in task_configs.items()
    }
    cohorts: dict[str, CohortThresholds] = {}
    for task, scope in sorted(scopes.items()):
        rows = frame[(frame["task"] == task) & (frame["config_version"] == scope.config_version)]
        if rows.empty:
            continue
        entries = _latest_per_entry(rows)
        keys = ["hardware_class", "size_class"] if scope.rate_by_size_class else ["hardware_class"]
        for group, members in entries.groupby(keys, sort=True):
            hardware_class = str(group[0])
            size_class = str(group[1]) if scope.rate_by_size_class else None
            energies = [float(e) for e in members["scored_energy_wh_per_1k"]]
            cohort = {
                "task": task,
                "config_version": scope.config_version,
                "hardware_class": hardware_class,
                "size_class": size_class,
            }
            key = cohort_key(task, hardware_class, size_class)
            cohorts[key] = _cohort_thresholds(cohort, energies, method, min_cohort_size)
    return RatingThresholds(
        method=method, min_cohort_size=min_cohort_size, computed_at=now or utc_now(), tasks=scopes, cohorts=cohorts
    )


def _rate_row(
    thresholds: RatingThresholds, task: str, config_version: str, key: str, energy: float
) -> tuple[int | None, str]:
    scope = thresholds.tasks.get(task)
    if scope is None:
        return None, f"task {task} is not rated"
    if config_version != scope.config_version:
        return None, f"measured under config {config_version}; only config {scope.config_version} is rated"
    cohort = thresholds.cohorts.get(key)
    if cohort is None:
        return None, "no thresholds for this cohort yet"
    stars = cohort.stars_for(energy)
    return stars, cohort.note if stars is None else ""


def _row_cohort_key(thresholds: RatingThresholds, task: str, hardware_class: str, size_class: str) -> str:
    scope = thresholds.tasks.get(task)
    by_size = scope is not None and scope.rate_by_size_class
    return cohort_key(task, hardware_class, size_class if by_size else None)


def apply_ratings(frame: pd.DataFrame, thresholds: RatingThresholds) -> pd.DataFrame:
    """A copy of `frame` with `stars` (Int64, None when not rated), `cohort`, `rating_note` and `rank`.

    `rank` is 1 for the least energy within (cohort, config_version); equal energies share a rank.
    """
    rated = frame.copy()
    cohorts = [
        _row_cohort_key(thresholds, str(task), str(hw), str(size))
        for task, hw, size in zip(rated["task"], rated["hardware_class"], rated["size_class"], strict=True)
    ]
    outcomes = [
        _rate_row(thresholds, str(task), str(version), key, float(energy))
        for task, version, key, energy in zip(
            rated["task"], rated["config_version"], cohorts, rated["scored_energy_wh_per_1k"], strict=True
        )
    ]
    rated["stars"] = pd.array([stars for stars, _ in outcomes], dtype="Int64")
    rated["cohort"] = cohorts
    rated["rating_note"] = [note for _, note in outcomes]
    ranks = rated.groupby(["cohort", "config_version"])["scored_energy_wh_per_1k"].rank(method="min")
    rated["rank"] = pd.array([None if math.isnan(r) else int(r) for r in ranks], dtype="Int64")
    return rated


def thresholds_to_json(thresholds: RatingThresholds) -> str:
    """Canonical JSON (sorted keys); floats keep full precision so clients reproduce the stars exactly."""
    return json.dumps(thresholds.model_dump(mode="json"), sort_keys=True, indent=2) + "\n"


def thresholds_from_json(text: str | bytes, path: str = "ratings/thresholds.json") -> RatingThresholds:
    """Parse and validate published thresholds; a bad file is a RecordValidationError naming `path`."""
    try:
        return RatingThresholds.model_validate_json(text)
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors())
        raise RecordValidationError(path, detail) from exc
