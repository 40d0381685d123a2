"""Simulate the rating gate on a reasoning cohort: the old CV over slices against the precision of the mean.

A simulated model answers 50 prompts (5 slices of 10) at natural length, 0-8,192 output tokens each (uniform),
so the slices differ a lot: that is the dataset's variety, the same in every run. Each window's reading carries
independent measurement noise (`--noise`, relative). Two gates:

- old: the CV of the scored figure over the 5 slice windows above 10 % adds windows that reuse the slices in
  order (up to `--added-rounds` x 5 of them); still above, the result is unstable.
- rounds: every slice once per round, 2 base rounds; the 95 % interval of the mean over all samples
  (`runner.stats.stratified_mean`) wider than +-5 % adds whole rounds (up to `--added-rounds`); still wider, the
  result is unstable.

It prints `name: value` lines: the unstable share under each gate, how the old CV and the new half-width move
with more windows or rounds, how far a reused slice moves the old mean from the mean over all samples, and how
often the new 95 % interval (2 base rounds) holds the true mean (`coverage_95`). `--round-noise` adds a shift
common to every window of a round, which the stratified interval assumes away: its coverage then shows by how
much that assumption costs.

Usage:
    python -m bench.precision_sim [--models 500] [--noise 0.03] [--round-noise 0] [--added-rounds 2] [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass

from runner.stats import stratified_mean, summarize

SAMPLES = 50
SLICES = 5
MAX_OUTPUT_TOKENS = 8192
CV_MAX = 0.10
BASE_ROUNDS = 2
MAX_RELATIVE_HALF_WIDTH = 0.05


@dataclass(frozen=True)
class SimulatedModel:
    """True joules per query of each slice (the mean over its samples), and the noise of one window's reading."""

    slice_j: list[float]
    noise: float

    @property
    def true_mean_j(self) -> float:
        return math.fsum(self.slice_j) / len(self.slice_j)

    def read(self, index: int, rng: random.Random) -> float:
        return self.slice_j[index] * max(1.0 + rng.gauss(0.0, self.noise), 0.01)


def reasoning_model(rng: random.Random, noise: float) -> SimulatedModel:
    """A model with its own speed: prefill ~ input tokens, decode ~ output tokens drawn at natural length."""
    per_token_j = rng.uniform(0.5, 5.0)
    per_prompt_j = rng.uniform(5.0, 50.0)
    tokens = [rng.uniform(0, MAX_OUTPUT_TOKENS) for _ in range(SAMPLES)]
    size = SAMPLES // SLICES
    slice_j = [
        math.fsum(per_prompt_j + per_token_j * t for t in tokens[i * size : (i + 1) * size]) / size
        for i in range(SLICES)
    ]
    return SimulatedModel(slice_j, noise)


def old_gate(model: SimulatedModel, rng: random.Random, added_windows: int) -> tuple[bool, float]:
    """(unstable, mean) under the CV-over-slices gate with slices reused in order."""
    readings = [model.read(i, rng) for i in range(SLICES)]
    while summarize(readings).std / summarize(readings).mean > CV_MAX and len(readings) < SLICES + added_windows:
        readings.append(model.read(len(readings) % SLICES, rng))
    summary = summarize(readings)
    return summary.std / summary.mean > CV_MAX, summary.mean


def rounds_summary(
    model: SimulatedModel, rng: random.Random, rounds: int, round_noise: float = 0.0
) -> tuple[float, float | None]:
    """(mean, relative half-width) of `rounds` rounds over every slice; `round_noise` shifts a whole round."""
    shifts = [max(1.0 + rng.gauss(0.0, round_noise), 0.01) for _ in range(rounds)]
    by_slice = [[model.read(i, rng) * shifts[r] for r in range(rounds)] for i in range(SLICES)]
    summary = stratified_mean(by_slice, [1.0] * SLICES, "total")
    return summary.mean, summary.relative_half_width


