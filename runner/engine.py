"""The benchmark engine: one model, one task config, one device -> one validated `Result`.

Protocol (every step is in the result):
1. "load": the model is loaded inside a metered window (once).
2. Warm-up runs on the first input; they also time each phase, which decides how two-phase tasks are split.
3. An idle baseline (model loaded, nothing running) before and after the measured passes.
4. `repetitions` repetitions; each is a window over whole passes over the samples (preprocess + every phase of
   every query), repeated until the minimum window is reached; energy is divided by the queries served.
   Phase boundaries are clock reads chained end to end, so the phases tile the window and their energies sum
   to the window's total.
5. Two-phase tasks (prefill/decode): phases are read directly from the marks when the meter resolves them;
   otherwise prefill is measured in its own long window (`run_first_phase_only`) and decode is the full
   inference minus prefill, with the uncertainty of both means propagated.
"""

from __future__ import annotations

import math
import resource
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from leaderboard_data.configs import TaskConfig
from leaderboard_data.model_checks import size_class
from leaderboard_data.model_files import folder_parameters
from leaderboard_data.records import (
    CarbonCrossCheck,
    EnergyFigure,
    ErrorKind,
    IdleBaseline,
    Outputs,
    Result,
    UnavailableMeter,
    utc_now,
)
from runner.errors import BenchmarkFailure
from runner.hardware import fingerprint, software_versions
from runner.meters import CodecarbonMeter, EnergyMeter, MeterError, detect_meters, metered_gpus
from runner.meters.codecarbon_meter import EXTRA_CO2_G, EXTRA_GPU_J
from runner.stats import NonPositiveReadingError, Summary, difference, percentile, summarize
from runner.tasks.base import BenchmarkTask, QueryOutput

J_PER_WH = 3600.0
DIRECT_MIN_UPDATES = 10
"""A phase is read directly from the marks when it lasts at least this many meter updates per query."""
MEMORY_OVERHEAD = 1.2
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
DECODE_DIRECT = "direct_phase_marks"
DECODE_SUBTRACTED = "prefill_only_window_subtracted"

ProgressCallback = Callable[[str, int, int], None]
"""Called as on_progress(stage, done, total), e.g. ("repetition", 2, 5)."""


@dataclass
class BenchmarkSpec:
    """Everything that defines one benchmark run; None fields fall back to the task config."""

    model_id: str
    model_dir: Path
    revision: str
    task_config: TaskConfig
    device: Literal["cpu", "cuda"] = "cpu"
    precision: str | None = None
    samples: int | None = None
    repetitions: int | None = None
    dataset_path: str | None = None
    request_id: str | None = None
    worker_id: str = "local"
    hardware_class: str | None = None
    country_iso_code: str = "USA"
    progress: bool = False
    min_window_s: float | None = None
    warmup_runs: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for handing the spec to a child process."""
        data = asdict(self)
        data["model_dir"] = str(self.model_dir)
        data["task_config"] = self.task_config.model_dump(mode="json")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkSpec:
        fields = dict(data)
        fields["model_dir"] = Path(fields["model_dir"])
        fields["task_config"] = TaskConfig.model_validate(fields["task_config"])
        return cls(**fields)

    @property
    def resolved_precision(self) -> str:
        return self.precision or self.task_config.precision.for_device(self.device)

    @property
    def resolved_samples(self) -> int:
        return self.samples or self.task_config.num_samples

    @property
    def resolved_repetitions(self) -> int:
        return self.repetitions or self.task_config.repetitions

    @property
    def resolved_min_window_s(self) -> float:
        if self.min_window_s is not None:
            return self.min_window_s
        return self.task_config.min_window_s.for_device(self.device)

    @property
    def resolved_warmup_runs(self) -> int:
        return self.task_config.warmup_runs if self.warmup_runs is None else self.warmup_runs


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


# --- one run's state --------------------------------------------------------------------------------------------


@dataclass
class Repetition:
    """One repetition's window: joules per (phase, device), per device in total, and what was served."""

    queries: int
    duration_s: float
    phase_j: dict[tuple[str, str], float]
    phase_s: dict[str, float]
    total_j: dict[str, float]
    extras: dict[str, float]
    latencies_s: list[float]
    outputs: Outputs
    first_phase_j: dict[str, float] = field(default_factory=dict)
    first_phase_s: float = 0.0
    first_phase_queries: int = 0


