"""Star ratings: 1 star (most energy) to 5 stars (least) within a cohort of comparable results.

A cohort is (task, hardware_class, scored_device), plus size_class when the task config sets
`rate_by_size_class`, plus the measurement protocol (`cohort_protocol`: "native" for a task config's standard
protocol, "<profile>:<version>" for a protocol profile such as the demo's, or an imported signature); only
results measured under the task's current `config_version` are rated together. A result measured otherwise than
its protocol says (its `exploratory_reason`: other samples, slices, rounds, minimum window or load gate, or a
window contaminated by foreign load) is exploratory: shown with the reason, never rated or ranked.

The published thresholds are four ascending cut points in Wh per 1,000 queries, so any client can reproduce a
model's stars from them alone: an energy <= cut 1 earns 5 stars, <= cut 2 earns 4, <= cut 3 earns 3, <= cut 4
earns 2, anything above 1.

Each (model, revision, precision) has one rated row per cohort: its latest valid result. Older results stay in
the frame as history (no stars, no rank, a note that says what superseded them); a result marked `unstable` (its
scored mean stayed less precise than the config's rounds rule) is shown with a note but never rated or ranked. Ranks
within a cohort are dense: 1..k with no gap, equal energies sharing a rank.

Two methods:
- "quintile" (default): rank-based quintiles, so each star band holds about a fifth of the cohort and a single
  outlier cannot squeeze every other model into one band. Results whose 95 % intervals overlap cannot be told
  apart, so a cut only falls where the intervals of every result below it lie wholly below the intervals of every
  result above it (`quintile_cuts` states the promise this keeps).
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
from typing import Any, Literal, NamedTuple, get_args

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

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
    "scored_device",
]
# Columns read when present, with the value an absent column means (older results predate them).
RATING_OPTIONAL_COLUMNS: dict[str, object] = {
    "unstable": False,
    "cohort_protocol": "native",
    "scored_energy_ci95_low": None,  # no interval: the figure itself is its interval
    "scored_energy_ci95_high": None,
    "quality_unranked": False,
    "exploratory_reason": "",
}
NATIVE_PROTOCOL = "native"
SUPERSEDED_NOTE = "history: superseded by a later result of the same model in this cohort"
UNSTABLE_NOTE = "unstable: the mean stayed less precise than the config's rounds rule; shown, not rated"
BELOW_FLOOR_NOTE = "below quality floor: the task's quality gate unranks it; shown, not rated"
EXPLORATORY_NOTE = "exploratory, not rated: {reason}"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskRatingScope(_Frozen):
    """Which results of a task are rated: one config version, cohorts split by size class or not."""

    config_version: str
    rate_by_size_class: bool

    @model_validator(mode="before")
    @classmethod
    def _without_old_tie_margin(cls, data: Any) -> Any:
        """Files written before ties were read from the intervals carry a per-task `tie_margin`; their cuts still
        reproduce their stars, so it is dropped."""
        return {k: v for k, v in data.items() if k != "tie_margin"} if isinstance(data, dict) else data

    @classmethod
    def of(cls, config: TaskConfig) -> TaskRatingScope:
        return cls(config_version=config.config_version, rate_by_size_class=config.rate_by_size_class)


class CohortThresholds(_Frozen):
    """The four cut points of one cohort, or why it is not rated."""

    task: str
    config_version: str
    hardware_class: str
    size_class: str | None = None
    scored_device: str | None = Field(default=None, description="gpu or cpu; None in files that predate it")
    cohort_protocol: str = NATIVE_PROTOCOL
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


def cohort_key(
    task: str,
    hardware_class: str,
    size_class: str | None = None,
    scored_device: str | None = None,
    cohort_protocol: str = NATIVE_PROTOCOL,
) -> str:
    """The cohort's name, e.g. 'text_generation/nvidia-h100x1/gpu/A' or 'image_classification/cpu-epyc-2c/cpu';
    a non-native protocol is appended ('.../imported:<signature>')."""
    parts = [task, hardware_class]
    parts += [scored_device] if scored_device is not None else []
    parts += [size_class] if size_class is not None else []
    parts += [cohort_protocol] if cohort_protocol != NATIVE_PROTOCOL else []
    return "/".join(parts)


def stars_from_cuts(energy_wh_per_1k: float, cuts: Sequence[float]) -> int:
    """5 stars at or below the first cut, one star fewer past each further cut."""
    return STAR_LEVELS - sum(1 for cut in cuts if energy_wh_per_1k > cut)


def _between(low: float, high: float) -> float:
    """A cut between two neighbouring sorted values: the midpoint, or `low` where floats leave no room."""
    if low >= high:
        return low
    mid = low + (high - low) / 2
    return mid if low <= mid < high else low


class RatedFigure(NamedTuple):
    """A result's figure with its 95 % interval, Wh per 1,000 queries."""

    energy_wh_per_1k: float
    low_wh_per_1k: float
    high_wh_per_1k: float

    @classmethod
    def of(cls, energy_wh_per_1k: float, low: float | None = None, high: float | None = None) -> RatedFigure:
        """A figure and its interval; a missing bound is the figure itself, and the interval always holds it."""
        low_wh = energy_wh_per_1k if low is None or math.isnan(low) else min(low, energy_wh_per_1k)
        high_wh = energy_wh_per_1k if high is None or math.isnan(high) else max(high, energy_wh_per_1k)
        return cls(energy_wh_per_1k, low_wh, high_wh)


