"""The measurement protocol: windows, repetitions and idle baselines, returned as raw readings.

1. "load": the model is loaded inside a metered window (once).
2. Warm-up runs on the first input; they also time each phase, which decides how two-phase tasks are split.
3. An idle baseline (model loaded, nothing running) before and after the measured passes, each after a settle
   time (the power tail of the last work decays first), with edges taken just after a counter update.
4. The samples are split into `repetitions` disjoint slices; one repetition is one pass over its slice (repeated
   only to reach the minimum window), and a round is one repetition of every slice, so every sample counts once
   per round. Inside a repetition, preprocessing the slice is its own window, and inference over the prepared
   inputs another.
5. Two-phase tasks: phases are read at the phase marks when the scored meter resolves the shortest phase
   (`DecodeMethod.DIRECT`), else the first phase is measured alone in its own window (`SUBTRACTED`).
6. `base_rounds` rounds are always measured. While the scored mean's 95% interval is wider than the config's
   `rounds.max_relative_half_width`, whole rounds are added within a time budget: never a lone slice, which would
   count its samples twice.
7. Every window's foreign CPU load is checked (`LoadMonitor`); a contaminated window is measured again once the
   machine is quiet, and a machine that never gets quiet fails the benchmark as `machine_busy`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from leaderboard_data.configs import MeasurementChecks
from leaderboard_data.records import ErrorKind, Outputs
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

    def warmup(self) -> dict[str, float]:
        """Warm-up right before the first repetition: at least `warmup_runs` runs (one at least) and at least
        `min_window_s`, cycling over the first `warmup_runs` inputs: a handful of short runs can end before a
        GPU's clocks (or a CPU's thread pools and allocator) settle. Returns each phase's mean duration per run."""
        task = self.task
        minimum = max(self.settings.warmup_runs, 1)
        prepared = [task.preprocess(sample) for sample in self.samples[:minimum]]
        clock = PhaseClock(self.sync)
        begin = time.perf_counter()
        runs = 0
        while runs < minimum or time.perf_counter() - begin < self.settings.min_window_s:
            clock.open(task.phases[0], time.perf_counter())
            task.run(prepared[runs % len(prepared)], clock.mark)
            if self.sync is not None:
                self.sync()
            clock.close(time.perf_counter())
            runs += 1
            self.progress("warmup", min(runs, minimum), minimum)
        return {phase: seconds / runs for phase, seconds in clock.durations().items()}

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

    def round(self, number: int, parts: list[list[Any]], method: DecodeMethod | None) -> list[RepetitionReading]:
        """One round: a repetition of every slice, so every sample is measured once."""
        return [self.repetition(number, index, part, method) for index, part in enumerate(parts)]

    def repetition(
        self, round_index: int, index: int, part: list[dict[str, Any]], method: DecodeMethod | None
    ) -> RepetitionReading:
        """One repetition over its slice, re-measured while any of its windows is contaminated."""

        def windows(r: RepetitionReading) -> list[WindowLoad | None]:
            return [r.preprocess.load, r.inference.load, r.first_phase.load if r.first_phase else None]

        what = f"round {round_index + 1}, slice {index + 1}"
        return self._gated(what, lambda: self._repetition_once(round_index, index, part, method), windows)

    def _repetition_once(
        self, round_index: int, index: int, part: list[dict[str, Any]], method: DecodeMethod | None
    ) -> RepetitionReading:
        preprocess, prepared, prepared_queries = self._preprocess_window(part)
        task = self.task
        first = task.phases[0]
        counters = [m for m in self.live if m.resolution_s > 0] if method == DecodeMethod.DIRECT else []
        clock = PhaseClock(self.sync, counters)
        totals = QueryOutput()
        latencies: list[float] = []
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
            slice_index=index,
            queries=queries,
            preprocess=preprocess,
            preprocess_queries=prepared_queries,
            inference=self.window(begin, end, load),
            phase_j=phase_j,
            phase_s=clock.durations(),
            latencies_s=latencies,
            outputs=outputs,
            first_phase=first_phase,
            first_phase_queries=first_queries,
            round_index=round_index,
            slice_samples=len(part),
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
        """Load, idle, warm up, rounds (added while the scored mean is imprecise), idle; meters are started here.

        The warm-up comes right before the rounds, after the idle baseline, so no idle pause lets clocks and
        caches cool down between them."""
        self._quiet_budget_s = self.settings.checks.quiet_wait_s
        for meter in self.live:
            meter.start()
        try:
            value, load_window = self.load_model(load)
            self.samples = read_samples()
            if not self.samples:
                raise BenchmarkFailure(ErrorKind.INTERNAL, "the dataset gave no samples")
            idle_before = self.idle()
            method = self.decode_method(self.warmup())
            parts = slices(self.samples, self.settings.repetitions)
            reps: list[RepetitionReading] = []
            for number in range(self.settings.base_rounds):
                reps.extend(self.round(number, parts, method))
                self.progress("rounds", number + 1, self.settings.base_rounds)
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
            base_rounds=self.settings.base_rounds,
            added_rounds=len(added) // len(parts),
        )
        return value, readings

    def _added_rounds(
        self, parts: list[list[Any]], reps: list[RepetitionReading], method: DecodeMethod | None, load: Window
    ) -> list[RepetitionReading]:
        """Whole rounds added while the scored mean's relative half-width is above the rule's, within the budget.

        A round is only started when one as long as the mean round so far still fits in the budget."""
        added: list[RepetitionReading] = []
        deadline = time.monotonic() + self.settings.added_budget_s
        rounds = self.settings.base_rounds
        while time.monotonic() + _measured_s([*reps, *added]) / rounds <= deadline:
            probe = _probe_readings(self.device_info(), self.task.phases, method, load, [*reps, *added])
            half_width = scored_relative_half_width(probe, self.settings.scored_device)
            if half_width is not None and half_width <= self.settings.max_relative_half_width:
                break
            added.extend(self.round(rounds, parts, method))
            rounds += 1
            self.progress("added rounds", rounds - self.settings.base_rounds, rounds - self.settings.base_rounds)
        return added


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


def _measured_s(reps: list[RepetitionReading]) -> float:
    """Measured time of the repetitions (their preprocess, inference and first-phase windows)."""
    return math.fsum(
        r.preprocess.duration_s + r.inference.duration_s + (r.first_phase.duration_s if r.first_phase else 0.0)
        for r in reps
    )


def _add(totals: QueryOutput, out: QueryOutput) -> None:
    totals.input_tokens += out.input_tokens
    totals.output_tokens += out.output_tokens
    totals.images += out.images
    totals.audio_seconds += out.audio_seconds