@dataclass
class _Run:
    spec: BenchmarkSpec
    task: BenchmarkTask
    meters: list[EnergyMeter]
    on_progress: ProgressCallback | None
    sync: Callable[[], None] | None
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def live(self) -> list[EnergyMeter]:
        return [m for m in self.meters if m.devices]

    def device_info(self) -> dict[str, tuple[bool, str]]:
        info: dict[str, tuple[bool, str]] = {}
        for meter in self.live:
            info.update(meter.devices)
        return info

    def progress(self, stage: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(stage, done, total)

    def edge(self) -> float:
        """A window edge: wait for the device, then read the clock and every meter."""
        if self.sync is not None:
            self.sync()
        now = time.perf_counter()
        for meter in self.live:
            meter.sample()
        return now

    def energy(self, intervals: list[tuple[float, float]]) -> tuple[dict[str, float], dict[str, float]]:
        """Joules per device kind and extras over intervals, merged across meters."""
        joules: dict[str, float] = {}
        extras: dict[str, float] = {}
        for meter in self.live:
            reading = meter.energy_over(intervals)
            joules.update({k: v.energy_j for k, v in reading.devices.items()})
            extras.update(reading.extras)
        return joules, extras


# --- entry point ------------------------------------------------------------------------------------------------


def run_benchmark(
    spec: BenchmarkSpec,
    meters: list[EnergyMeter] | None = None,
    on_progress: ProgressCallback | None = None,
    *,
    task_class: type[BenchmarkTask] | None = None,
) -> Result:
    """Benchmark one model on one task; every failure is raised as a classified BenchmarkFailure.

    Args:
        spec: what to run.
        meters: energy meters to use; None detects them for `spec.device`.
        on_progress: called at stage boundaries with (stage, done, total).
        task_class: the task implementation; None looks it up in TASK_REGISTRY by the config's pipeline.
    """
    stage = "setup"
    try:
        cls = task_class or _registered_task(spec)
        task = cls(spec.task_config, spec.model_dir, spec.device, spec.resolved_precision)
        meter_list = meters if meters is not None else detect_meters(spec.device, spec.country_iso_code)
        run = _Run(spec, task, meter_list, _progress_bar(spec, on_progress), _device_sync(spec.device))
        stage = "benchmark"
        return _execute(run)
    except BenchmarkFailure:
        raise
    except Exception as exc:
        raise classify_exception(exc, stage) from exc


def _registered_task(spec: BenchmarkSpec) -> type[BenchmarkTask]:
    from runner.tasks import load_task_registry

    registry = load_task_registry()
    pipeline = spec.task_config.pipeline
    if pipeline not in registry:
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"no task implementation for pipeline {pipeline.value}")
    return registry[pipeline]