TIE_RULE_TEXT = (
    "results whose 95 % intervals overlap share their stars: a threshold only falls where the intervals of every "
    "result below it lie wholly below those of every result above it"
)


def quintile_cuts(figures: Sequence[RatedFigure]) -> list[float]:
    """Four cuts near the k/5 quantiles (k = 1..4): star bands of about a fifth of the cohort each.

    The promise: two results of the cohort whose intervals overlap get the same stars. A cut may only fall at a
    tie boundary, a place in the sorted figures where every interval below lies wholly below every interval above
    (so no interval below overlaps one above, and `stars_from_cuts` puts every result on its side). Between tie
    boundaries the cuts are placed as near k*n/5 figures as they can be; with at least four boundaries (five tie
    groups) each cut takes its own, so no star level stays empty and neighbouring groups differ by one star at
    most. The least energy gets 5 stars, the most energy 1 star, unless the whole cohort is one tie group: then 5
    throughout. Figures without an interval are points, and distinct points give plain quintiles.
    """
    ordered = sorted(figures)
    energies = [figure.energy_wh_per_1k for figure in ordered]
    boundaries = _tie_boundaries(ordered)
    if not boundaries:
        return [energies[-1]] * (STAR_LEVELS - 1) if energies else []
    counts = _cut_counts(boundaries, len(ordered), energies)
    return [_between(energies[count - 1], energies[count]) for count in counts]


def _tie_boundaries(ordered: Sequence[RatedFigure]) -> list[int]:
    """Each count c (1..n-1) where the c lowest figures' intervals all end below where the others' begin."""
    suffix_low = [math.inf] * (len(ordered) + 1)
    for index in range(len(ordered) - 1, -1, -1):
        suffix_low[index] = min(suffix_low[index + 1], ordered[index].low_wh_per_1k)
    boundaries, prefix_high = [], -math.inf
    for count in range(1, len(ordered)):
        prefix_high = max(prefix_high, ordered[count - 1].high_wh_per_1k)
        below, above = ordered[count - 1].energy_wh_per_1k, ordered[count].energy_wh_per_1k
        if below < above and prefix_high < suffix_low[count]:
            boundaries.append(count)
    return boundaries


def _cut_counts(boundaries: Sequence[int], n: int, energies: Sequence[float]) -> list[int]:
    """Where the four cuts fall, as counts of figures below them: each at the boundary nearest k*n/5 (between two
    equally near, the wider relative gap). With four boundaries or more, the cuts take distinct ones, chosen to
    keep the summed distance to k*n/5 least (a small dynamic programme over cuts and boundaries)."""
    targets = [k * n / STAR_LEVELS for k in range(1, STAR_LEVELS)]

    def cost(count: int, target: float) -> tuple[float, float]:
        return abs(count - target), -_gap(energies, count)

    if len(boundaries) < len(targets):
        return [min(boundaries, key=lambda count: cost(count, target)) for target in targets]
    # best[j]: the least cost of placing the cuts so far with the last one at boundaries[j], and the path there
    best: list[tuple[tuple[float, float], list[int]] | None] = [(cost(c, targets[0]), [c]) for c in boundaries]
    for target in targets[1:]:
        step: list[tuple[tuple[float, float], list[int]] | None] = [None] * len(boundaries)
        lowest: tuple[tuple[float, float], list[int]] | None = None
        for j, count in enumerate(boundaries):
            if lowest is not None:
                here = cost(count, target)
                step[j] = ((lowest[0][0] + here[0], lowest[0][1] + here[1]), [*lowest[1], count])
            previous = best[j]
            if previous is not None and (lowest is None or previous[0] < lowest[0]):
                lowest = previous
        best = step
    return min((entry for entry in best if entry is not None), key=lambda entry: entry[0])[1]


