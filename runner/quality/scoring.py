"""One run's quality: its outputs against the dataset's references, as a `records.Quality` with an interval."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from leaderboard_data.configs import QualityFloor, QualitySpec
from leaderboard_data.records import Quality
from runner.quality.labels import unmapped_labels
from runner.quality.metrics import METRICS, bootstrap_interval, normalize_label

NO_METRIC = "none"


def no_figure(spec: QualitySpec | None, note: str) -> Quality:
    """A quality record without a figure, saying why."""
    metric = spec.metric if spec is not None else NO_METRIC
    direction = spec.direction if spec is not None else "higher"
    return Quality(metric=metric, direction=direction, note=note)


def floor_value(floor: QualityFloor, direction: str, references: Sequence[dict[str, Any]]) -> float:
    """The trivial baseline's score on these references, moved by the margin toward better."""
    if floor.baseline == "majority_class":
        counts = Counter(normalize_label(r["label"]) for r in references)
        baseline = max(counts.values()) / len(references)
    else:
        baseline = float(floor.value or 0.0)
    return baseline + floor.margin if direction == "higher" else baseline - floor.margin


def score_quality(
    spec: QualitySpec | None,
    predictions: Sequence[Any],
    references: Sequence[dict[str, Any]],
    model_labels: Sequence[str] | None = None,
) -> Quality:
    """Score `predictions[i]` against `references[i]` (distinct samples, in dataset order).

    `model_labels` are a classifier's label names: they must name every dataset label, or there is no figure.
    """
    if spec is None or spec.metric == NO_METRIC:
        return no_figure(spec, spec.reason if spec is not None else "no quality metric for this task")
    pairs = [(p, r) for p, r in zip(predictions, references, strict=False) if p is not None]
    if not pairs:
        return no_figure(spec, "no output was collected to score")
    outputs, truths = [p for p, _ in pairs], [r for _, r in pairs]
    if model_labels is not None and "label" in spec.columns:
        reason = unmapped_labels(model_labels, {str(r["label"]) for r in truths})
        if reason is not None:
            return no_figure(spec, reason)
    metric = METRICS[spec.metric]
    rows = metric.rows(outputs, truths)
    value = metric.value(rows)
    interval = spec.interval
    low, high = bootstrap_interval(metric, rows, interval.resamples, interval.confidence, interval.seed)
    floor = floor_value(spec.floor, spec.direction, truths) if spec.floor is not None else None
    passed = None if floor is None else (value >= floor if spec.direction == "higher" else value <= floor)
    return Quality(
        metric=spec.metric,
        direction=spec.direction,
        value=value,
        ci_low=low,
        ci_high=high,
        confidence=interval.confidence,
        samples=len(rows),
        floor=floor,
        floor_passed=passed,
        details={name: extra(outputs, truths) for name, extra in metric.extras.items()},
        gate=spec.gate,
    )
