"""The benchmark engine: one model, one task config, one device -> one validated `Result`.

Three parts, one module each: `runner.protocol` measures (windows, repetitions, idle baselines) and returns raw
readings (`runner.readings`); `runner.figures` turns readings into figures (pure functions); `runner.assemble`
builds the Result. This module holds the spec, the entry point and failure classification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from leaderboard_data.configs import Pipeline, TaskConfig
from leaderboard_data.model_files import folder_parameters
from leaderboard_data.protocols import AsMeasured, ProtocolPlan, ProtocolProfile, plan_for, protocol_deviations
from leaderboard_data.records import LOCAL_DATASET, ErrorKind, Result, RuntimeRecord, utc_now
from runner.assemble import RunFacts, assemble_result, load_check_summary
from runner.errors import BenchmarkFailure
from runner.figures import compute_figures
from runner.meters import EnergyMeter, MeterError, detect_meters, gpu_watch, metered_gpus
from runner.meters.load_monitor import LoadGate, LoadMonitor, gate_from_env, quiet_idle_from_env
from runner.per_token import token_figures
from runner.protocol import Measurement, PhaseClock, ProgressCallback, ProtocolSettings
from runner.quality.outputs import score_run_outputs
from runner.readings import DecodeMethod
from runner.runtime import allowed_cores, apply_runtime, pin_process
from runner.stats import NonPositiveReadingError
from runner.tasks.base import BenchmarkTask

MEMORY_OVERHEAD = 1.2
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
DECODE_DIRECT = DecodeMethod.DIRECT.value
DECODE_SUBTRACTED = DecodeMethod.SUBTRACTED.value

__all__ = ["DECODE_DIRECT", "DECODE_SUBTRACTED", "BenchmarkSpec", "PhaseClock", "classify_exception", "run_benchmark"]


@dataclass
class BenchmarkSpec:
    """Everything that defines one benchmark run; None fields fall back to its protocol's plan (`protocol`, a
    profile such as the demo's, or None for the task config's standard protocol). A run that differs from its
    plan is published as exploratory (see `leaderboard_data.protocols`)."""

    model_id: str
    model_dir: Path
    revision: str
    task_config: TaskConfig
    device: Literal["cpu", "cuda"] = "cpu"
    protocol: ProtocolProfile | None = None
    precision: str | None = None
    samples: int | None = None
    repetitions: int | None = None
    rounds: int | None = None
    """Base rounds (each a pass over every slice); None: the plan's `rounds.base`."""
    dataset_path: str | None = None
    request_id: str | None = None
    worker_id: str = "local"
    hardware_class: str | None = None
    country_iso_code: str = "USA"
    progress: bool = False
    min_window_s: float | None = None
    warmup_runs: int | None = None
    load_gate: str | None = None
    added_rounds_budget_s: float | None = None
    """Measured time allowed for rounds added for an imprecise mean; None: the plan's (0 adds none)."""
    quiet_wait_s: float | None = None
    """How long to wait for a quiet machine before failing as machine_busy; None: the config's."""
    quiet_idle_w: dict[str, float] | None = None
    """This machine's quiet idle power per device; None: ENERGY_SCORE_QUIET_IDLE_W (unset: no such check)."""
    score_quality: bool = True
    """Score the outputs' quality after measuring (off only to time the scoring's cost, bench/quality_overhead)."""
    """"gate" (re-measure contaminated windows, fail as machine_busy) or "record"; None: ENERGY_SCORE_LOAD_GATE."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for handing the spec to a child process."""
        data = asdict(self)
        data["model_dir"] = str(self.model_dir)
        data["task_config"] = self.task_config.model_dump(mode="json")
        data["protocol"] = self.protocol.model_dump(mode="json") if self.protocol else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkSpec:
        fields = dict(data)
        fields["model_dir"] = Path(fields["model_dir"])
        fields["task_config"] = TaskConfig.model_validate(fields["task_config"])
        if fields.get("protocol") is not None:
            fields["protocol"] = ProtocolProfile.model_validate(fields["protocol"])
        return cls(**fields)

    @property
    def plan(self) -> ProtocolPlan:
        return plan_for(self.task_config, self.device, self.protocol)

    @property
    def resolved_precision(self) -> str:
        return self.precision or self.task_config.precision.for_device(self.device)

    @property
    def resolved_samples(self) -> int:
        return self.samples or self.plan.samples

    @property
    def resolved_repetitions(self) -> int:
        return self.repetitions or self.plan.repetitions

    @property
    def resolved_rounds(self) -> int:
        return self.rounds or self.plan.rounds.base

    @property
    def resolved_min_window_s(self) -> float:
        return self.plan.min_window_s if self.min_window_s is None else self.min_window_s

    @property
    def resolved_warmup_runs(self) -> int:
        return self.task_config.warmup_runs if self.warmup_runs is None else self.warmup_runs

    @property
    def resolved_load_gate(self) -> LoadGate:
        return LoadGate(self.load_gate) if self.load_gate else gate_from_env()

    @property
    def scored_device(self) -> str:
        return "gpu" if self.device == "cuda" else "cpu"

    def protocol_settings(self) -> ProtocolSettings:
        config = self.task_config
        return ProtocolSettings(
            device=self.device,
            scored_device=self.scored_device,
            repetitions=self.resolved_repetitions,
            min_window_s=self.resolved_min_window_s,
            warmup_runs=self.resolved_warmup_runs,
            idle_s=config.idle_baseline_s.for_device(self.device),
            settle_s=config.idle_settle_s.for_device(self.device),
            checks=config.checks
            if self.quiet_wait_s is None
            else config.checks.model_copy(update={"quiet_wait_s": self.quiet_wait_s}),
            gate=self.resolved_load_gate,
            quiet_idle_w=quiet_idle_from_env() if self.quiet_idle_w is None else self.quiet_idle_w,
            warmup=config.warmup,
            base_rounds=self.resolved_rounds,
            max_relative_half_width=self.plan.rounds.max_relative_half_width,
            added_budget_s=(
                self.plan.rounds.added_rounds_budget_s.for_device(self.device)
                if self.added_rounds_budget_s is None
                else self.added_rounds_budget_s
            ),
        )