def classify_exception(exc: BaseException, stage: str) -> BenchmarkFailure:
    """Map an unexpected exception to a BenchmarkFailure kind; `stage` is where it happened ("load"...)."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError) or _is_torch_oom(exc):
        return BenchmarkFailure(ErrorKind.OUT_OF_MEMORY, f"out of memory during {stage}: {text}")
    if isinstance(exc, NonPositiveReadingError | MeterError):
        return BenchmarkFailure(ErrorKind.INTERNAL, f"energy measurement failed: {exc}")
    if stage == "load":
        if isinstance(exc, FileNotFoundError):
            return BenchmarkFailure(ErrorKind.NOT_FOUND, f"model files missing: {text}")
        if isinstance(exc, OSError | ValueError | KeyError | TypeError | ImportError | NotImplementedError):
            return BenchmarkFailure(ErrorKind.UNSUPPORTED_ARCHITECTURE, f"could not load the model: {text}")
    return BenchmarkFailure(ErrorKind.INTERNAL, f"{stage} failed: {text}")


def _is_torch_oom(exc: BaseException) -> bool:
    try:
        import torch
    except ImportError:
        return False
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    message = str(exc).lower()
    # CUDA says "out of memory"; a failed CPU allocation says "can't allocate memory" (DefaultCPUAllocator).
    return isinstance(exc, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message)


def _device_sync(device: str) -> Callable[[], None] | None:
    if device != "cuda":
        return None
    import torch

    return torch.cuda.synchronize


def _progress_bar(spec: BenchmarkSpec, on_progress: ProgressCallback | None) -> ProgressCallback | None:
    """Wrap the callback with a tqdm bar per stage when `spec.progress`."""
    if not spec.progress:
        return on_progress
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def report(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, leave=False)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
        if on_progress is not None:
            on_progress(stage, done, total)

    return report


def _execute(run: _Run) -> Result:
    spec = run.spec
    started = utc_now()
    if spec.device == "cuda":
        _check_gpu_memory(spec)
        import torch

        torch.cuda.reset_peak_memory_stats()
    for meter in run.live:
        meter.start()
    try:
        load_begin = run.edge()
        run.progress("load", 0, 1)
        try:
            info = run.task.load()
        except BenchmarkFailure:
            raise
        except Exception as exc:
            raise classify_exception(exc, "load") from exc
        load_end = run.edge()
        run.progress("load", 1, 1)
        load_j, _ = run.energy([(load_begin, load_end)])
        n = spec.resolved_samples
        run.samples = run.task.samples(spec.dataset_path or spec.task_config.dataset.path, n)
        if not run.samples:
            raise BenchmarkFailure(ErrorKind.INTERNAL, "the dataset gave no samples")
        phase_s = _warmup(run)
        method = _decode_method(run, phase_s)
        idle_before = _idle(run)
        reps = [_repetition(run, i, method) for i in range(spec.resolved_repetitions)]
        idle_after = _idle(run)
    finally:
        for meter in run.live:
            meter.close()
    return _assemble(run, started, info.num_parameters, load_j, load_end - load_begin, reps, method,
                     (idle_before, idle_after))  # fmt: skip


def _check_gpu_memory(spec: BenchmarkSpec) -> None:
    """Refuse a model whose weights (plus 20%) cannot fit in the GPU's free memory, before loading it.

    The parameter count is the data layer's (`model_files.folder_parameters`), the one submission checked.
    """
    import torch

    params = folder_parameters(spec.model_dir)
    if not params:
        return
    need = params * DTYPE_BYTES.get(spec.resolved_precision, 4) * MEMORY_OVERHEAD
    free, total = torch.cuda.mem_get_info()
    if need > free:
        raise BenchmarkFailure(
            ErrorKind.OUT_OF_MEMORY,
            f"{params:,} parameters in {spec.resolved_precision} need about {need / 2**30:.1f} GiB "
            f"(weights + 20%); the GPU has {free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB",
        )


def _warmup(run: _Run) -> dict[str, float]:
    """Warm-up runs on the first input; returns each phase's mean duration per run (at least one run)."""
    task = run.task
    prepared = task.preprocess(run.samples[0])
    runs = max(run.spec.resolved_warmup_runs, 1)
    clock = PhaseClock(run.sync)
    for i in range(runs):
        start = time.perf_counter()
        clock.open(task.phases[0], start)
        task.run(prepared, clock.mark)
        if run.sync is not None:
            run.sync()
        clock.close(time.perf_counter())
        run.progress("warmup", i + 1, runs)
    return {phase: seconds / runs for phase, seconds in clock.durations().items()}


def _scored_device(spec: BenchmarkSpec) -> str:
    return "gpu" if spec.device == "cuda" else "cpu"


def _decode_method(run: _Run, phase_s: dict[str, float]) -> str | None:
    """Direct marks when the scored device's meter resolves the shortest phase, else prefill-only subtraction."""
    if len(run.task.phases) < 2:
        return None
    scored = _scored_device(run.spec)
    resolution = max((m.resolution_s for m in run.live if scored in m.devices), default=0.0)
    shortest = min(phase_s.get(phase, 0.0) for phase in run.task.phases)
    return DECODE_DIRECT if shortest >= DIRECT_MIN_UPDATES * resolution else DECODE_SUBTRACTED


