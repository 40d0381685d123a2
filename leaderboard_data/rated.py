"""Published results with their stars: the one reader the CLI tables, the Space and the badges share.

Stars come from the thresholds published beside the results (`results.THRESHOLDS_PATH`), so every reader
shows the stars the dataset card shows. A results store without published thresholds (a fresh local store)
is rated with thresholds computed over the loaded results, and `RatedResults.published` says so.

Example:
    >>> rated = load_rated_results(stores.results, load_task_configs())
    >>> rated.frame[["model_id", "stars", "rank", "rating_note"]]
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.errors import FileNotInStoreError
from leaderboard_data.quality import add_quality_columns
from leaderboard_data.ratings import RatingThresholds, apply_ratings, compute_thresholds, thresholds_from_json
from leaderboard_data.results import THRESHOLDS_PATH, load_results_frame
from leaderboard_data.stores import Store


@dataclass(frozen=True)
class RatedResults:
    """Results (columns `results.RESULT_COLUMNS` plus stars, cohort, rating_note, rank) and how they were rated.

    `thresholds` is None only when there are no results; `published` is True when the stars come from the
    thresholds the publisher wrote rather than from thresholds computed here.
    """

    frame: pd.DataFrame
    thresholds: RatingThresholds | None
    published: bool


def published_thresholds(results_store: Store) -> RatingThresholds | None:
    """The thresholds published in the results store, or None when none are published yet."""
    try:
        content = results_store.read_file(THRESHOLDS_PATH)
    except FileNotInStoreError:
        return None
    return thresholds_from_json(content.decode("utf-8"), THRESHOLDS_PATH)


def load_rated_results(
    results_store: Store, task_configs: dict[str, TaskConfig] | None = None, task: str | None = None
) -> RatedResults:
    """Every published result (of one task, or all), rated by the published thresholds when there are any.

    Computed thresholds rate each task within its own rows, so reading one task rates it as reading all would.
    """
    frame = load_results_frame(results_store, task)
    thresholds = published_thresholds(results_store)
    published = thresholds is not None
    if thresholds is None and not frame.empty:
        thresholds = compute_thresholds(frame, task_configs if task_configs is not None else load_task_configs())
    if thresholds is None or frame.empty:
        return RatedResults(unrated(frame), thresholds, published)
    rated = add_quality_columns(apply_ratings(frame, thresholds), task_configs or load_task_configs())
    return RatedResults(rated, thresholds, published)


def unrated(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with empty rating columns, for a store without results or thresholds."""
    out = frame.copy()
    for name in ("stars", "cohort", "rating_note", "rank"):
        if name not in out.columns:
            out[name] = pd.Series([None] * len(out), index=out.index, dtype="object")
    return add_quality_columns(out)
