"""Figures from readings: pure functions, readings in and published figures out.

Every figure is Wh per 1,000 queries with a Student-t 95% interval of its mean over all the samples, and says
how it was
obtained (`method`, see `FigureMethod`) and whether a hardware counter measured it. A phase split by time inside
a window is `time_attributed` and never `measured`. Net-of-idle figures carry the idle baseline's uncertainty
(before vs after) as an interval; constant-power models (RAM) get none, and a net figure at or below zero is not
published but explained in `net_of_idle_note`. A figure whose readings are not positive is reported missing
(`MissingFigure`), except the scored total, whose failure fails the benchmark.

The samples are measured in slices, every slice once per round; a figure is the mean over all the samples, and
its interval is the measurement uncertainty of that mean, estimated from each slice's repeats across rounds
(`runner.stats.stratified_mean`): how different the slices are is the dataset's variety, not an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from leaderboard_data.records import EnergyFigure, IdleBaseline, MissingFigure
from runner.readings import DecodeMethod, DeviceInfo, FigureMethod, RepetitionReading, RunReadings, Window
from runner.stats import NonPositiveReadingError, Summary, difference, stratified_mean, summarize

J_PER_WH = 3600.0
DIRECT_MIN_UPDATES = 10
"""A phase is read from the marks as measured when it lasts at least this many meter updates per query."""


def wh_per_1k(joules_per_query: float) -> float:
    return joules_per_query * 1000.0 / J_PER_WH


@dataclass(frozen=True)
class IdlePower:
    """Idle power of one device: the mean of before and after, and the two as its range. Units: watts."""

    mean_w: float
    low_w: float
    high_w: float


@dataclass(frozen=True)
class NetOfIdle:
    """A figure less the idle energy over the same time; None with a note when it is not published."""

    mean: float | None
    low: float | None
    high: float | None
    note: str | None


@dataclass(frozen=True)
class Figures:
    """The published figures of one run, what is missing and why, and the scored figure's spread."""

    energy: list[EnergyFigure]
    missing: list[MissingFigure]
    idle: list[IdleBaseline]
    scored_total: EnergyFigure
    relative_half_width: float | None
    """Half the scored total's 95% interval over its mean; None without an interval (a single round)."""


def _power(window: Window, device: str) -> float:
    return max(window.joules.get(device, 0.0) / window.duration_s, 0.0) if window.duration_s > 0 else 0.0


def idle_baselines(readings: RunReadings, disagreement_max: float) -> tuple[list[IdleBaseline], dict[str, IdlePower]]:
    """Per device: idle power before and after, their mean, and a flag when they disagree beyond the threshold."""
    baselines: list[IdleBaseline] = []
    power: dict[str, IdlePower] = {}
    idle = readings.idle
    for device, info in readings.devices.items():
        before, after = _power(idle.before, device), _power(idle.after, device)
        mean = (before + after) / 2
        power[device] = IdlePower(mean, min(before, after), max(before, after))
        disagreement = abs(before - after) / mean if mean > 0 else None
        baselines.append(
            IdleBaseline(
                device=device,  # type: ignore[arg-type]
                mean_power_w=mean,
                before_power_w=before,
                after_power_w=after,
                duration_s=idle.before.duration_s + idle.after.duration_s,
                measured=info.measured,
                source=info.source,
                settle_s=idle.settle_s,
                disagreement=disagreement,
                disagrees=disagreement is not None and disagreement > disagreement_max,
            )
        )
    return baselines, power


def net_of_idle(gross: Summary, idle: IdlePower | None, seconds_per_query: float, constant_power: bool) -> NetOfIdle:
    """`gross` (Wh/1k) less idle power over `seconds_per_query`; its interval spans the idle range too.

    The interval runs from the gross interval's low end less the higher idle reading to its high end less the lower
    one (cut at zero). No net figure for a constant-power model, where idle and load are the same power by
    construction, or when the figure is not above idle.
    """
    if idle is None:
        return NetOfIdle(None, None, None, None)
    if constant_power:
        return NetOfIdle(None, None, None, "constant-power model: idle and load power are equal by construction")
    low, high = gross.ci95
    idle_wh = wh_per_1k(idle.mean_w * seconds_per_query)
    net = gross.mean - idle_wh
    if not net > 0:
        return NetOfIdle(
            None,
            None,
            None,
            f"not above idle: gross {gross.mean:.4g} Wh/1k, idle over the same time {idle_wh:.4g} Wh/1k",
        )
    net_low = max(low - wh_per_1k(idle.high_w * seconds_per_query), 0.0)
    net_high = high - wh_per_1k(idle.low_w * seconds_per_query)
    return NetOfIdle(net, net_low, net_high, None)


