"""Precision of the mean, not spread of the slices: every sample counts once per round, added repetitions are
whole rounds, the interval describes measurement uncertainty and shrinks with rounds, and a verification replays
the published plan."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench import precision_sim
from leaderboard_data.records import Outputs
from runner.engine import BenchmarkSpec, run_benchmark
from runner.figures import compute_figures, over_rounds, total_summary
from runner.protocol import Measurement, slices
from runner.readings import DeviceInfo, IdleReading, RepetitionReading, RunReadings, Window
from runner.verification import replay_spec
from tests import helpers_engine as h
from tests.helpers_results import make_result
from tests.test_protocol import UnevenTask, cpu_time_meters

CPU = DeviceInfo(measured=False, source="codecarbon_tdp_model", resolution_s=0.0)


def reading(slice_index: int, round_index: int, joules_per_query: float, samples: int = 10) -> RepetitionReading:
    return RepetitionReading(
        slice_index=slice_index,
        queries=samples,
        preprocess=Window({"cpu": 1e-9 * samples}, 0.01),
        preprocess_queries=samples,
        inference=Window({"cpu": joules_per_query * samples}, 1.0),
        phase_j={("forward", "cpu"): joules_per_query * samples},
        phase_s={"forward": 1.0},
        latencies_s=[0.1] * samples,
        outputs=Outputs(queries=samples),
        round_index=round_index,
        slice_samples=samples,
    )


def run_of(reps: list[RepetitionReading]) -> RunReadings:
    empty = Window({"cpu": 1.0}, 1.0)
    return RunReadings({"cpu": CPU}, ("forward",), None, empty, 20, IdleReading(empty, empty, 0.0), reps)


# --- finding: a reused slice counted twice in the mean --------------------------------------------------------------


def test_a_slice_measured_again_counts_once_in_the_mean() -> None:
    """Old protocol: an extra repetition reused slice 0, so the light slice weighed 2/3 of the mean."""
    light, heavy = 1.0, 20.0
    reused = [reading(0, 0, light), reading(1, 0, heavy), reading(0, 1, light)]
    whole_set = (light + heavy) / 2
    assert total_summary(run_of(reused), "cpu").mean == pytest.approx(whole_set, rel=1e-6)


def test_slices_are_weighted_by_their_samples() -> None:
    reps = [reading(0, r, 1.0, samples=3) for r in range(2)] + [reading(1, r, 4.0, samples=1) for r in range(2)]
    assert total_summary(run_of(reps), "cpu").mean == pytest.approx((3 * 1.0 + 4.0) / 4, rel=1e-6)


# --- finding: the CV over disjoint slices is the dataset's variety, and does not shrink --------------------------


def test_the_old_cv_over_slices_does_not_shrink_but_the_interval_of_the_mean_does() -> None:
    cvs = [precision_sim.old_cv_by_windows(200, 0.03, windows, seed=3) for windows in (5, 20)]
    assert cvs[1] > 0.8 * cvs[0] and cvs[1] > precision_sim.CV_MAX  # more windows, the same variety
    widths = [precision_sim.half_width_by_rounds(200, 0.03, rounds, seed=3) for rounds in (2, 8)]
    assert widths[1] < widths[0] / 2  # more rounds, a sharper mean


def test_slices_that_differ_a_lot_but_read_the_same_each_round_are_precise() -> None:
    """Variety between slices is no error: the same slices read alike in each round give a narrow interval."""
    reps = [reading(i, r, [1.0, 20.0, 5.0][i] * (1 + 0.001 * r)) for r in range(2) for i in range(3)]
    figures = compute_figures(run_of(reps), "cpu", 0.25)
    assert figures.relative_half_width is not None and figures.relative_half_width < 0.01
    assert figures.scored_total.repetitions == 2  # the mean of two rounds


def test_one_round_has_no_interval() -> None:
    figures = compute_figures(run_of([reading(i, 0, 1.0 + i) for i in range(3)]), "cpu", 0.25)
    assert figures.relative_half_width is None
    assert figures.scored_total.ci95_low_wh_per_1k == figures.scored_total.ci95_high_wh_per_1k


# --- the protocol: added repetitions are whole rounds, never a reused slice --------------------------------------


def uneven_spec(tmp_path: Path, budget_s: float) -> BenchmarkSpec:
    """Slices 20x apart, and a rule no run on this machine meets, so rounds are added until the budget is spent."""
    rounds = {"base": 2, "max_relative_half_width": 1e-9, "added_rounds_budget_s": {"cpu": budget_s, "cuda": 0}}
    return BenchmarkSpec(
        model_id="tests/uneven",
        model_dir=h.build_mlp(tmp_path / "mlp"),
        revision="0" * 40,
        task_config=h.task_config(num_samples=8, repetitions=2, rounds=rounds),
        min_window_s=0.05,
    )


def measure(spec: BenchmarkSpec) -> RunReadings:
    task = UnevenTask(spec.task_config, spec.model_dir, "cpu", "float32")
    measurement = Measurement(task=task, meters=cpu_time_meters(), settings=spec.protocol_settings(), monitor=None)
    _, readings = measurement.measure(task.load, lambda: task.samples("unused", spec.resolved_samples))
    return readings


def test_added_repetitions_are_whole_rounds_over_every_slice(tmp_path: Path) -> None:
    readings = measure(uneven_spec(tmp_path, budget_s=1.5))
    rounds = readings.base_rounds + readings.added_rounds
    assert readings.base_rounds == 2 and readings.added_rounds >= 1
    assert Counter(r.slice_index for r in readings.repetitions) == {0: rounds, 1: rounds}
    by_round: dict[int, set[int]] = {}
    for r in readings.repetitions:
        by_round.setdefault(r.round_index, set()).add(r.slice_index)
    assert by_round == {n: {0, 1} for n in range(rounds)}
    assert all(r.slice_samples == 4 for r in readings.repetitions)


def test_a_result_records_its_base_and_added_rounds_and_is_unstable_above_the_rule(tmp_path: Path) -> None:
    r = run_benchmark(uneven_spec(tmp_path, budget_s=1.0), meters=cpu_time_meters(), task_class=UnevenTask)
    assert r.base_rounds == 2 and r.added_rounds is not None and r.added_rounds >= 1
    assert r.repetitions == 2  # slices of the samples
    total = r.figure("total", "cpu")
    assert total is not None and total.repetitions == r.base_rounds + r.added_rounds
    assert r.unstable and r.relative_half_width is not None and r.relative_half_width > 1e-9


def test_without_a_budget_no_round_is_added(tmp_path: Path) -> None:
    r = run_benchmark(uneven_spec(tmp_path, budget_s=0.0), meters=cpu_time_meters(), task_class=UnevenTask)
    assert (r.base_rounds, r.added_rounds) == (2, 0) and r.unstable


def test_a_precise_mean_adds_no_round(tmp_path: Path) -> None:
    spec = uneven_spec(tmp_path, budget_s=30.0)
    loose = spec.task_config.rounds.model_copy(update={"max_relative_half_width": 10.0})
    spec.task_config = spec.task_config.model_copy(update={"rounds": loose})
    r = run_benchmark(spec, meters=cpu_time_meters(), task_class=UnevenTask)
    assert (r.base_rounds, r.added_rounds) == (2, 0) and not r.unstable


# --- verification replays the same plan ------------------------------------------------------------------------


def test_a_verification_replays_the_published_slices_and_rounds(tmp_path: Path) -> None:
    published = make_result(samples=50, repetitions=5, base_rounds=2, added_rounds=1)
    config = h.task_config(num_samples=50, repetitions=5)
    spec = replay_spec(published, config, tmp_path, "unused", device="cpu", hardware_class="c", worker_id="v")
    assert (spec.resolved_samples, spec.resolved_repetitions, spec.resolved_rounds) == (50, 5, 3)
    assert spec.protocol_settings().added_budget_s == 0.0
    samples: list[Any] = list(range(50))
    assert slices(samples, spec.resolved_repetitions) == slices(samples, published.repetitions)


# --- a simulated reasoning cohort ------------------------------------------------------------------------------


def test_a_simulated_reasoning_cohort_becomes_rateable() -> None:
    """50 prompts in 5 slices of 10, 0-8,192 output tokens each: most fail the old CV gate, none the rounds rule."""
    outcome = precision_sim.simulate_cohort(models=300, noise=0.03, added_rounds=2, seed=7)
    assert outcome.old_unstable_share > 0.5
    assert outcome.rounds_unstable_share <= 0.05


def test_the_interval_of_the_mean_holds_the_true_mean_about_95_times_in_100() -> None:
    """With independent window noise, as the stratified estimate assumes; a shift common to a whole round is what it
    assumes away (bench/precision_sim.py --round-noise shows its cost)."""
    assert 0.93 <= precision_sim.coverage_95(models=1000, noise=0.03, round_noise=0.0, seed=11) <= 1.0


def test_over_rounds_refuses_a_non_positive_reading() -> None:
    from runner.stats import NonPositiveReadingError

    with pytest.raises(NonPositiveReadingError, match="total"):
        over_rounds([reading(0, 0, 1.0), reading(0, 1, 0.0)], lambda r: r.inference.joules["cpu"], "total")