# --- entry point ------------------------------------------------------------------------------------------------


def run_benchmark(
    spec: BenchmarkSpec,
    meters: list[EnergyMeter] | None = None,
    on_progress: ProgressCallback | None = None,
    *,
    task_class: type[BenchmarkTask] | None = None,
    load_monitor: LoadMonitor | None = None,
) -> Result:
    """Benchmark one model on one task; every failure is raised as a classified BenchmarkFailure.

    Args:
        spec: what to run.
        meters: energy meters to use; None detects them for `spec.device`.
        on_progress: called at stage boundaries with (stage, done, total).
        task_class: the task implementation; None looks it up in TASK_REGISTRY by the config's pipeline.
        load_monitor: the foreign-load monitor; None builds one on psutil with the config's threshold, judging
            the cores this process is pinned to (all cores when it is not).

    The config's threads are applied here; a process that runs one benchmark applies its whole runtime (wait
    policy, cores) before torch starts, with `runner.runtime.apply_runtime(..., pin=True)`.
    """
    stage = "setup"
    try:
        runtime = apply_runtime(spec.task_config.runtime, spec.device)
        cls = task_class or _registered_task(spec)
        task = cls(spec.task_config, spec.model_dir, spec.device, spec.resolved_precision)
        meter_list = meters if meters is not None else detect_meters(spec.device, spec.country_iso_code)
        checks = spec.task_config.checks
        measurement = Measurement(
            task=task,
            meters=meter_list,
            settings=spec.protocol_settings(),
            monitor=load_monitor
            or LoadMonitor(
                checks.foreign_cpu_share_max,
                cores=runtime.pinned_cores,
                move_to=pin_process,
                candidates=allowed_cores(),
                gpu=gpu_watch(meter_list),
            ),
            sync=_device_sync(spec.device),
            on_progress=_progress_bar(spec, on_progress),
        )
        stage = "benchmark"
        return _execute(spec, measurement, runtime)
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


def _execute(spec: BenchmarkSpec, measurement: Measurement, runtime: RuntimeRecord) -> Result:
    started = utc_now()
    if spec.device == "cuda":
        _check_gpu_memory(spec)
        import torch

        torch.cuda.reset_peak_memory_stats()
    task = measurement.task

    def load() -> Any:
        try:
            return task.load()
        except BenchmarkFailure:
            raise
        except Exception as exc:
            raise classify_exception(exc, "load") from exc

    dataset_path = spec.dataset_path or spec.task_config.dataset.path

    def read_samples() -> list[dict[str, Any]]:
        return task.samples(dataset_path, spec.resolved_samples)

    info, readings = measurement.measure(load, read_samples)
    scored = spec.scored_device
    if scored not in readings.devices:
        reasons = "; ".join(u.reason for m in measurement.meters for u in m.unavailable() if u.device == scored)
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"no meter for the scored device {scored}: {reasons or 'none'}")
    checks = spec.task_config.checks
    figures = compute_figures(readings, scored, checks.idle_disagreement_max)
    facts = RunFacts(
        result_id=spec.request_id,
        request_id=spec.request_id,
        model_id=spec.model_id,
        revision=spec.revision,
        task=spec.task_config.task,
        config_version=spec.task_config.config_version,
        precision=spec.resolved_precision,
        device=spec.device,
        hardware_class=spec.hardware_class,
        worker_id=spec.worker_id,
        num_parameters=info.num_parameters,
        started_at=started,
    )
    load_check = load_check_summary(
        measurement.loads, spec.resolved_load_gate, checks.foreign_cpu_share_max, measurement.remeasured
    )
    quality = None
    if spec.score_quality:
        outputs_quality = score_run_outputs(task, dataset_path, measurement.predictions)
        configured = dataset_path == spec.task_config.dataset.path
        quality = outputs_quality.model_copy(update={"dataset": dataset_path if configured else LOCAL_DATASET})
    as_measured = AsMeasured(
        samples=spec.resolved_samples,
        repetitions=spec.resolved_repetitions,
        base_rounds=spec.resolved_rounds,
        min_window_s=spec.resolved_min_window_s,
        load_gate=spec.resolved_load_gate.value,
        windows=len(measurement.loads),
        contaminated_windows=sum(load.contaminated for load in measurement.loads),
    )
    plan = spec.plan
    return assemble_result(
        facts,
        readings,
        figures,
        measurement.meters,
        max_relative_half_width=plan.rounds.max_relative_half_width,
        protocol=plan,
        exploratory_reasons=protocol_deviations(plan, as_measured),
        load_check=load_check,
        metered_gpus=metered_gpus(measurement.meters),
        distinct_samples=task.distinct_samples,
        tokens=token_figures(readings, figures) if spec.task_config.pipeline == Pipeline.TEXT_GENERATION else None,
        quality=quality,
        runtime=runtime,
        warmup=readings.warmup,
    )


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