def _idle(run: _Run) -> tuple[dict[str, float], float]:
    """Joules per device over the idle baseline, and its duration."""
    seconds = run.spec.task_config.idle_baseline_s.for_device(run.spec.device)
    begin = run.edge()
    time.sleep(seconds)
    end = run.edge()
    joules, _ = run.energy([(begin, end)])
    return joules, end - begin


def _repetition(run: _Run, index: int, method: str | None) -> Repetition:
    """One measured window of whole passes over the samples, repeated until the minimum window is reached."""
    task, samples = run.task, run.samples
    first = task.phases[0]
    counters = [m for m in run.live if m.resolution_s > 0] if method == DECODE_DIRECT else []
    clock = PhaseClock(run.sync, counters)
    totals = QueryOutput()
    latencies: list[float] = []
    min_window = run.spec.resolved_min_window_s
    begin = run.edge()
    clock.open("preprocess", begin)
    query_start = begin
    passes = 0
    while True:
        for sample in samples:
            prepared = task.preprocess(sample)
            clock.mark(first)
            out = task.run(prepared, clock.mark)
            clock.mark("preprocess")
            latencies.append(clock.since - query_start)
            query_start = clock.since
            _add(totals, out)
        passes += 1
        run.progress(f"repetition {index + 1}", passes, passes)
        if time.perf_counter() - begin >= min_window:
            break
    end = run.edge()
    clock.close(end)
    queries = passes * len(samples)
    rep = _repetition_energy(run, clock, begin, end, queries, latencies, totals)
    if method == DECODE_SUBTRACTED:
        _first_phase_window(run, rep)
    run.progress("repetitions", index + 1, run.spec.resolved_repetitions)
    return rep


def _repetition_energy(
    run: _Run,
    clock: PhaseClock,
    begin: float,
    end: float,
    queries: int,
    latencies: list[float],
    totals: QueryOutput,
) -> Repetition:
    total_j, extras = run.energy([(begin, end)])
    phase_j: dict[tuple[str, str], float] = {}
    for phase, spans in clock.intervals.items():
        joules, _ = run.energy(spans)
        phase_j.update({(phase, device): value for device, value in joules.items()})
    outputs = Outputs(
        queries=queries,
        input_tokens=totals.input_tokens,
        output_tokens=totals.output_tokens,
        images=totals.images,
        audio_seconds=totals.audio_seconds,
    )
    return Repetition(queries, end - begin, phase_j, clock.durations(), total_j, extras, latencies, outputs)


def _first_phase_window(run: _Run, rep: Repetition) -> None:
    """Prefill alone in its own window (inputs prepared beforehand), repeated until the minimum window."""
    prepared = [run.task.preprocess(s) for s in run.samples]
    begin = run.edge()
    queries = 0
    while True:
        for item in prepared:
            run.task.run_first_phase_only(item)
        queries += len(prepared)
        if time.perf_counter() - begin >= run.spec.resolved_min_window_s:
            break
    end = run.edge()
    rep.first_phase_j, _ = run.energy([(begin, end)])
    rep.first_phase_s = end - begin
    rep.first_phase_queries = queries


def _add(totals: QueryOutput, out: QueryOutput) -> None:
    totals.input_tokens += out.input_tokens
    totals.output_tokens += out.output_tokens
    totals.images += out.images
    totals.audio_seconds += out.audio_seconds


# --- figures ----------------------------------------------------------------------------------------------------


def _wh_per_1k(joules_per_query: float) -> float:
    return joules_per_query * 1000.0 / J_PER_WH


