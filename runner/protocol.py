"""The measurement protocol: windows, repetitions and idle baselines, returned as raw readings.

1. "load": the model is loaded inside a metered window (once).
2. An idle baseline (model loaded, nothing running) before and after the measured passes, each after a settle
   time (the power tail of the last work decays first), with edges taken just after a counter update.
3. The samples are split into `repetitions` disjoint slices. Preprocessing each slice is measured first, each in
   its own window, away from the inference windows (the accelerator is nearly idle while it runs).
4. Warm-up on the first prepared inputs, right before the inference windows; it also times each phase, which
   decides how two-phase tasks are split. On a device of the config's steady-power rule (a GPU), it goes on until
   successive counter windows read the same power (`WarmupSettings`), recorded in the result.
5. The inference windows run back to back: one repetition is one pass over its prepared slice (repeated only to
   reach the minimum window), and a round is one repetition of every slice, so every sample counts once per
   round.
6. Two-phase tasks: phases are read at the phase marks when the scored meter resolves the shortest phase
   (`DecodeMethod.DIRECT`), else the first phase is measured alone in its own window (`SUBTRACTED`).
7. `base_rounds` rounds are always measured. While the scored mean's 95% interval is wider than the config's
   `rounds.max_relative_half_width`, whole rounds are added within a time budget: never a lone slice, which would
   count its samples twice. Every round reuses the slices' prepared inputs and preprocess readings, so the
   inference windows stay back to back (preprocessing is measured once per slice).
8. Every window's foreign CPU load is checked (`LoadMonitor`); a contaminated window is measured again once the
   machine is quiet, and a machine that never gets quiet fails the benchmark as `machine_busy`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from leaderboard_data.configs import MeasurementChecks, WarmupSettings
from leaderboard_data.records import ErrorKind, Outputs, WarmupRecord
from runner.errors import BenchmarkFailure
from runner.figures import DIRECT_MIN_UPDATES, scored_relative_half_width
from runner.meters import EnergyMeter
from runner.meters.load_monitor import LoadGate, LoadMonitor, MachineBusyError, WindowLoad, idle_above_quiet
from runner.readings import DecodeMethod, DeviceInfo, IdleReading, RepetitionReading, RunReadings, Window
from runner.tasks.base import BenchmarkTask, QueryOutput

ProgressCallback = Callable[[str, int, int], None]
"""Called as on_progress(stage, done, total), e.g. ("repetition", 2, 5)."""

MAX_ATTEMPTS_PER_WINDOW = 5
T = TypeVar("T")


@dataclass(frozen=True)
class ProtocolSettings:
    """The protocol's parameters, resolved from the spec and the task config."""

    device: str
    scored_device: str
    repetitions: int
    min_window_s: float
    warmup_runs: int
    idle_s: float
    settle_s: float
    checks: MeasurementChecks
    gate: LoadGate
    base_rounds: int
    max_relative_half_width: float
    added_budget_s: float
    quiet_idle_w: dict[str, float] = field(default_factory=dict)
    """This machine's quiet idle power per device; an idle baseline far above it is contaminated."""
    warmup: WarmupSettings = field(default_factory=WarmupSettings)
    """When the warm-up is long enough: on its steady-power devices, once power is steady."""


@dataclass(frozen=True)
class PreparedSlice:
    """One slice's inputs, prepared in its own measured preprocess window."""

    slice_index: int
    window: Window
    inputs: list[Any]
    queries: int
    """Inputs prepared in the window (the slice, repeated until the minimum window)."""
    samples: int
    """Distinct samples in the slice: its weight in the mean over all samples."""


# --- phase marks ------------------------------------------------------------------------------------------------


class PhaseClock:
    """Chained phase intervals: each mark closes the running phase and opens the next, at one clock read.

    With `sync`, CUDA work is waited for at each mark; with `sample_meters`, the meters also read their
    counters there (direct per-phase measurement on a counter that resolves it).
    """

    def __init__(self, sync: Callable[[], None] | None, sample_meters: Sequence[EnergyMeter] = ()) -> None:
        self.intervals: dict[str, list[tuple[float, float]]] = {}
        self._sync = sync
        self._meters = sample_meters
        self._phase = ""
        self._since = 0.0

    def open(self, phase: str, at: float) -> None:
        self._phase, self._since = phase, at

    def mark(self, phase: str) -> None:
        if self._sync is not None:
            self._sync()
        now = time.perf_counter()
        for meter in self._meters:
            meter.sample()
        self.intervals.setdefault(self._phase, []).append((self._since, now))
        self._phase, self._since = phase, now

    @property
    def since(self) -> float:
        """When the running phase began."""
        return self._since

    def close(self, at: float) -> None:
        self.intervals.setdefault(self._phase, []).append((self._since, at))

    def durations(self) -> dict[str, float]:
        return {phase: math.fsum(b - a for a, b in spans) for phase, spans in self.intervals.items()}