def phase_method(info: DeviceInfo, seconds_per_query: float) -> FigureMethod:
    """A phase read at marks inside a window: measured when the device's counter resolves it, else split by time."""
    if info.resolution_s > 0 and seconds_per_query >= DIRECT_MIN_UPDATES * info.resolution_s:
        return FigureMethod.WINDOW
    return FigureMethod.TIME_ATTRIBUTED


def make_figure(
    phase: str,
    device: str,
    info: DeviceInfo,
    summary_j: Summary,
    method: FigureMethod,
    idle: IdlePower | None,
    seconds_per_query: float,
) -> EnergyFigure:
    """An EnergyFigure from a summary of joules per query."""
    wh = summary_j.scaled(1000.0 / J_PER_WH)
    low, high = wh.ci95
    net = net_of_idle(wh, idle, seconds_per_query, info.constant_power)
    return EnergyFigure(
        phase=phase,
        device=device,  # type: ignore[arg-type]
        mean_wh_per_1k=wh.mean,
        std_wh_per_1k=wh.std,
        ci95_low_wh_per_1k=max(low, 0.0),  # energy is never negative: a wide t-interval is cut at zero
        ci95_high_wh_per_1k=high,
        repetitions=wh.n,
        measured=info.measured and method != FigureMethod.TIME_ATTRIBUTED,
        source=info.source,
        method=method.value,
        net_of_idle_mean_wh_per_1k=net.mean,
        net_of_idle_ci95_low_wh_per_1k=net.low,
        net_of_idle_ci95_high_wh_per_1k=net.high,
        net_of_idle_note=net.note,
    )


def over_rounds(reps: list[RepetitionReading], value: Callable[[RepetitionReading], float], label: str) -> Summary:
    """The mean of `value` over all the samples, each slice weighted by its samples, with its uncertainty from each
    slice's repeats across rounds. Raises NonPositiveReadingError for a reading <= 0."""
    by_slice: dict[int, list[float]] = {}
    weights: dict[int, float] = {}
    for r in reps:
        by_slice.setdefault(r.slice_index, []).append(value(r))
        weights[r.slice_index] = r.slice_samples
    order = sorted(by_slice)
    return stratified_mean([by_slice[i] for i in order], [weights[i] for i in order], label)


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def _per_query(window: Window, device: str, queries: int) -> float:
    return window.joules.get(device, 0.0) / queries


class _Collector:
    """Collects figures; a figure whose readings are not positive becomes a MissingFigure with the reason."""

    def __init__(self, idle: dict[str, IdlePower]) -> None:
        self.idle = idle
        self.energy: list[EnergyFigure] = []
        self.missing: list[MissingFigure] = []

    def add(
        self,
        phase: str,
        device: str,
        info: DeviceInfo,
        summary: Callable[[], Summary],
        method: FigureMethod,
        seconds_per_query: float,
    ) -> None:
        try:
            figure = make_figure(phase, device, info, summary(), method, self.idle.get(device), seconds_per_query)
        except NonPositiveReadingError as exc:
            self.missing.append(MissingFigure(phase=phase, device=device, reason=str(exc)))  # type: ignore[arg-type]
            return
        self.energy.append(figure)


