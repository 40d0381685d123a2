"""Star ratings: cohorts, the two methods, reproducibility from published thresholds, and their properties."""

from __future__ import annotations

import itertools
import json
import random
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
    SUPERSEDED_NOTE,
    UNSTABLE_NOTE,
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
CURRENT = CONFIGS["image_classification"].config_version
T0 = datetime(2025, 1, 1, tzinfo=UTC)
energies_strategy = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)


def cohort_frame(
    energies: Sequence[float],
    task: str = "image_classification",
    hardware_class: str = "nvidia-h100-80gb",
    size_class: str = "A",
    config_version: str = CURRENT,
    scored_device: str = "gpu",
    half_widths: Sequence[float] | None = None,
) -> pd.DataFrame:
    """One row per model, all in one cohort; each figure with a 95 % interval of +-`half_widths` (relative) where
    given, else with none (a point)."""
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
            "scored_device": scored_device,
        }
        for i, energy in enumerate(energies)
    ]
    frame = pd.DataFrame(rows, columns=RATING_INPUT_COLUMNS)
    if half_widths is not None:
        frame["scored_energy_ci95_low"] = [e * (1 - h) for e, h in zip(energies, half_widths, strict=True)]
        frame["scored_energy_ci95_high"] = [e * (1 + h) for e, h in zip(energies, half_widths, strict=True)]
    return frame


def rate(energies: Sequence[float], method: RatingMethod = "quintile", half_width: float | None = None) -> pd.DataFrame:
    """Stars of one cohort; each figure with an interval of +-`half_width` (relative) where given."""
    frame = cohort_frame(energies, half_widths=None if half_width is None else [half_width] * len(energies))
    return apply_ratings(frame, compute_thresholds(frame, CONFIGS, method=method))


def overlapping_pairs_with_other_stars(rated: pd.DataFrame) -> list[tuple[float, float]]:
    """Pairs of results whose intervals overlap and whose stars differ: what the tie rule promises never happens."""
    rows = list(
        zip(
            rated["scored_energy_ci95_low"],
            rated["scored_energy_ci95_high"],
            rated["stars"],
            rated["scored_energy_wh_per_1k"],
            strict=True,
        )
    )
    return [(a[3], b[3]) for a, b in itertools.combinations(rows, 2) if a[0] <= b[1] and b[0] <= a[1] and a[2] != b[2]]


def test_stars_from_cuts_rule() -> None:
    cuts = [1.0, 2.0, 3.0, 4.0]
    assert [stars_from_cuts(e, cuts) for e in (0.5, 1.0, 1.5, 2.0, 3.5, 4.0, 9.0)] == [5, 5, 4, 4, 2, 2, 1]


def test_quintiles_of_ten_models() -> None:
    rated = rate([float(e) for e in range(1, 11)])
    assert list(rated["stars"]) == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert list(rated["rank"]) == list(range(1, 11))
    assert set(rated["cohort"]) == {"image_classification/nvidia-h100-80gb/gpu"}
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
    assert thresholds.cohorts["image_classification/nvidia-h100-80gb/gpu"].n == 4


def test_cohorts_split_by_hardware_and_size_where_configured() -> None:
    frame = pd.concat(
        [
            cohort_frame([1.0] * 5, task="text_generation", size_class="A"),
            cohort_frame([2.0] * 5, task="text_generation", size_class="B"),
            cohort_frame([3.0] * 5, task="image_classification", size_class="A"),
            cohort_frame([4.0] * 5, task="image_classification", size_class="B"),
            cohort_frame([5.0] * 5, task="image_classification", hardware_class="cpu-x86_64-16", scored_device="cpu"),
        ],
        ignore_index=True,
    )
    frame["model_id"] = [f"m{i}" for i in range(len(frame))]
    thresholds = compute_thresholds(frame, CONFIGS)
    assert sorted(thresholds.cohorts) == [
        "image_classification/cpu-x86_64-16/cpu",
        "image_classification/nvidia-h100-80gb/gpu",
        "text_generation/nvidia-h100-80gb/gpu/A",
        "text_generation/nvidia-h100-80gb/gpu/B",
    ]
    assert thresholds.cohorts["image_classification/nvidia-h100-80gb/gpu"].n == 10
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
    assert set(old["rating_note"]) == {f"measured under config 0.9; only config {CURRENT} is rated"}
    assert rated.loc[rated["config_version"] == CURRENT, "stars"].tolist() == [5, 4, 3, 2, 1]
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
    assert cohort_key("text_generation", "h100", "A", "gpu") == "text_generation/h100/gpu/A"
    assert cohort_key("image_classification", "h100", None, "gpu") == "image_classification/h100/gpu"
    assert cohort_key("image_classification", "h100", None, "gpu", "imported:ob-0.6") == (
        "image_classification/h100/gpu/imported:ob-0.6"
    )


