"""The measurement protocol's pieces on simulated counters: idle windows after a power tail on a counter that
updates every 100 ms, edges aligned to an update, disjoint sample slices, and preprocessing in its own window."""

from __future__ import annotations

import itertools
import math
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from leaderboard_data.configs import Pipeline
from runner.engine import BenchmarkSpec, run_benchmark
from runner.meters import EnergyMeter, NullMeter
from runner.protocol import measure_idle_window, slices, take_edge
from runner.tasks.base import BenchmarkTask, LoadedModelInfo, PhaseMarker, QueryOutput
from tests import helpers_engine as h
from tests.helpers_meters import FakeCounter

IDLE_W, BUSY_W, TAIL_W, TAU_S, UPDATE_S = 50.0, 300.0, 250.0, 1.0, 0.1


class FakeClock:
    def __init__(self, start: float = 100.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class TailCounter(FakeCounter):
    """A GPU counter refreshed every 100 ms: busy at 300 W until `busy_until`, then a decaying tail to 50 W idle."""

    source = "simulated_counter"
    device = "gpu"
    resolution = UPDATE_S

    def __init__(self, clock: FakeClock, busy_until: float) -> None:
        super().__init__(clock=clock)
        self.fake, self.busy_until = clock, busy_until

    def true_energy(self, t: float) -> float:
        """Joules since t=0, exactly."""
        if t <= self.busy_until:
            return BUSY_W * t
        after = t - self.busy_until
        return BUSY_W * self.busy_until + IDLE_W * after + TAIL_W * TAU_S * (1 - math.exp(-after / TAU_S))

    def _read(self) -> dict[str, float]:
        last_update = math.floor(self.fake.t / UPDATE_S + 1e-9) * UPDATE_S  # stale between updates
        return {"gpu": self.true_energy(last_update)}


def idle_power(settle_s: float, align: bool, start: float) -> tuple[float, TailCounter]:
    clock = FakeClock(start)
    meter = TailCounter(clock, busy_until=start)
    window = measure_idle_window([meter], settle_s, 5.0, clock=clock, sleep=clock.sleep, align=align)
    return window.joules["gpu"] / window.duration_s, meter


def test_idle_right_after_work_on_a_stale_counter_reads_high() -> None:
    """The old protocol: no settle time, edges wherever they fall. The true idle is 50 W."""
    watts, _ = idle_power(settle_s=0.0, align=False, start=100.07)
    assert watts > 55.0


def test_idle_after_settle_with_aligned_edges_reads_true_idle() -> None:
    for start in (100.0, 100.03, 100.07, 100.099):
        watts, _ = idle_power(settle_s=5.0, align=True, start=start)
        assert watts == pytest.approx(IDLE_W, rel=0.01), start


def test_aligned_edge_is_taken_just_after_a_counter_update() -> None:
    clock = FakeClock(100.537)
    meter = TailCounter(clock, busy_until=0.0)
    meter.sample()
    edge = take_edge([meter], clock=clock, sleep=clock.sleep)
    assert 100.6 <= edge <= 100.6 + 2 * UPDATE_S / 50
    unaligned = take_edge([meter], clock=clock, sleep=clock.sleep, align=False)
    assert unaligned == clock.t


def test_slices_are_disjoint_and_cover_the_samples() -> None:
    samples = list(range(10))
    parts = slices(samples, 3)
    assert parts == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    assert sorted(x for p in parts for x in p) == samples
    assert slices([1, 2], 3) == [[1], [2], [1]]  # fewer samples than repetitions: one each, reused


# --- preprocess in its own window, on a counter of known power per phase -----------------------------------------


class PhasePower:
    """Which phase runs now, and the energy integrated over the phases so far (joules, perf_counter time)."""

    WATTS: ClassVar[dict[str, float]] = {"idle": 5.0, "preprocess": 100.0, "forward": 20.0}

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.phase, self.since, self.energy = "idle", time.perf_counter(), 0.0
        self.seconds: dict[str, list[float]] = {}

    def switch(self, phase: str) -> None:
        with self.lock:
            now = time.perf_counter()
            self.energy += self.WATTS[self.phase] * (now - self.since)
            self.seconds.setdefault(self.phase, []).append(now - self.since)
            self.phase, self.since = phase, now

    def mean_s(self, phase: str) -> float:
        return math.fsum(self.seconds[phase]) / len(self.seconds[phase])

    def now(self) -> float:
        with self.lock:
            return self.energy + self.WATTS[self.phase] * (time.perf_counter() - self.since)


POWER = PhasePower()


class PhaseCounter(FakeCounter):
    """A fine counter (1 ms) that integrates the known power of the running phase."""

    source = "phase_counter"
    sample_period_s = 0.05
    resolution = 0.001

    def _read(self) -> dict[str, float]:
        return {"cpu": POWER.now()}


class KnownPowerTask(BenchmarkTask):
    """Preprocess sleeps 3 ms at 100 W, forward 6 ms at 20 W."""

    pipeline = Pipeline.TEXT_CLASSIFICATION
    phases: ClassVar[tuple[str, ...]] = ("forward",)

    def load(self) -> LoadedModelInfo:
        return LoadedModelInfo(num_parameters=1, max_input_length=1)

    def load_samples(self, dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
        return [{"i": i} for i in range(num_samples)]

    def preprocess(self, sample: dict[str, Any]) -> Any:
        POWER.switch("preprocess")
        time.sleep(0.003)
        POWER.switch("idle")
        return sample

    def run(self, prepared: Any, mark: PhaseMarker) -> QueryOutput:
        POWER.switch("forward")
        time.sleep(0.006)
        POWER.switch("idle")
        return QueryOutput()


def test_preprocess_is_measured_in_its_own_window(tmp_path: Path) -> None:
    spec = BenchmarkSpec(
        model_id="tests/known-power",
        model_dir=tmp_path,
        revision="0" * 40,
        task_config=h.task_config(num_samples=8, repetitions=2),
        min_window_s=0.2,
    )
    meters: list[EnergyMeter] = [NullMeter("gpu", "nvml_energy_counter", "CPU run"), PhaseCounter()]
    r = run_benchmark(spec, meters=meters, task_class=KnownPowerTask)
    pre, fwd = r.figure("preprocess", "cpu"), r.figure("forward", "cpu")
    assert pre and fwd and pre.method == fwd.method == "window" and pre.measured and fwd.measured
    # Joules per query over the known power times the phase's mean duration: 1 when each phase is in its own
    # window (plus the short idle gaps between calls at 5 W). Split by time, preprocess read about a fifth.
    pre_j, fwd_j = pre.mean_wh_per_1k * 3.6, fwd.mean_wh_per_1k * 3.6
    assert pre_j / (100.0 * POWER.mean_s("preprocess")) == pytest.approx(1.0, abs=0.15)
    assert fwd_j / (20.0 * POWER.mean_s("forward")) == pytest.approx(1.0, abs=0.15)


# --- slices that differ: the dataset's variety (tests/test_rounds.py) -----------------------------------------------


class UnevenTask(h.MlpTask):
    """The second half of the samples costs about 20x the first: slices differ, so repetitions do too."""

    def load_samples(self, dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
        return [{"tokens": [1, 2, 3], "heavy": i >= num_samples // 2} for i in range(num_samples)]

    def preprocess(self, sample: dict[str, Any]) -> Any:
        return (*super().preprocess(sample), sample["heavy"])

    def run(self, prepared: Any, mark: PhaseMarker) -> QueryOutput:
        features, n_tokens, heavy = prepared
        for _ in range(20 if heavy else 1):
            super().run((features, n_tokens), mark)
        return QueryOutput(input_tokens=n_tokens)


def cpu_time_meters() -> list[EnergyMeter]:
    from tests.test_engine import ConstantPowerMeter

    return [NullMeter("gpu", "nvml_energy_counter", "CPU run"), ConstantPowerMeter(resolution_s=0.0)]


# --- the warm-up: right before the first repetition, at least one minimum window long --------------------------


class LoggingTask(h.MlpTask):
    """Logs when the model loads and when each query runs (perf_counter), and which inputs the runs see."""

    events: ClassVar[list[tuple[str, float, int]]] = []

    def load(self) -> LoadedModelInfo:
        self.events.append(("load", time.perf_counter(), -1))
        return super().load()

    def load_samples(self, dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
        return [{"tokens": [i % h.VOCAB]} for i in range(num_samples)]

    def preprocess(self, sample: dict[str, Any]) -> Any:
        self.events.append(("preprocess", time.perf_counter(), sample["tokens"][0]))
        return super().preprocess(sample)

    def run(self, prepared: Any, mark: PhaseMarker) -> QueryOutput:
        self.events.append(("run", time.perf_counter(), round(float(prepared[0][0, 0]) * h.VOCAB)))
        return super().run(prepared, mark)


def test_the_warm_up_follows_the_idle_baseline_and_lasts_a_minimum_window(tmp_path: Path) -> None:
    """An idle pause between warm-up and measurement lets clocks and caches cool down; a handful of runs may end
    before they settle. So: load, idle, then warm-up (>= warmup_runs runs and >= min_window_s), then repetitions."""
    LoggingTask.events.clear()
    config = h.task_config(num_samples=8, repetitions=2, warmup_runs=3, idle_baseline_s={"cpu": 0.3, "cuda": 0.3})
    spec = BenchmarkSpec(
        model_id="tests/logging",
        model_dir=h.build_mlp(tmp_path / "mlp"),
        revision="0" * 40,
        task_config=config,
        min_window_s=0.2,
    )
    run_benchmark(spec, meters=cpu_time_meters(), task_class=LoggingTask)
    loaded = next(t for kind, t, _ in LoggingTask.events if kind == "load")
    runs = [(t, index) for kind, t, index in LoggingTask.events if kind == "run"]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(runs)]
    first_run = runs[0][0]
    assert first_run - loaded >= 0.3  # the idle baseline sits between loading and the warm-up
    assert max(gaps) < 0.3  # no idle window between the warm-up and the repetitions
    warmup = [(t, i) for t, i in runs if t - first_run < 0.2]
    assert len(warmup) >= 3 and runs[len(warmup)][0] - first_run >= 0.2  # >= warmup_runs and >= min_window_s
    assert {i for _, i in warmup} == {0, 1, 2}  # cycling over the first warmup_runs inputs


def test_preprocessing_is_measured_before_the_warm_up_and_the_inference_windows_run_back_to_back(
    tmp_path: Path,
) -> None:
    """A preprocess window between two inference windows leaves the accelerator nearly idle for at least a minimum
    window, undoing the warm-up. Each slice's preprocessing is its own window, all of them before the warm-up;
    from the first warm-up run to the last measured query nothing is preprocessed."""
    LoggingTask.events.clear()
    config = h.task_config(num_samples=8, repetitions=3, warmup_runs=2)
    spec = BenchmarkSpec(
        model_id="tests/logging",
        model_dir=h.build_mlp(tmp_path / "mlp"),
        revision="0" * 40,
        task_config=config,
        min_window_s=0.1,
    )
    r = run_benchmark(spec, meters=cpu_time_meters(), task_class=LoggingTask)
    kinds = [kind for kind, _, _ in LoggingTask.events if kind != "load"]
    first_run = kinds.index("run")
    assert "preprocess" in kinds[:first_run] and "preprocess" not in kinds[first_run:]
    prepared = {i for kind, _, i in LoggingTask.events if kind == "preprocess"}
    assert prepared == {i % h.VOCAB for i in range(8)}  # every sample, in its slice's window
    pre = r.figure("preprocess", "cpu")
    assert pre is not None and pre.method == "window"
    assert pre.repetitions == r.base_rounds + r.added_rounds  # every round reuses the slices' prepared inputs
    assert r.warmup is not None and r.warmup.runs >= 2
    assert not r.warmup.steady_power_rule and r.warmup.steady is None  # the rule is the GPU's, not the CPU's


# --- on a GPU, the warm-up lasts until power is steady ----------------------------------------------------------


class Ramp:
    """Power that rises from the first query on, as a GPU's clocks and temperature settle: 10 W before the first
    query, then `settled_w - rise_w * exp(-t / tau_s)`, or a straight line with `per_s` (never settles)."""

    def __init__(self, settled_w: float = 100.0, rise_w: float = 50.0, tau_s: float = 0.15, per_s: float = 0.0):
        self.settled_w, self.rise_w, self.tau_s, self.per_s = settled_w, rise_w, tau_s, per_s
        self.origin = time.perf_counter()
        self.start: float | None = None

    def energy(self, now: float) -> float:
        if self.start is None or now <= self.start:
            return 10.0 * (now - self.origin)
        d = now - self.start
        rising = self.per_s * d * d / 2 if self.per_s else -self.rise_w * self.tau_s * (1 - math.exp(-d / self.tau_s))
        return 10.0 * (self.start - self.origin) + self.settled_w * d + rising


RAMP = Ramp()


class RampCounter(FakeCounter):
    """A fine counter (1 ms) on the ramp."""

    source = "ramp_counter"
    sample_period_s = 0.01
    resolution = 0.001

    def _read(self) -> dict[str, float]:
        return {"cpu": RAMP.energy(time.perf_counter())}


class RampTask(h.MlpTask):
    def run(self, prepared: Any, mark: PhaseMarker) -> QueryOutput:
        if RAMP.start is None:
            RAMP.start = time.perf_counter()
        time.sleep(0.002)
        return super().run(prepared, mark)


def steady_spec(tmp_path: Path, max_s: float) -> BenchmarkSpec:
    warmup = {"steady_power_devices": ["cpu"], "window_s": 0.05, "power_change_max": 0.03, "max_s": max_s}
    return BenchmarkSpec(
        model_id="tests/ramp",
        model_dir=h.build_mlp(tmp_path / "mlp"),
        revision="0" * 40,
        dataset_path=str(h.write_samples(tmp_path / "data")),
        task_config=h.task_config(warmup=warmup, warmup_runs=1),
        min_window_s=0.05,
    )


def test_the_warm_up_goes_on_until_successive_windows_read_the_same_power(tmp_path: Path) -> None:
    global RAMP
    RAMP = Ramp()
    meters: list[EnergyMeter] = [NullMeter("gpu", "nvml_energy_counter", "CPU run"), RampCounter()]
    r = run_benchmark(steady_spec(tmp_path, max_s=30.0), meters=meters, task_class=RampTask)
    assert r.warmup is not None and r.warmup.steady_power_rule and r.warmup.steady is True
    powers = r.warmup.window_powers_w
    assert len(powers) >= 3  # the first windows still rise more than 3 %
    assert abs(powers[-1] - powers[-2]) <= 0.03 * powers[-1]
    assert all(abs(b - a) > 0.03 * b for a, b in itertools.pairwise(powers[:-1]))  # it stopped at the first
    assert powers == sorted(powers) and 90.0 < powers[-1] <= 100.0  # near the settled 100 W


def test_a_warm_up_that_never_settles_ends_at_its_longest_time_and_says_so(tmp_path: Path) -> None:
    global RAMP
    RAMP = Ramp(settled_w=50.0, per_s=400.0)  # +20 W per 50 ms window: not within 3 % before 1.5 s
    meters: list[EnergyMeter] = [NullMeter("gpu", "nvml_energy_counter", "CPU run"), RampCounter()]
    r = run_benchmark(steady_spec(tmp_path, max_s=0.3), meters=meters, task_class=RampTask)
    assert r.warmup is not None and r.warmup.steady is False
    assert len(r.warmup.window_powers_w) >= 2 and r.warmup.window_powers_w == sorted(r.warmup.window_powers_w)