def _gap(sorted_energies: Sequence[float], count: int) -> float:
    """The relative gap between the `count`-th figure and the next."""
    low, high = sorted_energies[count - 1], sorted_energies[count]
    return math.inf if low <= 0 else (high - low) / low


def equal_width_cuts(sorted_energies: Sequence[float]) -> list[float]:
    """AI Energy Score's cuts: the min..max range split into five equal bins."""
    low, high = sorted_energies[0], sorted_energies[-1]
    width = (high - low) / STAR_LEVELS
    return [low + k * width for k in range(1, STAR_LEVELS)]


def _with_optional_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every RATING_OPTIONAL_COLUMNS column, absent ones (and missing values) at their default."""
    out = frame.copy()
    for name, default in RATING_OPTIONAL_COLUMNS.items():
        if name not in out.columns:
            out[name] = [default] * len(out)
        else:
            out[name] = [default if _missing(v) else v for v in out[name]]
    return out


def _optional_float(value: object) -> float | None:
    return None if _missing(value) else float(value)  # type: ignore[arg-type]


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _row_cohort_keys(frame: pd.DataFrame, scopes: Mapping[str, TaskRatingScope]) -> list[str]:
    """Each row's cohort key; size class only where its task's scope rates by size class."""
    keys = []
    for task, hw, size, device, protocol in zip(
        frame["task"],
        frame["hardware_class"],
        frame["size_class"],
        frame["scored_device"],
        frame["cohort_protocol"],
        strict=True,
    ):
        scope = scopes.get(str(task))
        by_size = scope is not None and scope.rate_by_size_class
        keys.append(cohort_key(str(task), str(hw), str(size) if by_size else None, str(device), str(protocol)))
    return keys


def _rated_mask(frame: pd.DataFrame, cohorts: Sequence[str]) -> pd.Series:
    """True for the one row per (model, revision, precision, cohort, config version) that is rated: the latest
    finished result neither unstable, exploratory nor unranked by its quality gate. `frame` has the optional
    columns filled in."""
    valid = (
        ~frame["unstable"].astype(bool)
        & (frame["exploratory_reason"].astype(str) == "")
        & ~frame["quality_unranked"].astype(bool)
    )
    candidates = frame.assign(_cohort=list(cohorts), _order=range(len(frame)))[valid.to_numpy()]
    tie_break = ["result_id"] if "result_id" in candidates.columns else []
    ordered = candidates.sort_values(["finished_at", *tie_break, "_order"], kind="stable")
    entry = ["model_id", "revision", "precision", "_cohort", "config_version"]
    latest = ordered.drop_duplicates(entry, keep="last")["_order"]
    mask = pd.Series(False, index=frame.index)
    mask.iloc[latest.to_numpy()] = True
    return mask  # `frame` has a RangeIndex here, so positions and labels agree


def _cohort_thresholds(
    cohort: dict[str, str | None],
    figures: list[RatedFigure],
    method: RatingMethod,
    min_cohort_size: int,
) -> CohortThresholds:
    """Cut points of one cohort, or the reason it is too small to rate."""
    if len(figures) < min_cohort_size:
        note = f"cohort too small ({len(figures)} of {min_cohort_size})"
        return CohortThresholds.model_validate({**cohort, "n": len(figures), "note": note})
    if method == "quintile":
        cuts = quintile_cuts(figures)
    else:
        cuts = equal_width_cuts(sorted(figure.energy_wh_per_1k for figure in figures))
    return CohortThresholds.model_validate({**cohort, "n": len(figures), "cuts_wh_per_1k": cuts})


def compute_thresholds(
    frame: pd.DataFrame,
    task_configs: Mapping[str, TaskConfig],
    method: RatingMethod = "quintile",
    min_cohort_size: int = MIN_COHORT_SIZE,
    now: datetime | None = None,
) -> RatingThresholds:
    """Cut points for every cohort of the results in `frame` (columns RATING_INPUT_COLUMNS, and the scored
    figure's interval where the frame has it: RATING_OPTIONAL_COLUMNS)."""
    if method not in get_args(RatingMethod):
        raise ValueError(f"unknown rating method {method!r}; known: {', '.join(get_args(RatingMethod))}")
    scopes = {task: TaskRatingScope.of(config) for task, config in task_configs.items()}
    return RatingThresholds(
        method=method,
        min_cohort_size=min_cohort_size,
        computed_at=now or utc_now(),
        tasks=scopes,
        cohorts=_cohorts(frame, scopes, method, min_cohort_size),
    )


def _cohorts(
    frame: pd.DataFrame,
    scopes: Mapping[str, TaskRatingScope],
    method: RatingMethod,
    min_cohort_size: int,
) -> dict[str, CohortThresholds]:
    """Thresholds per cohort key, over each entry's latest valid result under its task's current config."""
    cohorts: dict[str, CohortThresholds] = {}
    if frame.empty:
        return cohorts
    full = _with_optional_columns(frame).reset_index(drop=True)
    keys = _row_cohort_keys(full, scopes)
    current = [
        task in scopes and version == scopes[task].config_version
        for task, version in zip(full["task"], full["config_version"], strict=True)
    ]
    rated = full.assign(_cohort=keys)[(_rated_mask(full, keys) & pd.Series(current, index=full.index)).to_numpy()]
    for key, members in sorted(rated.groupby("_cohort", sort=False), key=lambda item: str(item[0])):
        first = members.iloc[0]
        task = str(first["task"])
        cohort = {
            "task": task,
            "config_version": scopes[task].config_version,
            "hardware_class": str(first["hardware_class"]),
            "size_class": str(first["size_class"]) if scopes[task].rate_by_size_class else None,
            "scored_device": str(first["scored_device"]),
            "cohort_protocol": str(first["cohort_protocol"]),
        }
        figures = [
            RatedFigure.of(float(energy), _optional_float(low), _optional_float(high))
            for energy, low, high in zip(
                members["scored_energy_wh_per_1k"],
                members["scored_energy_ci95_low"],
                members["scored_energy_ci95_high"],
                strict=True,
            )
        ]
        cohorts[str(key)] = _cohort_thresholds(cohort, figures, method, min_cohort_size)
    return cohorts


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


def apply_ratings(frame: pd.DataFrame, thresholds: RatingThresholds) -> pd.DataFrame:
    """A copy of `frame` with `stars` (Int64, None when not rated), `cohort`, `rating_note` and `rank` (Int64).

    Only each entry's latest valid result in its cohort is rated and ranked (neither unstable nor exploratory: see
    the module docstring); `rank`
    is dense within (cohort, config_version): 1 for the least energy, equal energies share a rank, no gaps.
    """
    rated = frame.copy()
    full = _with_optional_columns(frame).reset_index(drop=True)
    cohorts = _row_cohort_keys(full, thresholds.tasks)
    current = _rated_mask(full, cohorts)
    outcomes: list[tuple[int | None, str]] = []
    for task, version, key, energy, is_current, unstable, unranked, exploratory in zip(
        full["task"],
        full["config_version"],
        cohorts,
        full["scored_energy_wh_per_1k"],
        current,
        full["unstable"],
        full["quality_unranked"],
        full["exploratory_reason"],
        strict=True,
    ):
        if str(exploratory):
            outcomes.append((None, EXPLORATORY_NOTE.format(reason=exploratory)))
        elif bool(unstable):
            outcomes.append((None, UNSTABLE_NOTE))
        elif bool(unranked):
            outcomes.append((None, BELOW_FLOOR_NOTE))
        elif not is_current:
            outcomes.append((None, SUPERSEDED_NOTE))
        else:
            outcomes.append(_rate_row(thresholds, str(task), str(version), key, float(energy)))
    rated["stars"] = pd.array([stars for stars, _ in outcomes], dtype="Int64")
    rated["cohort"] = cohorts
    rated["rating_note"] = [note for _, note in outcomes]
    ranked = full.assign(cohort=cohorts)[current.to_numpy()]
    ranks = ranked.groupby(["cohort", "config_version"])["scored_energy_wh_per_1k"].rank(method="dense")
    rank_of = dict(zip(ranked.index, ranks, strict=True))
    rated["rank"] = pd.array([int(rank_of[i]) if i in rank_of else None for i in full.index], dtype="Int64")
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