# --- one rated row per entry and cohort (audit findings) ---------------------------------------------------------


def test_a_cpu_run_of_the_same_model_does_not_empty_its_gpu_cohort() -> None:
    """Audit: a model also run on CPU (later) was de-duplicated out of its H200 cohort, which fell to 4 of 5."""
    gpu = cohort_frame([1.0, 2.0, 3.0, 4.0, 5.0], hardware_class="nvidia-h200x1")
    cpu_run = gpu.iloc[[2]].assign(
        hardware_class="cpu-amd-epyc-16c",
        scored_device="cpu",
        scored_energy_wh_per_1k=40.0,
        finished_at=T0 + timedelta(days=2),
    )
    frame = pd.concat([gpu, cpu_run], ignore_index=True)
    thresholds = compute_thresholds(frame, CONFIGS)
    h200 = thresholds.cohorts["image_classification/nvidia-h200x1/gpu"]
    assert (h200.n, h200.note) == (5, "")
    rated = apply_ratings(frame, thresholds)
    assert rated["stars"].iloc[:5].tolist() == [5, 4, 3, 2, 1]
    assert rated["rank"].tolist() == [1, 2, 3, 4, 5, 1]  # the CPU run ranks first in its own (too small) cohort
    assert rated["rating_note"].iloc[5] == "cohort too small (1 of 5)"


def test_a_rerun_supersedes_the_old_row_which_stays_as_history() -> None:
    """Audit: a re-run left the old row rated and ranked: ranks up to 6 in a 5-model cohort, one model twice."""
    frame = cohort_frame([1.0, 2.0, 3.0, 4.0, 5.0])
    rerun = frame.iloc[[1]].assign(finished_at=T0 + timedelta(days=1), scored_energy_wh_per_1k=6.0)
    rated = apply_ratings(
        pd.concat([frame, rerun], ignore_index=True), compute_thresholds(pd.concat([frame, rerun]), CONFIGS)
    )
    ranked = rated[rated["rank"].notna()]
    assert sorted(ranked["rank"].tolist()) == [1, 2, 3, 4, 5]
    assert ranked["model_id"].is_unique
    old = rated.iloc[1]
    assert pd.isna(old["rank"]) and pd.isna(old["stars"]) and old["rating_note"] == SUPERSEDED_NOTE
    assert (rated.iloc[5]["rank"], rated.iloc[5]["stars"]) == (5, 1)  # the re-run, now the most energy