def coverage_95(models: int, noise: float, round_noise: float, seed: int) -> float:
    """Share of 2-round intervals that hold the model's true mean over all samples."""
    rng = random.Random(seed)
    held = 0
    for _ in range(models):
        model = reasoning_model(rng, noise)
        mean, width = rounds_summary(model, rng, BASE_ROUNDS, round_noise)
        held += width is not None and abs(model.true_mean_j - mean) <= width * mean
    return held / models


def rounds_gate(model: SimulatedModel, rng: random.Random, added_rounds: int) -> bool:
    """Unstable under the rounds rule: 2 base rounds, whole rounds added while the mean is imprecise."""
    by_slice = [[model.read(i, rng) for _ in range(BASE_ROUNDS)] for i in range(SLICES)]
    for _ in range(added_rounds + 1):
        width = stratified_mean(by_slice, [1.0] * SLICES, "total").relative_half_width
        if width is not None and width <= MAX_RELATIVE_HALF_WIDTH:
            return False
        if len(by_slice[0]) >= BASE_ROUNDS + added_rounds:
            break
        for i in range(SLICES):
            by_slice[i].append(model.read(i, rng))
    return True


@dataclass(frozen=True)
class CohortOutcome:
    old_unstable_share: float
    rounds_unstable_share: float
    old_mean_bias_max: float
    """The largest relative distance of an old-gate mean from the true mean over all samples."""


def simulate_cohort(models: int, noise: float, added_rounds: int, seed: int) -> CohortOutcome:
    rng = random.Random(seed)
    old_unstable = rounds_unstable = 0
    bias = 0.0
    for _ in range(models):
        model = reasoning_model(rng, noise)
        unstable, mean = old_gate(model, rng, added_rounds * SLICES)
        old_unstable += unstable
        bias = max(bias, abs(mean / model.true_mean_j - 1.0))
        rounds_unstable += rounds_gate(model, rng, added_rounds)
    return CohortOutcome(old_unstable / models, rounds_unstable / models, bias)


def old_cv_by_windows(models: int, noise: float, windows: int, seed: int) -> float:
    """Mean CV over slices of `windows` windows (slices reused in order): the dataset's variety, not shrinking."""
    rng = random.Random(seed)
    cvs = []
    for _ in range(models):
        model = reasoning_model(rng, noise)
        summary = summarize([model.read(i % SLICES, rng) for i in range(windows)])
        cvs.append(summary.std / summary.mean)
    return math.fsum(cvs) / len(cvs)


def half_width_by_rounds(models: int, noise: float, rounds: int, seed: int) -> float:
    """Median relative half-width of the mean over `rounds` rounds: it shrinks as rounds are added."""
    rng = random.Random(seed)
    widths = sorted(rounds_summary(reasoning_model(rng, noise), rng, rounds)[1] or math.inf for _ in range(models))
    return widths[len(widths) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--noise", type=float, default=0.03, help="relative noise of one window's reading")
    parser.add_argument("--round-noise", type=float, default=0.0, help="relative shift common to a whole round")
    parser.add_argument("--added-rounds", type=int, default=2, help="added-rounds budget, in rounds")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    outcome = simulate_cohort(args.models, args.noise, args.added_rounds, args.seed)
    print(f"models: {args.models}")
    print(f"window_noise: {args.noise}")
    print(f"old_cv_gate_unstable_share: {outcome.old_unstable_share:.3f}")
    print(f"rounds_rule_unstable_share: {outcome.rounds_unstable_share:.3f}")
    print(f"old_mean_bias_max: {outcome.old_mean_bias_max:.3f}")
    cvs = [old_cv_by_windows(args.models, args.noise, w, args.seed) for w in (5, 10, 20)]
    print("old_cv_by_windows_5_10_20: " + " ".join(f"{cv:.3f}" for cv in cvs))
    widths = [half_width_by_rounds(args.models, args.noise, r, args.seed) for r in (2, 4, 8)]
    print("half_width_by_rounds_2_4_8: " + " ".join(f"{w:.4f}" for w in widths))
    print(f"round_noise: {args.round_noise}")
    print(f"coverage_95: {coverage_95(args.models, args.noise, args.round_noise, args.seed):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
