"""Statistics: mean, sample standard deviation and a Student-t 95% confidence interval, over plain readings or
over rounds of a stratified plan (`stratified_mean`).

A reading of zero or less is a broken measurement (a stalled counter, a wrapped RAPL register), never a fast
model: it raises `NonPositiveReadingError` instead of being averaged in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Two-sided 95% Student t quantiles by degrees of freedom, used when scipy is not importable.
_T95 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    12: 2.179,
    15: 2.131,
    20: 2.086,
    25: 2.060,
    30: 2.042,
    40: 2.021,
    60: 2.000,
    120: 1.980,
}


class NonPositiveReadingError(ValueError):
    """A reading was zero or negative; the message names the figure and the reading."""

    def __init__(self, label: str, index: int, value: float) -> None:
        super().__init__(f"{label}: reading {index + 1} read {value!r}, which is not a positive energy")
        self.label = label
        self.index = index
        self.value = value


def t_quantile_95(df: float) -> float:
    """Two-sided 95% quantile of Student's t with `df` degrees of freedom."""
    if df <= 0 or math.isinf(df):
        return 1.959964
    try:
        from scipy.stats import t as student_t

        return float(student_t.ppf(0.975, df))
    except ImportError:
        # Conservative: the quantile of the largest tabulated df not above df.
        key = max((k for k in _T95 if k <= df), default=1)
        return _T95[key]


@dataclass(frozen=True)
class Summary:
    """Mean of n readings with its spread. Units are whatever the readings were in.

    `std` is the spread of one reading; `sem` the standard error of the mean; `df` the degrees of freedom of the
    t interval (Welch-Satterthwaite for derived figures).
    """

    mean: float
    std: float
    n: int
    sem: float
    df: float

    @property
    def ci95(self) -> tuple[float, float]:
        if self.n < 2 or self.sem == 0:
            return (self.mean, self.mean)
        half = t_quantile_95(self.df) * self.sem
        return (self.mean - half, self.mean + half)

    @property
    def relative_half_width(self) -> float | None:
        """Half the 95% interval of the mean over the mean; None without an interval (one reading, zero mean)."""
        if self.n < 2 or self.mean <= 0:
            return None
        return t_quantile_95(self.df) * self.sem / self.mean

    @property
    def cv(self) -> float | None:
        """Coefficient of variation (std / mean) of one reading; None for one reading or a zero mean."""
        if self.n < 2 or self.mean == 0:
            return None
        return self.std / abs(self.mean)

    def scaled(self, factor: float) -> Summary:
        """The same summary with every reading multiplied by `factor` (a unit change)."""
        f = abs(factor)
        return Summary(mean=self.mean * factor, std=self.std * f, n=self.n, sem=self.sem * f, df=self.df)


def summarize(readings: Sequence[float], label: str = "reading", require_positive: bool = True) -> Summary:
    """Mean, sample std (n-1) and standard error of repetition readings.

    Raises:
        NonPositiveReadingError: a reading is <= 0 while `require_positive`.
        ValueError: no readings.
    """
    if not readings:
        raise ValueError(f"{label}: no readings")
    if require_positive:
        for i, value in enumerate(readings):
            if not value > 0:
                raise NonPositiveReadingError(label, i, value)
    n = len(readings)
    mean = math.fsum(readings) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in readings) / (n - 1)) if n > 1 else 0.0
    return Summary(mean=mean, std=std, n=n, sem=std / math.sqrt(n), df=float(n - 1))


def stratified_mean(values_by_stratum: Sequence[Sequence[float]], weights: Sequence[float], label: str) -> Summary:
    """The mean over a fixed population measured in strata, each stratum measured once per round.

    The population (every sample of the config) is split into strata (the slices); a round measures every
    stratum once. The mean is sum_s w_s * mean_s, with w_s the stratum's share of the samples (weights sum to 1).
    Its uncertainty is measurement uncertainty only: the strata are the whole population, not a sample of it, so
    how different they are is no error. Each stratum's variance comes from its repeats across rounds, and
    var(mean) = sum_s w_s^2 * var_s / rounds_s; degrees of freedom by Welch-Satterthwaite over the strata, so two
    rounds of five slices already give up to five. It assumes the windows' errors are independent (each slice is
    its own window, at its own time). `std` is the spread of one round's whole-population figure, `n` the rounds.

    Raises:
        NonPositiveReadingError: a reading is <= 0.
        ValueError: no strata, or a stratum without readings.
    """
    if not values_by_stratum or any(not values for values in values_by_stratum):
        raise ValueError(f"{label}: a stratum without readings")
    index = 0
    for values in values_by_stratum:
        for value in values:
            if not value > 0:
                raise NonPositiveReadingError(label, index, value)
            index += 1
    total_weight = math.fsum(weights)
    shares = [w / total_weight for w in weights]
    parts = [summarize(values, label, require_positive=False) for values in values_by_stratum]
    mean = math.fsum(w * p.mean for w, p in zip(shares, parts, strict=True))
    terms = [w * w * p.sem**2 for w, p in zip(shares, parts, strict=True)]
    variance = math.fsum(terms)
    rounds = min(p.n for p in parts)
    df_terms = [t * t / p.df for t, p in zip(terms, parts, strict=True) if p.df > 0 and t > 0]
    df = variance**2 / math.fsum(df_terms) if df_terms and variance > 0 else float(max(rounds - 1, 0))
    sem = math.sqrt(variance)
    return Summary(mean=mean, std=sem * math.sqrt(rounds), n=rounds, sem=sem, df=df)


def difference(a: Summary, b: Summary) -> Summary:
    """a - b for independent means: variances add, degrees of freedom by Welch-Satterthwaite."""
    sem = math.sqrt(a.sem**2 + b.sem**2)
    std = math.sqrt(a.std**2 + b.std**2)
    terms = [(s.sem**4 / s.df) for s in (a, b) if s.df > 0 and s.sem > 0]
    df = (sem**4 / math.fsum(terms)) if terms and sem > 0 else float(min(a.n, b.n) - 1)
    return Summary(mean=a.mean - b.mean, std=std, n=min(a.n, b.n), sem=sem, df=df)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between order statistics."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