def test_unstable_results_are_shown_without_stars_or_rank() -> None:
    frame = cohort_frame([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    frame["unstable"] = [False, False, True, False, False, False]
    thresholds = compute_thresholds(frame, CONFIGS)
    assert thresholds.cohorts["image_classification/nvidia-h100-80gb/gpu"].n == 5
    rated = apply_ratings(frame, thresholds)
    assert rated["rating_note"].iloc[2] == UNSTABLE_NOTE
    assert pd.isna(rated["stars"].iloc[2]) and pd.isna(rated["rank"].iloc[2])
    assert rated["rank"].dropna().tolist() == [1, 2, 3, 4, 5]


def test_an_unstable_rerun_leaves_the_earlier_valid_result_rated() -> None:
    frame = cohort_frame([1.0, 2.0, 3.0, 4.0, 5.0])
    rerun = frame.iloc[[0]].assign(finished_at=T0 + timedelta(days=1), scored_energy_wh_per_1k=9.0, unstable=True)
    frame = pd.concat([frame.assign(unstable=False), rerun], ignore_index=True)
    rated = apply_ratings(frame, compute_thresholds(frame, CONFIGS))
    assert (rated["stars"].iloc[0], rated["rank"].iloc[0]) == (5, 1)
    assert rated["rating_note"].iloc[5] == UNSTABLE_NOTE


def test_imported_results_of_another_protocol_get_their_own_cohort() -> None:
    native = cohort_frame([1.0, 2.0, 3.0, 4.0, 5.0])
    imported = cohort_frame([0.5] * 5).assign(cohort_protocol="imported:ob-0.6.0")
    frame = pd.concat([native, imported.assign(model_id=[f"x/{i}" for i in range(5)])], ignore_index=True)
    frame.loc[:4, "cohort_protocol"] = None  # a missing value means native, like an absent column
    thresholds = compute_thresholds(frame, CONFIGS)
    assert sorted(thresholds.cohorts) == [
        "image_classification/nvidia-h100-80gb/gpu",
        "image_classification/nvidia-h100-80gb/gpu/imported:ob-0.6.0",
    ]
    assert thresholds.cohorts["image_classification/nvidia-h100-80gb/gpu"].n == 5


def test_a_gpu_and_a_cpu_score_on_one_hardware_class_are_separate_cohorts() -> None:
    gpu = cohort_frame([1.0] * 5, hardware_class="h200-node")
    cpu = cohort_frame([1.0] * 5, hardware_class="h200-node", scored_device="cpu")
    thresholds = compute_thresholds(pd.concat([gpu, cpu], ignore_index=True), CONFIGS)
    assert sorted(thresholds.cohorts) == ["image_classification/h200-node/cpu", "image_classification/h200-node/gpu"]


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
def test_quintile_bands_are_balanced_for_figures_without_intervals(energies: list[float]) -> None:
    n = len(energies)
    counts = Counter(rate(energies)["stars"].tolist())
    assert sorted(counts) == [1, 2, 3, 4, 5]
    assert all(n // 5 <= counts[s] <= -(-n // 5) for s in range(1, 6))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(energies_strategy, st.sampled_from([0.0, 0.01, 0.05, 0.3])), min_size=5, max_size=40))
def test_stars_are_reproducible_from_cuts(figures: list[tuple[float, float]]) -> None:
    energies = [energy for energy, _ in figures]
    frame = cohort_frame(energies, half_widths=[half_width for _, half_width in figures])
    thresholds = compute_thresholds(frame, CONFIGS)
    cohort = thresholds.cohorts["image_classification/nvidia-h100-80gb/gpu"]
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


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=3), min_size=2, max_size=25),
    st.floats(min_value=1e-3, max_value=1e3),
    st.randoms(use_true_random=False),
)
def test_repeat_measurements_of_one_architecture_share_their_stars(
    group_sizes: list[int], base: float, rng: random.Random
) -> None:
    """Groups of 1-3 figures within 2 % (one architecture, re-run or re-initialised), each with an interval of
    +-2 %, groups 30-200 % apart."""
    energies, group_of = [], []
    level = base
    for group, size in enumerate(group_sizes):
        level *= 1.3 + 0.7 * rng.random()
        for _ in range(size):
            energies.append(level * (1 + 0.02 * rng.random()))
            group_of.append(group)
    rated = rate(energies, half_width=0.02).assign(group=group_of)
    if rated["stars"].isna().all():
        return  # too small a cohort to rate
    assert (rated.groupby("group")["stars"].nunique() == 1).all()
    assert rated["stars"].max() == 5 and rated["stars"].min() == 1  # best and worst keep the ends of the scale


