"""Repetition statistics: mean, std, Student-t CI, error propagation, and the refusal of non-positive readings."""

from __future__ import annotations

import math
import sys

import pytest

from runner.stats import NonPositiveReadingError, difference, percentile, summarize, t_quantile_95


def test_summary_of_three_readings() -> None:
    s = summarize([1.0, 2.0, 3.0])
    assert (s.mean, s.std, s.n, s.df) == (2.0, 1.0, 3, 2.0)
    assert s.sem == pytest.approx(1 / math.sqrt(3))
    low, high = s.ci95
    assert high - s.mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert s.mean - low == pytest.approx(high - s.mean)


def test_single_reading_has_a_point_interval() -> None:
    s = summarize([5.0])
    assert s.std == 0.0 and s.ci95 == (5.0, 5.0)


@pytest.mark.parametrize("bad", [0.0, -1e-9, float("nan")])
def test_non_positive_reading_is_refused_and_named(bad: float) -> None:
    with pytest.raises(NonPositiveReadingError) as info:
        summarize([1.0, bad, 2.0], "decode on gpu")
    assert info.value.index == 1
    assert "decode on gpu: reading 2" in str(info.value)


def test_negative_allowed_when_asked() -> None:
    assert summarize([-1.0, 1.0], require_positive=False).mean == 0.0


def test_no_readings_is_an_error() -> None:
    with pytest.raises(ValueError, match="no readings"):
        summarize([])


def test_difference_adds_variances_with_welch_df() -> None:
    a = summarize([10.0, 12.0, 14.0, 16.0])
    b = summarize([3.0, 4.0, 5.0, 6.0])
    d = difference(a, b)
    assert d.mean == pytest.approx(a.mean - b.mean)
    assert d.sem == pytest.approx(math.sqrt(a.sem**2 + b.sem**2))
    assert d.std == pytest.approx(math.sqrt(a.std**2 + b.std**2))
    expected_df = d.sem**4 / (a.sem**4 / 3 + b.sem**4 / 3)
    assert d.df == pytest.approx(expected_df)
    low, high = d.ci95
    assert low < d.mean < high


def test_scaling_changes_units_only() -> None:
    s = summarize([1.0, 3.0]).scaled(1000 / 3600)
    assert s.mean == pytest.approx(2000 / 3600)
    assert s.std == pytest.approx(math.sqrt(2) * 1000 / 3600)


def test_t_table_without_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    with_scipy = t_quantile_95(4)
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    assert t_quantile_95(4) == 2.776
    assert t_quantile_95(4) == pytest.approx(with_scipy, abs=1e-3)
    assert t_quantile_95(11) == 2.228  # the tabulated df just below: conservative


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 95) == 5.0
    assert percentile(list(range(101)), 95) == pytest.approx(95.0)