# --- window edges -----------------------------------------------------------------------------------------------


def take_edge(
    meters: Sequence[EnergyMeter],
    sync: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    align: bool = True,
) -> float:
    """A window edge: wait for the device, wait for each counter's next update, then read the clock and meters."""
    if sync is not None:
        sync()
    for meter in meters:
        if align and meter.resolution_s > 0:
            meter.sample_after_update(sleep)
    now = clock()
    for meter in meters:
        meter.sample()
    return now


def window_over(meters: Sequence[EnergyMeter], spans: list[tuple[float, float]]) -> Window:
    """Joules per device and extras over intervals, merged across meters."""
    joules: dict[str, float] = {}
    extras: dict[str, float] = {}
    for meter in meters:
        reading = meter.energy_over(spans)
        joules.update({k: v.energy_j for k, v in reading.devices.items()})
        extras.update(reading.extras)
    return Window(joules, math.fsum(b - a for a, b in spans), extras)


def measure_idle_window(
    meters: Sequence[EnergyMeter],
    settle_s: float,
    duration_s: float,
    sync: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    align: bool = True,
) -> Window:
    """Wait `settle_s` for the last work's power tail, then meter `duration_s` of idle between aligned edges."""
    if sync is not None:
        sync()
    sleep(settle_s)
    begin = take_edge(meters, None, clock, sleep, align)
    sleep(duration_s)
    end = take_edge(meters, None, clock, sleep, align)
    return window_over(meters, [(begin, end)])