def test_identical_pairs_share_stars_where_plain_quintiles_split_them() -> None:
    """Three architectures, two random initialisations each, as in the demo: the pairs measured ~1 % apart, each
    figure +-2 %."""
    energies = [0.00198, 0.00201, 0.00306, 0.00309, 0.0061, 0.0062]
    assert rate(energies)["stars"].tolist() == [5, 4, 3, 3, 2, 1]  # points: plain quintiles
    assert rate(energies, half_width=0.02)["stars"].tolist() == [5, 5, 3, 3, 1, 1]


# --- the tie rule keeps its word (issue 18, finding 5) ----------------------------------------------------------


def test_a_cut_never_falls_between_two_overlapping_figures() -> None:
    """Tie groups anchored at their first figure cut between 1.10 and 1.1005 (10 % past 1.00): 0.05 % apart."""
    energies = [1.0, 1.05, 1.10, 1.1005, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    rated = rate(energies, half_width=0.05)
    assert overlapping_pairs_with_other_stars(rated) == []
    assert rated["stars"].iloc[2] == rated["stars"].iloc[3]
    assert rated["stars"].tolist() == [5, 5, 5, 5, 4, 3, 2, 2, 1, 1]


def test_evenly_close_figures_are_one_tie_group_not_41_0_0_0_9() -> None:
    """50 figures evenly over 1.00-1.12, each +-1 %: every neighbour overlaps the next, so none can be told apart.
    Anchored groups gave bands 41/0/0/0/9, figures 0.2 % apart getting 5 and 1 stars."""
    energies = [1.0 + 0.12 * i / 49 for i in range(50)]
    rated = rate(energies, half_width=0.01)
    assert overlapping_pairs_with_other_stars(rated) == []
    assert rated["stars"].tolist() == [5] * 50
    assert Counter(rate(energies)["stars"]) == dict.fromkeys(range(1, 6), 10)  # as points they are quintiles


def test_in_200_log_uniform_figures_only_disjoint_intervals_are_split() -> None:
    """200 figures log-uniform over 1e-3..1, each +-5 %: anchored groups at a 10 % margin split neighbours 1.5-6 %
    apart. Now each cut falls between intervals that do not touch, and all five star levels are used."""
    rng = random.Random(18)
    energies = sorted(10 ** rng.uniform(-3, 0) for _ in range(200))
    rated = rate(energies, half_width=0.05)
    assert overlapping_pairs_with_other_stars(rated) == []
    stars = rated["stars"].tolist()
    for below, above, star_below, star_above in zip(energies, energies[1:], stars, stars[1:], strict=False):
        if star_below != star_above:
            assert below * 1.05 < above * 0.95
            assert star_below - star_above == 1  # no empty star level between neighbours
    assert sorted(set(stars)) == [1, 2, 3, 4, 5]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(min_value=1.0, max_value=3.0), st.sampled_from([0.0, 0.005, 0.02, 0.1])),
        min_size=5,
        max_size=60,
    )
)
def test_overlapping_intervals_always_share_their_stars(figures: list[tuple[float, float]]) -> None:
    energies = [energy for energy, _ in figures]
    frame = cohort_frame(energies, half_widths=[half_width for _, half_width in figures])
    rated = apply_ratings(frame, compute_thresholds(frame, CONFIGS))
    assert overlapping_pairs_with_other_stars(rated) == []
    by_energy = rated.sort_values("scored_energy_wh_per_1k")
    assert by_energy["stars"].is_monotonic_decreasing
    stars = by_energy["stars"].tolist()
    assert stars[0] == 5
    if len(set(stars)) > 1:
        assert stars[-1] == 1
    if len(set(stars)) == 5:
        assert all(a - b <= 1 for a, b in itertools.pairwise(stars))


def test_thresholds_published_with_a_tie_margin_still_read() -> None:
    """Files published before ties came from the intervals carry each task's `tie_margin`; they still parse."""
    frame = cohort_frame([1.0, 2.0, 3.0, 4.0, 5.0])
    published = json.loads(thresholds_to_json(compute_thresholds(frame, CONFIGS)))
    for scope in published["tasks"].values():
        assert "tie_margin" not in scope
        scope["tie_margin"] = 0.1
    old = thresholds_from_json(json.dumps(published))
    assert old.cohorts == compute_thresholds(frame, CONFIGS).cohorts


