"""Does the tie rule keep its promise? The leaderboard's quintile cuts on synthetic cohorts.

The promise (`leaderboard_data.ratings.quintile_cuts`): two results of a cohort whose 95 % intervals overlap get
the same stars. Each synthetic result is a figure with an interval of +-NOISE (relative); a re-run of the cohort
draws every figure again, uniformly within its own interval, and gives the new figure the same +-NOISE. Stars
come from the leaderboard's own functions (`quintile_cuts`, `stars_from_cuts`). Prints, per noise level (1 %,
then 5 %):

    rerun_same_stars: share of results that keep their stars when the whole cohort is re-run (goal at 1 %: >= 0.95)
    max_star_gap_within_noise: the largest star difference between two results whose intervals overlap (goal
        <= 1), within one cohort (the promise makes it 0) and between a cohort and its re-run
    band_shares: mean share of each star level, 5 stars first
    largest_band_share: the share of its cohort the largest star band holds, mean and worst over the cohorts (a
        tie group can be wider than a fifth: a chain of overlapping intervals is never cut)

for three cohort shapes: 200 figures log-uniform over 1e-3..1, 50 figures evenly over 1.00-1.12, and 20 figures
log-uniform over 1e-3..1 (a one-machine leaderboard's size); and, for comparison, the re-run share for plain
quintiles (the same figures without intervals).

    python -m bench.ratings_sim [--cohorts 200] [--seed 18]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from leaderboard_data.ratings import STAR_LEVELS, RatedFigure, quintile_cuts, stars_from_cuts

NOISE_LEVELS = (0.01, 0.05)
Cohort = Callable[[random.Random], list[float]]


def log_uniform_200(rng: random.Random) -> list[float]:
    """200 figures spread log-uniformly over three decades, 1e-3..1 Wh per 1,000 queries."""
    return [10 ** rng.uniform(-3, 0) for _ in range(200)]


def log_uniform_20(rng: random.Random) -> list[float]:
    """20 figures over the same three decades: a cohort the size of one task's leaderboard on one machine."""
    return [10 ** rng.uniform(-3, 0) for _ in range(20)]


def even_50_within_12_percent(rng: random.Random) -> list[float]:
    """50 figures evenly over 1.00-1.12: every neighbour 0.24 % from the next."""
    return [1.0 + 0.12 * i / 49 for i in range(50)]


COHORTS: dict[str, Cohort] = {
    "200 log-uniform over 1e-3..1": log_uniform_200,
    "50 evenly over 1.00-1.12": even_50_within_12_percent,
    "20 log-uniform over 1e-3..1": log_uniform_20,
}


def with_intervals(energies: Sequence[float], noise: float) -> list[RatedFigure]:
    return [RatedFigure(e, e * (1 - noise), e * (1 + noise)) for e in energies]


def rated_stars(figures: Sequence[RatedFigure]) -> list[int]:
    """Each figure's stars, as the leaderboard gives them: cuts from the cohort, stars from the cuts alone."""
    cuts = quintile_cuts(figures)
    return [stars_from_cuts(figure.energy_wh_per_1k, cuts) for figure in figures]


def max_gap_between_overlapping(figures: Sequence[RatedFigure], stars: Sequence[int]) -> int:
    """The largest star difference over all pairs whose intervals overlap (a sweep over intervals by their start)."""
    ordered = sorted(zip(figures, stars, strict=True), key=lambda pair: pair[0].low_wh_per_1k)
    gap = 0
    for index, (figure, star) in enumerate(ordered):
        for other, other_star in ordered[index + 1 :]:
            if other.low_wh_per_1k > figure.high_wh_per_1k:
                break
            gap = max(gap, abs(star - other_star))
    return gap


@dataclass
class Outcome:
    """What the simulation measured for one cohort shape at one noise level."""

    same_stars: int = 0
    results: int = 0
    same_stars_points: int = 0
    gap_within: int = 0
    gap_across: int = 0
    band_counts: list[int] = field(default_factory=lambda: [0] * STAR_LEVELS)
    largest_band_shares: list[float] = field(default_factory=list)

    def band_shares(self) -> str:
        return "/".join(f"{count / max(self.results, 1):.2f}" for count in self.band_counts)


def simulate(cohort: Cohort, noise: float, cohorts: int, rng: random.Random) -> Outcome:
    outcome = Outcome()
    for _ in range(cohorts):
        energies = cohort(rng)
        rerun = [e * (1 + rng.uniform(-noise, noise)) for e in energies]
        first, second = with_intervals(energies, noise), with_intervals(rerun, noise)
        stars, stars_again = rated_stars(first), rated_stars(second)
        points = rated_stars(with_intervals(energies, 0.0)), rated_stars(with_intervals(rerun, 0.0))
        outcome.same_stars += sum(a == b for a, b in zip(stars, stars_again, strict=True))
        outcome.same_stars_points += sum(a == b for a, b in zip(*points, strict=True))
        outcome.results += len(energies)
        outcome.gap_within = max(
            outcome.gap_within,
            max_gap_between_overlapping(first, stars),
            max_gap_between_overlapping(second, stars_again),
        )
        outcome.gap_across = max(
            outcome.gap_across, max_gap_between_overlapping([*first, *second], [*stars, *stars_again])
        )
        for star in stars:
            outcome.band_counts[STAR_LEVELS - star] += 1
        outcome.largest_band_shares.append(max(stars.count(star) for star in set(stars)) / len(stars))
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cohorts", type=int, default=200, help="synthetic cohorts per shape and noise level")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    outcomes = {
        (name, noise): simulate(cohort, noise, args.cohorts, rng)
        for noise in NOISE_LEVELS
        for name, cohort in COHORTS.items()
    }
    print(f"cohorts: {args.cohorts} per shape and noise level, seed {args.seed}")
    for (name, noise), outcome in outcomes.items():
        share = outcome.same_stars / outcome.results
        points = outcome.same_stars_points / outcome.results
        print(f"rerun_same_stars: {share:.3f} ({noise:.0%} noise, {name}; plain quintiles {points:.3f})")
    for (name, noise), outcome in outcomes.items():
        print(
            f"max_star_gap_within_noise: {outcome.gap_within} within one cohort, {outcome.gap_across} against its "
            f"re-run ({noise:.0%} noise, {name})"
        )
    for (name, noise), outcome in outcomes.items():
        print(f"band_shares: {outcome.band_shares()} (5 to 1 stars; {noise:.0%} noise, {name})")
    for (name, noise), outcome in outcomes.items():
        largest = outcome.largest_band_shares
        print(
            f"largest_band_share: mean {sum(largest) / len(largest):.2f}, worst {max(largest):.2f} "
            f"({noise:.0%} noise, {name})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