def _figure(
    phase: str,
    device: str,
    summary_j: Summary,
    measured: bool,
    source: str,
    idle_w: float | None,
    seconds_per_query: float,
) -> EnergyFigure:
    """An EnergyFigure from a summary of joules per query."""
    wh = summary_j.scaled(1000.0 / J_PER_WH)
    low, high = wh.ci95
    low = max(low, 0.0)  # energy is never negative: a wide t-interval over few repetitions is cut at zero
    net = None if idle_w is None else wh.mean - _wh_per_1k(idle_w * seconds_per_query)
    return EnergyFigure(
        phase=phase,
        device=device,  # type: ignore[arg-type]
        mean_wh_per_1k=wh.mean,
        std_wh_per_1k=wh.std,
        ci95_low_wh_per_1k=low,
        ci95_high_wh_per_1k=high,
        repetitions=wh.n,
        measured=measured,
        source=source,
        net_of_idle_mean_wh_per_1k=net,
    )


def _phase_figures(
    run: _Run, reps: list[Repetition], method: str | None, idle_w: dict[str, float]
) -> list[EnergyFigure]:
    """Per phase and device, plus the 'total' of all inference phases, from the repetitions."""
    figures: list[EnergyFigure] = []
    phases = ["preprocess", *run.task.phases] if method != DECODE_SUBTRACTED else ["preprocess"]
    for device, (measured, source) in run.device_info().items():
        idle = idle_w.get(device)
        for phase in phases:
            summary = _per_query(reps, [r.phase_j.get((phase, device), 0.0) for r in reps], f"{phase} on {device}")
            seconds = _mean(r.phase_s.get(phase, 0.0) / r.queries for r in reps)
            figures.append(_figure(phase, device, summary, measured, source, idle, seconds))
        if method == DECODE_SUBTRACTED:
            figures.extend(_subtracted_figures(run, reps, device, measured, source, idle))
        total = _per_query(reps, [r.total_j[device] for r in reps], f"total on {device}")
        total_s = _mean(r.duration_s / r.queries for r in reps)
        figures.append(_figure("total", device, total, measured, source, idle, total_s))
    return figures


def _per_query(reps: list[Repetition], joules: list[float], label: str) -> Summary:
    """Summary of joules per query over repetitions; a non-positive repetition raises."""
    return summarize([j / r.queries for j, r in zip(joules, reps, strict=True)], f"{label} (J/query)")


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return math.fsum(items) / len(items)


def _subtracted_figures(
    run: _Run, reps: list[Repetition], device: str, measured: bool, source: str, idle: float | None
) -> list[EnergyFigure]:
    """First phase from its own window; second = (all inference phases) - first, uncertainty propagated."""
    first_name, second_name = run.task.phases[0], run.task.phases[1]
    first = summarize([r.first_phase_j[device] / r.first_phase_queries for r in reps], f"{first_name} on {device}")
    inference = summarize(
        [math.fsum(r.phase_j.get((p, device), 0.0) for p in run.task.phases) / r.queries for r in reps],
        f"inference on {device}",
    )
    second = difference(inference, first)
    if not second.mean > 0:
        raise NonPositiveReadingError(f"{second_name} energy on {device} (inference - {first_name})", 0, second.mean)
    first_s = _mean(r.first_phase_s / r.first_phase_queries for r in reps)
    inference_s = _mean(sum(r.phase_s.get(p, 0.0) for p in run.task.phases) / r.queries for r in reps)
    return [
        _figure(first_name, device, first, measured, source, idle, first_s),
        _figure(second_name, device, second, measured, source, idle, inference_s - first_s),
    ]


def _idle_baselines(
    run: _Run, before: tuple[dict[str, float], float], after: tuple[dict[str, float], float]
) -> tuple[list[IdleBaseline], dict[str, float]]:
    baselines: list[IdleBaseline] = []
    power: dict[str, float] = {}
    for device, (measured, source) in run.device_info().items():
        w_before = max(before[0].get(device, 0.0) / before[1], 0.0) if before[1] > 0 else 0.0
        w_after = max(after[0].get(device, 0.0) / after[1], 0.0) if after[1] > 0 else 0.0
        power[device] = (w_before + w_after) / 2
        baselines.append(
            IdleBaseline(
                device=device,  # type: ignore[arg-type]
                mean_power_w=power[device],
                before_power_w=w_before,
                after_power_w=w_after,
                duration_s=before[1] + after[1],
                measured=measured,
                source=source,
            )
        )
    return baselines, power