def _phase_parts(readings: RunReadings, collect: _Collector, device: str, info: DeviceInfo) -> None:
    reps = readings.repetitions
    label = f"preprocess on {device}"
    collect.add(
        "preprocess",
        device,
        info,
        partial(over_rounds, reps, lambda r: _per_query(r.preprocess, device, r.preprocess_queries), label),
        FigureMethod.WINDOW,
        _mean([r.preprocess.duration_s / r.preprocess_queries for r in reps]),
    )
    if readings.decode_method == DecodeMethod.SUBTRACTED:
        _subtracted(readings, collect, device, info)
        return
    for phase in readings.phases:
        seconds = _mean([r.phase_s.get(phase, 0.0) / r.queries for r in reps])
        single = len(readings.phases) == 1  # the inference window holds this phase alone
        collect.add(
            phase,
            device,
            info,
            partial(over_rounds, reps, partial(_phase_j_per_query, phase=phase, device=device), f"{phase} on {device}"),
            FigureMethod.WINDOW if single else phase_method(info, seconds),
            seconds,
        )


def _phase_j_per_query(r: RepetitionReading, phase: str, device: str) -> float:
    return r.phase_j.get((phase, device), 0.0) / r.queries


def _subtracted(readings: RunReadings, collect: _Collector, device: str, info: DeviceInfo) -> None:
    """First phase from its own window; second = inference window - first, uncertainty propagated."""
    reps = readings.repetitions
    first_name, second_name = readings.phases[0], readings.phases[1]

    def first() -> Summary:
        measured = [r for r in reps if r.first_phase is not None]
        return over_rounds(
            measured,
            lambda r: _per_query(r.first_phase, device, r.first_phase_queries) if r.first_phase else 0.0,
            f"{first_name} on {device}",
        )

    def second() -> Summary:
        inference = over_rounds(reps, lambda r: _per_query(r.inference, device, r.queries), f"inference on {device}")
        value = difference(inference, first())
        if not value.mean > 0:
            raise NonPositiveReadingError(f"{second_name} on {device} (inference - {first_name})", 0, value.mean)
        return value

    first_s = _mean([r.first_phase.duration_s / r.first_phase_queries for r in reps if r.first_phase is not None])
    inference_s = _mean([r.inference.duration_s / r.queries for r in reps])
    collect.add(first_name, device, info, first, FigureMethod.WINDOW, first_s)
    collect.add(second_name, device, info, second, FigureMethod.SUBTRACTED, inference_s - first_s)


def _total_j(r: RepetitionReading, device: str) -> float:
    return _per_query(r.preprocess, device, r.preprocess_queries) + _per_query(r.inference, device, r.queries)


def _total_s(r: RepetitionReading) -> float:
    return r.preprocess.duration_s / r.preprocess_queries + r.inference.duration_s / r.queries


def total_summary(readings: RunReadings, device: str) -> Summary:
    """Joules per query of preprocess + inference over all the samples. Raises NonPositiveReadingError."""
    return over_rounds(readings.repetitions, lambda r: _total_j(r, device), f"total on {device} (J/query)")


def compute_figures(readings: RunReadings, scored: str, disagreement_max: float) -> Figures:
    """Every figure of a run. The scored device's total must be positive (else NonPositiveReadingError)."""
    idle, idle_power = idle_baselines(readings, disagreement_max)
    collect = _Collector(idle_power)
    reps = readings.repetitions
    for device, info in readings.devices.items():
        load_s = readings.load.duration_s / readings.samples
        collect.add(
            "load",
            device,
            info,
            partial(summarize, [readings.load.joules.get(device, 0.0) / readings.samples], f"load on {device}"),
            FigureMethod.WINDOW,
            load_s,
        )
    for device, info in readings.devices.items():
        _phase_parts(readings, collect, device, info)
        total_s = _mean([_total_s(r) for r in reps])
        if device == scored:
            summary = total_summary(readings, device)  # raises: the scored figure must exist
            collect.energy.append(
                make_figure("total", device, info, summary, FigureMethod.WINDOW, idle_power.get(device), total_s)
            )
        else:
            collect.add("total", device, info, partial(total_summary, readings, device), FigureMethod.WINDOW, total_s)
    scored_total = next(f for f in collect.energy if f.phase == "total" and f.device == scored)
    return Figures(collect.energy, collect.missing, idle, scored_total, scored_relative_half_width(readings, scored))


def scored_relative_half_width(readings: RunReadings, scored: str) -> float | None:
    """Half the 95% interval of the scored total's mean over the mean; None without an interval (one round) or
    with a reading that is not positive."""
    try:
        return total_summary(readings, scored).relative_half_width
    except NonPositiveReadingError:
        return None
