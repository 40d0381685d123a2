"""A finished run's outputs, scored: called by the engine after the measurement, outside every window."""

from __future__ import annotations

from typing import Any

from leaderboard_data.records import Quality
from runner.quality.references import NoReferences, read_references
from runner.quality.scoring import NO_METRIC, no_figure, score_quality
from runner.tasks.base import BenchmarkTask


def score_run_outputs(task: BenchmarkTask, dataset_path: str, predictions: list[Any]) -> Quality:
    """Score the predictions per sample (`Measurement.predictions`) on the distinct dataset rows they answered.

    Samples reuse rows in order when the dataset is smaller than the sample count; each row is scored once.
    """
    spec = task.config.quality
    if spec is None or spec.metric == NO_METRIC:
        return score_quality(spec, [], [])
    distinct = task.distinct_samples or len(predictions)
    by_row: list[Any] = [None] * distinct
    for index, prediction in enumerate(predictions):
        row = index % distinct
        if by_row[row] is None and prediction is not None:
            by_row[row] = task.decode_prediction(prediction)
    try:
        references = read_references(dataset_path, task.config.dataset, spec.columns, distinct)
    except NoReferences as exc:
        return no_figure(spec, str(exc))
    return score_quality(spec, by_row, references, task.label_names())