def _load_figures(run: _Run, load_j: dict[str, float], load_s: float, idle_w: dict[str, float]) -> list[EnergyFigure]:
    """The one-off load energy, amortized over one pass of the benchmark's samples (Wh per 1k queries)."""
    n = len(run.samples)
    figures = []
    for device, (measured, source) in run.device_info().items():
        summary = summarize([load_j.get(device, 0.0) / n], f"load energy on {device}")
        figures.append(_figure("load", device, summary, measured, source, idle_w.get(device), load_s / n))
    return figures


def _carbon(run: _Run, reps: list[Repetition]) -> CarbonCrossCheck | None:
    """codecarbon's own figures over the measured windows, per 1k queries."""
    meter = next((m for m in run.live if isinstance(m, CodecarbonMeter)), None)
    if meter is None:
        return None
    queries = sum(r.queries for r in reps)

    def per_1k(joules: float) -> float:
        return _wh_per_1k(joules / queries)

    return CarbonCrossCheck(
        gpu_wh_per_1k=per_1k(sum(r.extras.get(EXTRA_GPU_J, 0.0) for r in reps)) if run.spec.device == "cuda" else None,
        cpu_wh_per_1k=per_1k(sum(r.total_j.get("cpu", 0.0) for r in reps)),
        ram_wh_per_1k=per_1k(sum(r.total_j.get("ram", 0.0) for r in reps)),
        co2_g_per_1k=sum(r.extras.get(EXTRA_CO2_G, 0.0) for r in reps) * 1000.0 / queries,
        country_iso_code=meter.country_iso_code,
        region=meter.region,
    )


def _peak_memory_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return float(torch.cuda.max_memory_allocated()) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _assemble(
    run: _Run,
    started: datetime,
    num_parameters: int,
    load_j: dict[str, float],
    load_s: float,
    reps: list[Repetition],
    method: str | None,
    idle: tuple[tuple[dict[str, float], float], tuple[dict[str, float], float]],
) -> Result:
    spec = run.spec
    scored = _scored_device(spec)
    if scored not in run.device_info():
        reasons = "; ".join(u.reason for m in run.meters for u in m.unavailable() if u.device == scored)
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"no meter for the scored device {scored}: {reasons or 'none'}")
    baselines, idle_w = _idle_baselines(run, *idle)
    figures = _load_figures(run, load_j, load_s, idle_w) + _phase_figures(run, reps, method, idle_w)
    scored_total = next(f for f in figures if f.phase == "total" and f.device == scored)
    latencies = [x for r in reps for x in r.latencies_s]
    return Result(
        result_id=spec.request_id or secrets.token_hex(8),
        request_id=spec.request_id,
        model_id=spec.model_id,
        revision=spec.revision,
        task=spec.task_config.task,
        config_version=spec.task_config.config_version,
        precision=spec.resolved_precision,
        device=spec.device,
        num_parameters=num_parameters,
        size_class=size_class(num_parameters),
        hardware=fingerprint(spec.device, spec.hardware_class),
        software=software_versions(),
        energy=figures,
        idle=baselines,
        unavailable_meters=[
            UnavailableMeter(device=u.device, source=u.source, reason=u.reason)
            for m in run.meters
            for u in m.unavailable()
        ],
        scored_device=scored,  # type: ignore[arg-type]
        scored_energy_wh_per_1k=scored_total.mean_wh_per_1k,
        decode_method=method,
        latency_s_mean=math.fsum(latencies) / len(latencies),
        latency_s_p95=percentile(latencies, 95),
        throughput_queries_per_s=sum(r.queries for r in reps) / math.fsum(r.duration_s for r in reps),
        outputs=reps[0].outputs,
        peak_memory_mb=_peak_memory_mb(spec.device),
        samples=len(run.samples),
        repetitions=len(reps),
        carbon=_carbon(run, reps),
        started_at=started,
        finished_at=utc_now(),
        worker_id=spec.worker_id,
        metered_gpus=metered_gpus(run.meters),
        distinct_samples=run.task.distinct_samples,
    )