result_rows = st.fixed_dictionaries(
    {
        "model_id": st.sampled_from([f"org/m{i}" for i in range(8)]),
        "revision": st.sampled_from(["r1", "r2"]),
        "precision": st.sampled_from(["float32", "float16"]),
        "task": st.sampled_from(["image_classification", "text_generation"]),
        "config_version": st.sampled_from([CURRENT, CURRENT, CURRENT, "0.9"]),
        "machine": st.sampled_from([("nvidia-h200x1", "gpu"), ("nvidia-h100x1", "gpu"), ("cpu-epyc-2c", "cpu")]),
        "size_class": st.sampled_from(["A", "B"]),
        "cohort_protocol": st.sampled_from(["native", "native", "imported:ob-0.6.0"]),
        "unstable": st.booleans(),
        "scored_energy_wh_per_1k": st.sampled_from([0.5, 1.0, 2.0]) | energies_strategy,
        "minute": st.integers(min_value=0, max_value=30),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(result_rows, min_size=1, max_size=60), st.sampled_from(["quintile", "equal_width"]))
def test_any_sequence_of_results_rates_one_row_per_entry_and_cohort(rows: list[dict], method: RatingMethod) -> None:
    frame = pd.DataFrame(
        [
            {
                **{k: v for k, v in row.items() if k not in ("machine", "minute")},
                "hardware_class": row["machine"][0],
                "scored_device": row["machine"][1],
                "finished_at": T0 + timedelta(minutes=row["minute"]),
                "result_id": f"{i:08d}",
            }
            for i, row in enumerate(rows)
        ]
    )
    thresholds = compute_thresholds(frame, CONFIGS, method=method, min_cohort_size=3)
    rated = apply_ratings(frame, thresholds_from_json(thresholds_to_json(thresholds)))
    published = json.loads(thresholds_to_json(thresholds))
    entry = ["model_id", "revision", "precision"]

    ranked = rated[rated["rank"].notna()]
    for _, group in ranked.groupby(["cohort", "config_version"]):
        ranks = sorted(int(r) for r in group["rank"])
        assert sorted(set(ranks)) == list(range(1, len(set(ranks)) + 1))  # 1..k, no gap
        assert max(ranks) <= len(group)
        assert not group.duplicated(entry).any()  # each model once per cohort
        by_energy = group.sort_values("scored_energy_wh_per_1k")
        assert by_energy["rank"].is_monotonic_increasing
        if group["scored_energy_wh_per_1k"].is_unique:
            assert ranks == list(range(1, len(group) + 1))

    for _, group in rated.groupby([*entry, "cohort", "config_version"]):
        valid = group[~group["unstable"]]
        assert len(group[group["rank"].notna()]) == (1 if len(valid) else 0)
        if len(valid):  # the ranked row is the latest valid one
            assert group.loc[group["rank"].notna(), "finished_at"].iloc[0] == valid["finished_at"].max()

    assert rated.loc[rated["unstable"], "stars"].isna().all() and rated.loc[rated["unstable"], "rank"].isna().all()
    for row in rated[rated["stars"].notna()].itertuples():
        cuts = published["cohorts"][row.cohort]["cuts_wh_per_1k"]
        assert 5 - sum(row.scored_energy_wh_per_1k > cut for cut in cuts) == row.stars
    is_current = [CONFIGS[t].config_version == v for t, v in zip(ranked["task"], ranked["config_version"], strict=True)]
    current = ranked.loc[pd.Series(is_current, index=ranked.index, dtype=bool)]
    for key, group in current.groupby("cohort"):
        cohort = thresholds.cohorts[str(key)]
        assert cohort.n == len(group)
        assert group["stars"].notna().all() == (cohort.cuts_wh_per_1k is not None)
