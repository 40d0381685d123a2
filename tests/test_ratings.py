"""Star ratings: cohorts, the two methods, reproducibility from published thresholds, and their properties."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.errors import RecordValidationError
from leaderboard_data.ratings import (
    RATING_INPUT_COLUMNS,
    RatingMethod,
    apply_ratings,
    cohort_key,
    compute_thresholds,
    stars_from_cuts,
    thresholds_from_json,
    thresholds_to_json,
)
from leaderboard_data.results import result_to_row
from tests.helpers_results import make_results

CONFIGS: dict[str, TaskConfig] = load_task_configs()
T0 = datetime(2025, 1, 1, tzinfo=UTC)
energies_strategy = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)


def cohort_frame(
    energies: Sequence[float],
    task: str = "image_classification",
    hardware_class: str = "nvidia-h100-80gb",
    size_class: str = "A",
    config_version: str = "1.0",
) -> pd.DataFrame:
    """One row per model, all in one cohort."""
    rows = [
        {
            "task": task,
            "config_version": config_version,
            "hardware_class": hardware_class,
            "size_class": size_class,
            "model_id": f"org/model-{i}",
            "revision": "r",
            "precision": "float32",
            "scored_energy_wh_per_1k": energy,
            "finished_at": T0 + timedelta(minutes=i),
        }
        for i, energy in enumerate(energies)
    ]
    return pd.DataFrame(rows, columns=RATING_INPUT_COLUMNS)


def rate(energies: Sequence[float], method: RatingMethod = "quintile") -> pd.DataFrame:
    frame = cohort_frame(energies)
    return apply_ratings(frame, compute_thresholds(frame, CONFIGS, method=method))


def test_stars_from_cuts_rule() -> None:
    cuts = [1.0, 2.0, 3.0, 4.0]
    assert [stars_from_cuts(e, cuts) for e in (0.5, 1.0, 1.5, 2.0, 3.5, 4.0, 9.0)] == [5, 5, 4, 4, 2, 2, 1]


def test_quintiles_of_ten_models() -> None:
    rated = rate([float(e) for e in range(1, 11)])
    assert list(rated["stars"]) == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert list(rated["rank"]) == list(range(1, 11))
    assert set(rated["cohort"]) == {"image_classification/nvidia-h100-80gb"}
    assert set(rated["rating_note"]) == {""}


def test_small_cohort_is_not_rated() -> None:
    rated = rate([1.0, 2.0, 3.0])
    assert rated["stars"].isna().all()
    assert set(rated["rating_note"]) == {"cohort too small (3 of 5)"}
    assert list(rated["rank"]) == [1, 2, 3]


def test_a_rerun_model_counts_once() -> None:
    frame = cohort_frame([1.0, 2.0, 3.0, 4.0])
    rerun = frame.iloc[[0]].assign(finished_at=T0 + timedelta(days=1), scored_energy_wh_per_1k=1.1)
    thresholds = compute_thresholds(pd.concat([frame, rerun], ignore_index=True), CONFIGS)
    assert thresholds.cohorts["image_classification/nvidia-h100-80gb"].n == 4


def test_cohorts_split_by_hardware_and_size_where_configured() -> None:
    frame = pd.concat(
        [
            cohort_frame([1.0] * 5, task="text_generation", size_class="A"),
            cohort_frame([2.0] * 5, task="text_generation", size_class="B"),
            cohort_frame([3.0] * 5, task="image_classification", size_class="A"),
            cohort_frame([4.0] * 5, task="image_classification", size_class="B"),
            cohort_frame([5.0] * 5, task="image_classification", hardware_class="cpu-x86_64-16"),
        ],
        ignore_index=True,
    )
    frame["model_id"] = [f"m{i}" for i in range(len(frame))]
    thresholds = compute_thresholds(frame, CONFIGS)
    assert sorted(thresholds.cohorts) == [
        "image_classification/cpu-x86_64-16",
        "image_classification/nvidia-h100-80gb",
        "text_generation/nvidia-h100-80gb/A",
        "text_generation/nvidia-h100-80gb/B",
    ]
    assert thresholds.cohorts["image_classification/nvidia-h100-80gb"].n == 10
    rated = apply_ratings(frame, thresholds)
    assert rated.loc[rated["task"] == "text_generation", "cohort"].nunique() == 2


def test_only_the_current_config_version_is_rated() -> None:
    frame = pd.concat(
        [cohort_frame([1.0, 2.0, 3.0, 4.0, 5.0]), cohort_frame([0.1, 0.2], config_version="0.9")],
        ignore_index=True,
    )
    frame["model_id"] = [f"m{i}" for i in range(len(frame))]
    rated = apply_ratings(frame, compute_thresholds(frame, CONFIGS))
    old = rated[rated["config_version"] == "0.9"]
    assert old["stars"].isna().all()
    assert set(old["rating_note"]) == {"measured under config 0.9; only config 1.0 is rated"}
    assert rated.loc[rated["config_version"] == "1.0", "stars"].tolist() == [5, 4, 3, 2, 1]
    assert old["rank"].tolist() == [1, 2]  # ranked within their own config version


def test_unknown_task_and_unseen_cohort_get_a_note() -> None:
    frame = cohort_frame([1.0, 2.0, 3.0, 4.0, 5.0])
    thresholds = compute_thresholds(frame, CONFIGS)
    other = pd.concat(
        [cohort_frame([1.0], task="no_such_task"), cohort_frame([1.0], hardware_class="new-gpu")], ignore_index=True
    )
    rated = apply_ratings(other, thresholds)
    assert rated["stars"].isna().all()
    assert rated["rating_note"].tolist() == ["task no_such_task is not rated", "no thresholds for this cohort yet"]


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="quintile"):
        compute_thresholds(cohort_frame([1.0]), CONFIGS, method="median")  # type: ignore[arg-type]


def test_thresholds_round_trip_and_reproduce_stars_from_json_alone() -> None:
    frame = pd.DataFrame([result_to_row(r) for r in make_results(60, seed=11)])
    thresholds = compute_thresholds(frame, CONFIGS, now=T0)
    text = thresholds_to_json(thresholds)
    assert thresholds_from_json(text) == thresholds
    rated = apply_ratings(frame, thresholds)

    published = json.loads(text)  # what a client without this package sees
    for row in rated[rated["stars"].notna()].itertuples():
        cuts = published["cohorts"][row.cohort]["cuts_wh_per_1k"]
        client_stars = 5 - sum(row.scored_energy_wh_per_1k > cut for cut in cuts)
        assert client_stars == row.stars


def test_bad_thresholds_file_names_its_path() -> None:
    with pytest.raises(RecordValidationError, match=r"ratings/thresholds\.json"):
        thresholds_from_json(b'{"method": "vibes"}')


def test_cohort_key_format() -> None:
    assert cohort_key("text_generation", "h100", "A") == "text_generation/h100/A"
    assert cohort_key("image_classification", "h100") == "image_classification/h100"


# --- properties -------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(energies_strategy, min_size=5, max_size=60), st.sampled_from(["quintile", "equal_width"]))
def test_stars_are_monotone_in_energy_and_ties_are_equal(energies: list[float], method: RatingMethod) -> None:
    rated = rate(energies, method).sort_values("scored_energy_wh_per_1k")
    stars = rated["stars"].tolist()
    assert all(a >= b for a, b in itertools.pairwise(stars))
    for _, group in rated.groupby("scored_energy_wh_per_1k"):
        assert group["stars"].nunique() == 1
        assert group["rank"].nunique() == 1
    assert rated["rank"].min() == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(energies_strategy, min_size=5, max_size=80, unique=True))
def test_quintile_bands_are_balanced(energies: list[float]) -> None:
    n = len(energies)
    counts = Counter(rate(energies)["stars"].tolist())
    assert sorted(counts) == [1, 2, 3, 4, 5]
    assert all(n // 5 <= counts[s] <= -(-n // 5) for s in range(1, 6))


@settings(max_examples=30, deadline=None)
@given(st.lists(energies_strategy, min_size=5, max_size=40))
def test_stars_are_reproducible_from_cuts(energies: list[float]) -> None:
    frame = cohort_frame(energies)
    thresholds = compute_thresholds(frame, CONFIGS)
    cohort = thresholds.cohorts["image_classification/nvidia-h100-80gb"]
    assert cohort.cuts_wh_per_1k == sorted(cohort.cuts_wh_per_1k or [])
    rated = apply_ratings(frame, thresholds_from_json(thresholds_to_json(thresholds)))
    assert rated["stars"].tolist() == [cohort.stars_for(e) for e in energies]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(min_value=1.0, max_value=10.0), min_size=20, max_size=50, unique=True),
    st.floats(min_value=1e3, max_value=1e5),
)
def test_an_outlier_does_not_squeeze_the_others(energies: list[float], outlier: float) -> None:
    quintile = rate([*energies, outlier], "quintile")
    equal_width = rate([*energies, outlier], "equal_width")
    normal = quintile["scored_energy_wh_per_1k"] < outlier

    assert quintile.loc[normal, "stars"].nunique() == 5  # the others still spread over all five bands
    assert equal_width.loc[normal, "stars"].tolist() == [5] * len(energies)  # AI Energy Score's bins: all 5 stars
    assert quintile.loc[~normal, "stars"].tolist() == equal_width.loc[~normal, "stars"].tolist() == [1]