def slices(samples: list[Any], repetitions: int) -> list[list[Any]]:
    """`samples` in `repetitions` disjoint, contiguous slices; with fewer samples than repetitions, one each."""
    n = len(samples)
    if n >= repetitions:
        return [samples[i * n // repetitions : (i + 1) * n // repetitions] for i in range(repetitions)]
    return [[samples[i % n]] for i in range(repetitions)]


# --- the protocol -----------------------------------------------------------------------------------------------


@dataclass
class Measurement:
    """One benchmark's measurement: the task (loaded here), its meters, and the load monitor."""

    task: BenchmarkTask
    meters: list[EnergyMeter]
    settings: ProtocolSettings
    monitor: LoadMonitor | None
    sync: Callable[[], None] | None = None
    on_progress: ProgressCallback | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    """Per sample (index into `samples`), what its query answered in its repetition's first pass; None if none."""
    loads: list[WindowLoad] = field(default_factory=list)
    remeasured: int = 0
    _quiet_budget_s: float = 0.0

    @property
    def live(self) -> list[EnergyMeter]:
        return [m for m in self.meters if m.devices]

    def device_info(self) -> dict[str, DeviceInfo]:
        info: dict[str, DeviceInfo] = {}
        for meter in self.live:
            for device, (measured, source) in meter.devices.items():
                resolution = meter.device_resolution_s(device)
                info[device] = DeviceInfo(measured, source, resolution, device in meter.constant_power_devices)
        return info

    def progress(self, stage: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(stage, done, total)

    def edge(self) -> float:
        return take_edge(self.live, self.sync)

    def window(self, begin: float, end: float, load: WindowLoad | None = None) -> Window:
        w = window_over(self.live, [(begin, end)])
        return Window(w.joules, w.duration_s, w.extras, load)

    # --- steps ---------------------------------------------------------------------------------------------

    def load_model(self, load: Callable[[], T]) -> tuple[T, Window]:
        """Run `load` (the task's model load) inside a metered window."""
        begin = self.edge()
        self.progress("load", 0, 1)
        value = load()
        end = self.edge()
        self.progress("load", 1, 1)
        return value, self.window(begin, end)

    def warmup(self, prepared: list[Any]) -> tuple[dict[str, float], WarmupRecord]:
        """Warm-up right before the inference windows: at least `warmup_runs` runs (one at least) and at least
        `min_window_s`, cycling over the first `warmup_runs` prepared inputs: a handful of short runs can end before
        a GPU's clocks (or a CPU's thread pools and allocator) settle. On a steady-power device it then goes on
        until power is steady. Returns each phase's mean duration per run, and what the warm-up did."""
        task = self.task
        minimum = max(self.settings.warmup_runs, 1)
        inputs = prepared[:minimum]
        clock = PhaseClock(self.sync)
        begin = time.perf_counter()
        runs = 0

        def run_once() -> None:
            nonlocal runs
            clock.open(task.phases[0], time.perf_counter())
            task.run(inputs[runs % len(inputs)], clock.mark)
            if self.sync is not None:
                self.sync()
            clock.close(time.perf_counter())
            runs += 1
            self.progress("warmup", min(runs, minimum), minimum)

        while runs < minimum or time.perf_counter() - begin < self.settings.min_window_s:
            run_once()
        rule = self.settings.warmup
        steady: bool | None = None
        powers: list[float] = []
        if self.settings.device in rule.steady_power_devices:
            steady, powers = self._warm_until_steady(run_once, begin)
        record = WarmupRecord(
            runs=runs,
            duration_s=time.perf_counter() - begin,
            steady_power_rule=self.settings.device in rule.steady_power_devices,
            steady=steady,
            window_powers_w=[round(p, 4) for p in powers],
        )
        return {phase: seconds / runs for phase, seconds in clock.durations().items()}, record

    def _warm_until_steady(self, run_once: Callable[[], None], began: float) -> tuple[bool | None, list[float]]:
        """Warm-up windows of `window_s` until two successive ones read the scored device's power within
        `power_change_max` of each other, or until `max_s` since the warm-up began. None: no meter of that device."""
        rule = self.settings.warmup
        scored = self.settings.scored_device
        powers: list[float] = []
        while True:
            start = self.edge()
            while time.perf_counter() - start < rule.window_s:
                run_once()
            end = self.edge()
            joules = self.window(start, end).joules.get(scored)
            if joules is None:
                return None, powers
            powers.append(joules / max(end - start, 1e-9))
            if len(powers) >= 2 and abs(powers[-1] - powers[-2]) <= rule.power_change_max * powers[-1]:
                return True, powers
            if time.perf_counter() - began >= rule.max_s:
                return False, powers

    def decode_method(self, phase_s: dict[str, float]) -> DecodeMethod | None:
        """Direct marks when the scored device's meter resolves the shortest phase, else first-phase subtraction."""
        if len(self.task.phases) < 2:
            return None
        scored = self.settings.scored_device
        resolution = max((m.device_resolution_s(scored) for m in self.live if scored in m.devices), default=0.0)
        shortest = min(phase_s.get(phase, 0.0) for phase in self.task.phases)
        return DecodeMethod.DIRECT if shortest >= DIRECT_MIN_UPDATES * resolution else DecodeMethod.SUBTRACTED

    def idle(self) -> Window:
        """One idle window, re-measured while it is contaminated by foreign load."""

        def once() -> tuple[Window, WindowLoad | None]:
            mark = self.monitor.begin() if self.monitor else None
            w = measure_idle_window(self.live, self.settings.settle_s, self.settings.idle_s, self.sync)
            power = {device: j / w.duration_s for device, j in w.joules.items()} if w.duration_s > 0 else {}
            ratio = self.settings.checks.idle_above_quiet_max
            above = idle_above_quiet(power, self.settings.quiet_idle_w, ratio, w.duration_s)
            load = self.monitor.end(mark) if self.monitor and mark else None
            return Window(w.joules, w.duration_s, w.extras, load), above

        window, _ = self._gated("idle baseline", once, lambda w: [w[0].load, w[1]])
        return window

    def preprocess(self, index: int, part: list[dict[str, Any]]) -> PreparedSlice:
        """Preprocessing one slice in its own window, re-measured while it is contaminated by foreign load."""

        def once() -> PreparedSlice:
            window, prepared, queries = self._preprocess_window(part)
            return PreparedSlice(index, window, prepared, queries, len(part))

        return self._gated(f"preprocess {index + 1}", once, lambda p: [p.window.load])

    def round(self, number: int, parts: list[PreparedSlice], method: DecodeMethod | None) -> list[RepetitionReading]:
        """One round: a repetition of every prepared slice, so every sample is measured once."""
        return [self.repetition(number, part, method) for part in parts]

    def repetition(self, round_index: int, prepared: PreparedSlice, method: DecodeMethod | None) -> RepetitionReading:
        """One repetition's inference over its prepared slice, re-measured while a window is contaminated."""

        def windows(r: RepetitionReading) -> list[WindowLoad | None]:
            return [r.inference.load, r.first_phase.load if r.first_phase else None]

        what = f"round {round_index + 1}, slice {prepared.slice_index + 1}"
        return self._gated(what, lambda: self._repetition_once(round_index, prepared, method), windows)

    def _repetition_once(self, round_index: int, part: PreparedSlice, method: DecodeMethod | None) -> RepetitionReading:
        prepared = part.inputs
        task = self.task
        first = task.phases[0]
        counters = [m for m in self.live if m.resolution_s > 0] if method == DecodeMethod.DIRECT else []
        clock = PhaseClock(self.sync, counters)
        totals = QueryOutput()
        latencies: list[float] = []
        predictions: list[Any] = []
        mark = self.monitor.begin() if self.monitor else None
        begin = self.edge()
        clock.open(first, begin)
        query_start = begin
        passes = 0
        while True:
            for item in prepared:
                out = task.run(item, clock.mark)
                clock.mark(first)
                latencies.append(clock.since - query_start)
                query_start = clock.since
                _add(totals, out)
                if not passes:
                    predictions.append(out.prediction)
            passes += 1
            if time.perf_counter() - begin >= self.settings.min_window_s:
                break
        end = self.edge()
        clock.close(end)
        load = self.monitor.end(mark) if self.monitor and mark else None
        queries = passes * len(prepared)
        phase_j: dict[tuple[str, str], float] = {}
        for phase, spans in clock.intervals.items():
            phase_j.update({(phase, device): j for device, j in window_over(self.live, spans).joules.items()})
        outputs = Outputs(
            queries=queries,
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            images=totals.images,
            audio_seconds=totals.audio_seconds,
        )
        first_phase, first_queries = (None, 0)
        if method == DecodeMethod.SUBTRACTED:
            first_phase, first_queries = self._first_phase_window(prepared)
        return RepetitionReading(
            slice_index=part.slice_index,
            queries=queries,
            preprocess=part.window,
            preprocess_queries=part.queries,
            inference=self.window(begin, end, load),
            phase_j=phase_j,
            phase_s=clock.durations(),
            latencies_s=latencies,
            outputs=outputs,
            first_phase=first_phase,
            first_phase_queries=first_queries,
            predictions=predictions,
            round_index=round_index,
            slice_samples=part.samples,
        )

    def _preprocess_window(self, part: list[dict[str, Any]]) -> tuple[Window, list[Any], int]:
        """Preprocessing the slice in its own window, repeated until the minimum window; returns the inputs."""
        mark = self.monitor.begin() if self.monitor else None
        begin = self.edge()
        queries = 0
        while True:
            prepared = [self.task.preprocess(sample) for sample in part]
            queries += len(part)
            if time.perf_counter() - begin >= self.settings.min_window_s:
                break
        end = self.edge()
        load = self.monitor.end(mark) if self.monitor and mark else None
        return self.window(begin, end, load), prepared, queries

    def _first_phase_window(self, prepared: list[Any]) -> tuple[Window, int]:
        """The first phase alone in its own window over prepared inputs, repeated until the minimum window."""
        mark = self.monitor.begin() if self.monitor else None
        begin = self.edge()
        queries = 0
        while True:
            for item in prepared:
                self.task.run_first_phase_only(item)
            queries += len(prepared)
            if time.perf_counter() - begin >= self.settings.min_window_s:
                break
        end = self.edge()
        load = self.monitor.end(mark) if self.monitor and mark else None
        return self.window(begin, end, load), queries

    def _gated(self, what: str, measure: Callable[[], T], loads: Callable[[T], Sequence[WindowLoad | None]]) -> T:
        """Measure; while a window is contaminated (and the gate is on), wait for quiet and measure again."""
        for attempt in range(MAX_ATTEMPTS_PER_WINDOW):
            value = measure()
            checked = [load for load in loads(value) if load is not None]
            bad = [load for load in checked if load.contaminated]
            if not bad or self.monitor is None or self.settings.gate == LoadGate.RECORD:
                self.loads.extend(checked)
                return value
            if attempt == MAX_ATTEMPTS_PER_WINDOW - 1:
                break
            self.remeasured += 1
            started = time.monotonic()
            try:
                self.monitor.wait_for_quiet(max(self._quiet_budget_s, 0.0))
            except MachineBusyError as exc:
                message = f"{what} contaminated: {bad[0].describe()}; {exc}"
                raise BenchmarkFailure(ErrorKind.MACHINE_BUSY, message) from exc
            self._quiet_budget_s -= time.monotonic() - started
        raise BenchmarkFailure(
            ErrorKind.MACHINE_BUSY,
            f"{what} contaminated by foreign load in {MAX_ATTEMPTS_PER_WINDOW} attempts, each after a quiet probe: "
            f"the load comes and goes; last: {bad[0].describe()}",
        )

    # --- the whole protocol --------------------------------------------------------------------------------

    def measure(self, load: Callable[[], T], read_samples: Callable[[], list[dict[str, Any]]]) -> tuple[T, RunReadings]:
        """Load, idle, preprocess windows, warm-up, rounds of inference windows (added while the scored mean is
        imprecise), idle; meters are started here.

        The warm-up comes right before the inference windows, which run back to back: no idle baseline and no
        preprocess window lets clocks and caches cool down between them."""
        self._quiet_budget_s = self.settings.checks.quiet_wait_s
        for meter in self.live:
            meter.start()
        try:
            value, load_window = self.load_model(load)
            self.samples = read_samples()
            if not self.samples:
                raise BenchmarkFailure(ErrorKind.INTERNAL, "the dataset gave no samples")
            idle_before = self.idle()
            parts = [self.preprocess(i, part) for i, part in enumerate(slices(self.samples, self.settings.repetitions))]
            phase_s, warmup = self.warmup([item for part in parts for item in part.inputs])
            method = self.decode_method(phase_s)
            reps: list[RepetitionReading] = []
            for number in range(self.settings.base_rounds):
                reps.extend(self.round(number, parts, method))
                self.progress("rounds", number + 1, self.settings.base_rounds)
            self.predictions = _predictions_by_sample(len(self.samples), reps[: len(parts)])
            added = self._added_rounds(parts, reps, method, load_window)
            idle_after = self.idle()
        finally:
            for meter in self.live:
                meter.close()
        readings = RunReadings(
            devices=self.device_info(),
            phases=self.task.phases,
            decode_method=method,
            load=load_window,
            samples=len(self.samples),
            idle=IdleReading(idle_before, idle_after, self.settings.settle_s),
            repetitions=[*reps, *added],
            remeasured_windows=self.remeasured,
            warmup=warmup,
            base_rounds=self.settings.base_rounds,
            added_rounds=len(added) // len(parts),
        )
        return value, readings

    def _added_rounds(
        self, parts: list[PreparedSlice], reps: list[RepetitionReading], method: DecodeMethod | None, load: Window
    ) -> list[RepetitionReading]:
        """Whole rounds added while the scored mean's relative half-width is above the rule's, within the budget:
        each reuses the slices' prepared inputs and preprocess readings, so the inference windows stay back to back.

        A round is only started when one as long as the mean round so far still fits in the budget."""
        added: list[RepetitionReading] = []
        deadline = time.monotonic() + self.settings.added_budget_s
        rounds = self.settings.base_rounds
        while time.monotonic() + _inference_s([*reps, *added]) / rounds <= deadline:
            probe = _probe_readings(self.device_info(), self.task.phases, method, load, [*reps, *added])
            half_width = scored_relative_half_width(probe, self.settings.scored_device)
            if half_width is not None and half_width <= self.settings.max_relative_half_width:
                break
            added.extend(self.round(rounds, parts, method))
            rounds += 1
            self.progress("added rounds", rounds - self.settings.base_rounds, rounds - self.settings.base_rounds)
        return added


def _predictions_by_sample(samples: int, reps: list[RepetitionReading]) -> list[Any]:
    """The predictions of the repetitions over the disjoint slices, laid back onto the samples they answered."""
    predictions: list[Any] = [None] * samples
    for indices, rep in zip(slices(list(range(samples)), len(reps)), reps, strict=True):
        for index, prediction in zip(indices, rep.predictions, strict=False):
            if predictions[index] is None:
                predictions[index] = prediction
    return predictions


def _probe_readings(
    devices: dict[str, DeviceInfo],
    phases: tuple[str, ...],
    method: DecodeMethod | None,
    load: Window,
    reps: list[RepetitionReading],
) -> RunReadings:
    """Readings so far, for the precision check (idle is not needed for it)."""
    empty = Window({}, 0.0)
    return RunReadings(devices, phases, method, load, 1, IdleReading(empty, empty, 0.0), reps)


def _inference_s(reps: list[RepetitionReading]) -> float:
    """Measured time of the repetitions' inference and first-phase windows (an added round reuses its slices'
    preprocess readings, so only these are measured again)."""
    return math.fsum(r.inference.duration_s + (r.first_phase.duration_s if r.first_phase else 0.0) for r in reps)


def _add(totals: QueryOutput, out: QueryOutput) -> None:
    totals.input_tokens += out.input_tokens
    totals.output_tokens += out.output_tokens
    totals.images += out.images
    totals.audio_seconds += out.audio_seconds
