"""Reading an optimum-benchmark `energy_star` report into a `Result`: a pure parser and a mapping, no I/O.

optimum-benchmark writes `benchmark.json` (its config and its report together), or `benchmark_config.json` and
`benchmark_report.json` side by side. Each report phase (`load_dataset`, `preprocess_dataset`, `load_model`,
then `forward`, or `prefill` and `decode`, or `call`) carries codecarbon energy in kWh for cpu, ram and gpu over
the whole pass of `num_samples` samples. One run, no repetitions: the figures have no interval.

What the tracker could read: GPU energy comes from NVML's counter (measured); whether codecarbon read RAPL or
fell back to its TDP model for the CPU is not in the report, so CPU energy is marked estimated, as is RAM energy
(always a model). A zero GPU reading on a CUDA run is refused rather than averaged in.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from leaderboard_data.configs import GENERATIVE_PIPELINES, Pipeline, TaskConfig
from leaderboard_data.errors import EnergyScoreError
from leaderboard_data.records import EnergyFigure, HardwareFingerprint, Outputs, Quality, Result, UnavailableMeter

MAX_REPORT_BYTES = 10 * 2**20
MAX_PHASE_KWH = 1e6
SCENARIO = "energy_star"
NATIVE_PROTOCOL = "native"
_DEVICES = ("gpu", "cpu", "ram")
_PIPELINE_OF_TASK = {
    "text-classification": Pipeline.TEXT_CLASSIFICATION,
    "text-generation": Pipeline.TEXT_GENERATION,
    "summarization": Pipeline.SUMMARIZATION,
    "text2text-generation": Pipeline.SUMMARIZATION,
    "question-answering": Pipeline.EXTRACTIVE_QA,
    "sentence-similarity": Pipeline.SENTENCE_SIMILARITY,
    "image-classification": Pipeline.IMAGE_CLASSIFICATION,
    "object-detection": Pipeline.OBJECT_DETECTION,
    "automatic-speech-recognition": Pipeline.AUTOMATIC_SPEECH_RECOGNITION,
    "text-to-image": Pipeline.IMAGE_GENERATION,
    "image-to-text": Pipeline.IMAGE_CAPTIONING,
}
# Report phase -> (this leaderboard's phase, counted in the inference total like the native runner's).
_PHASES = {
    "preprocess_dataset": ("preprocess", True),
    "load_model": ("load", False),
    "forward": ("forward", True),
    "prefill": ("prefill", True),
    "decode": ("decode", True),
    "call": ("denoise", True),
}
_INFERENCE_SETS = ({"forward"}, {"prefill", "decode"}, {"call"})
_PRECISIONS = {None: "float32", "float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}
IMPORTED_QUALITY_NOTE = "an imported optimum-benchmark report carries no model outputs, so it has no quality figure"
_SOURCES = {
    "gpu": "codecarbon_nvml (optimum-benchmark)",
    "cpu": "codecarbon_cpu (optimum-benchmark; RAPL or TDP model, the report does not say which)",
    "ram": "codecarbon_ram_model (optimum-benchmark)",
}


class ReportImportError(EnergyScoreError):
    """An imported report was refused; the message says which field and why."""


@dataclass(frozen=True)
class PhaseReading:
    """One report phase: energy over the whole pass (kWh per device) and its wall time (s)."""

    name: str
    energy_kwh: dict[str, float]
    latency_s: float


@dataclass(frozen=True)
class OptimumBenchmarkReport:
    """The parts of an energy_star report this leaderboard uses, checked."""

    tool_version: str
    backend: dict[str, Any]
    scenario: dict[str, Any]
    environment: dict[str, Any]
    pipeline: Pipeline
    device: str
    precision: str
    num_samples: int
    batch_size: int
    new_tokens: tuple[int, int] | None
    phases: dict[str, PhaseReading]
    content_sha256: str

    @property
    def inference_phases(self) -> list[str]:
        """The measured passes (forward, prefill and decode, or call), without preprocessing."""
        return [p for p in self.phases if _PHASES[p][1] and p != "preprocess_dataset"]


def _fail(message: str) -> ReportImportError:
    return ReportImportError(f"optimum-benchmark report refused: {message}")


def _reject_constant(name: str) -> float:
    raise _fail(f"the JSON holds {name}, which is not a number")


def _load_json(content: bytes, what: str) -> dict[str, Any]:
    if len(content) > MAX_REPORT_BYTES:
        raise _fail(f"{what} is {len(content):,} bytes; the limit is {MAX_REPORT_BYTES:,}")
    try:
        data = json.loads(content.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise _fail(f"{what} is not UTF-8 text (byte {exc.start})") from exc
    except RecursionError as exc:
        raise _fail(f"{what} is nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise _fail(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise _fail(f"{what} must be a JSON object, not {type(data).__name__}")
    return data


def _mapping(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise _fail(f"'{where}{key}' is missing or not an object")
    return value


def _number(data: Mapping[str, Any], key: str, where: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(f"'{where}{key}' is missing or not a finite number (got {str(value)[:40]!r})")
    return float(value)


def _count(data: Mapping[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(f"'{where}{key}' must be a positive whole number (got {str(value)[:40]!r})")
    return value


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise _fail(f"'{where}{key}' is missing or not a short text")
    return value


def _phase(report: Mapping[str, Any], name: str) -> PhaseReading:
    where = f"report.{name}."
    phase = _mapping(report, name, "report.")
    energy = phase.get("energy")
    if not isinstance(energy, dict):
        raise _fail(f"'{where}energy' is missing: the run tracked no energy for {name}")
    if energy.get("unit") != "kWh":
        raise _fail(f"'{where}energy.unit' must be 'kWh' (got {str(energy.get('unit'))[:20]!r})")
    readings = {device: _number(energy, device, f"{where}energy.") for device in _DEVICES}
    for device, kwh in readings.items():
        if kwh < 0:
            raise _fail(f"'{where}energy.{device}' is negative ({kwh:g} kWh): a broken reading, not a measurement")
        if kwh > MAX_PHASE_KWH:
            raise _fail(f"'{where}energy.{device}' is {kwh:g} kWh, more than any benchmark pass could use")
    latency = _mapping(phase, "latency", where)
    seconds = _number(latency, "total", f"{where}latency.")
    if seconds < 0:
        raise _fail(f"'{where}latency.total' is negative ({seconds:g} s)")
    return PhaseReading(name=name, energy_kwh=readings, latency_s=seconds)


def _new_tokens(scenario: Mapping[str, Any]) -> tuple[int, int] | None:
    kwargs = scenario.get("generate_kwargs")
    if not isinstance(kwargs, dict) or "max_new_tokens" not in kwargs:
        return None
    high = _count(kwargs, "max_new_tokens", "config.scenario.generate_kwargs.")
    low = kwargs.get("min_new_tokens", 0)
    if isinstance(low, bool) or not isinstance(low, int) or low < 0:
        raise _fail("'config.scenario.generate_kwargs.min_new_tokens' must be a whole number")
    return low, high


def parse_report(content: bytes, config_content: bytes | None = None) -> OptimumBenchmarkReport:
    """Check and read `benchmark.json`, or `benchmark_report.json` with its `benchmark_config.json`.

    Raises ReportImportError naming the field for anything this leaderboard cannot stand behind.
    """
    data = _load_json(content, "the report")
    if "report" in data or "config" in data:
        config, report = _mapping(data, "config", ""), _mapping(data, "report", "")
        canonical = {"config": config, "report": report}
    elif config_content is None:
        raise _fail(
            "a bare benchmark_report.json has no config (scenario, samples, model): give benchmark.json, or keep "
            "benchmark_config.json beside it"
        )
    else:
        config, report = _load_json(config_content, "the config"), data
        canonical = {"config": config, "report": report}
    scenario = _mapping(config, "scenario", "config.")
    backend = _mapping(config, "backend", "config.")
    environment = _mapping(config, "environment", "config.")
    if scenario.get("name") != SCENARIO:
        raise _fail(f"scenario {str(scenario.get('name'))[:40]!r} is not '{SCENARIO}': only energy reports import")
    if scenario.get("energy") is not True:
        raise _fail("'config.scenario.energy' is not true: the run tracked no energy")
    task = _text(backend, "task", "config.backend.")
    if task not in _PIPELINE_OF_TASK:
        raise _fail(f"task {task[:40]!r} has no counterpart here; known: {', '.join(sorted(_PIPELINE_OF_TASK))}")
    device = backend.get("device")
    if device not in ("cpu", "cuda"):
        raise _fail(f"'config.backend.device' must be 'cpu' or 'cuda' (got {str(device)[:20]!r})")
    dtype = backend.get("torch_dtype")
    if not (dtype is None or isinstance(dtype, str)) or dtype not in _PRECISIONS:
        raise _fail(f"'config.backend.torch_dtype' {str(dtype)[:20]!r} is not one of float32, float16, bfloat16")
    input_shapes = _mapping(scenario, "input_shapes", "config.scenario.")
    present = {name for name in _PHASES if name in report}
    inference = next((s for s in _INFERENCE_SETS if s <= present), None)
    if inference is None or "preprocess_dataset" not in present:
        raise _fail("the report needs a 'preprocess_dataset' phase and 'forward', 'prefill' and 'decode', or 'call'")
    needed = inference | {"preprocess_dataset"} | ({"load_model"} & present)
    phases = {name: _phase(report, name) for name in _PHASES if name in needed}
    return OptimumBenchmarkReport(
        tool_version=_text(environment, "optimum_benchmark_version", "config.environment."),
        backend=backend,
        scenario=scenario,
        environment=environment,
        pipeline=_PIPELINE_OF_TASK[task],
        device=device,
        precision=_PRECISIONS[dtype],
        num_samples=_count(scenario, "num_samples", "config.scenario."),
        batch_size=_count(input_shapes, "batch_size", "config.scenario.input_shapes."),
        new_tokens=_new_tokens(scenario),
        phases=phases,
        content_sha256=hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest(),
    )


def protocol_differences(report: OptimumBenchmarkReport, config: TaskConfig) -> list[str]:
    """How the report's workload differs from the task config's: task, samples, batch size, output lengths."""
    differences = []
    if report.pipeline != config.pipeline:
        differences.append(f"task {report.pipeline.value} (native: {config.pipeline.value})")
    if report.num_samples != config.num_samples:
        differences.append(f"{report.num_samples} samples (native: {config.num_samples})")
    if report.batch_size != config.batch_size:
        differences.append(f"batch size {report.batch_size} (native: {config.batch_size})")
    if config.generation is not None:
        native = (config.generation.min_new_tokens, config.generation.max_new_tokens)
        if report.new_tokens is None:
            differences.append(f"output lengths not recorded (native: {native[0]}-{native[1]} new tokens)")
        elif report.new_tokens != native:
            differences.append(
                f"{report.new_tokens[0]}-{report.new_tokens[1]} new tokens (native: {native[0]}-{native[1]})"
            )
        if bool(report.scenario.get("reasoning")) != config.generation.reasoning:
            differences.append(
                f"reasoning {bool(report.scenario.get('reasoning'))} (native: {config.generation.reasoning})"
            )
    return differences


def cohort_protocol(report: OptimumBenchmarkReport, config: TaskConfig) -> str:
    """'native' when the workload matches the task config, else 'imported:<signature>' (its own cohort)."""
    if not protocol_differences(report, config):
        return NATIVE_PROTOCOL
    tokens = "-".join(str(n) for n in report.new_tokens) if report.new_tokens else "unrecorded"
    signature = f"{report.pipeline.value},samples={report.num_samples},batch={report.batch_size}"
    return f"imported:{signature}" + (f",new_tokens={tokens}" if report.pipeline in GENERATIVE_PIPELINES else "")


def import_result_id(report: OptimumBenchmarkReport, model_id: str, task: str, revision: str) -> str:
    """The same report imported for the same model, task and revision always gets the same id."""
    key = json.dumps([report.content_sha256, model_id, task, revision])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _scored_device(report: OptimumBenchmarkReport) -> str:
    device = "gpu" if report.device == "cuda" else "cpu"
    for name in report.inference_phases:
        if report.phases[name].energy_kwh[device] <= 0:
            raise _fail(
                f"'report.{name}.energy.{device}' is zero: the tracker read no {device.upper()} energy, and a zero "
                "would be averaged in as if measured"
            )
    return device


def _figure(phase: str, device: str, kwh: float, samples: int) -> EnergyFigure:
    wh_per_1k = kwh * 1e6 / samples  # kWh over `samples` queries -> Wh per 1,000 queries
    return EnergyFigure(
        phase=phase,
        device=device,  # type: ignore[arg-type]
        mean_wh_per_1k=wh_per_1k,
        std_wh_per_1k=0.0,
        ci95_low_wh_per_1k=wh_per_1k,
        ci95_high_wh_per_1k=wh_per_1k,
        repetitions=1,
        measured=device == "gpu",
        source=_SOURCES[device],
        method="imported",
    )


def _figures(report: OptimumBenchmarkReport, devices: list[str]) -> list[EnergyFigure]:
    figures = [
        _figure(_PHASES[name][0], device, reading.energy_kwh[device], report.num_samples)
        for name, reading in report.phases.items()
        for device in devices
    ]
    for device in devices:
        total = math.fsum(
            report.phases[name].energy_kwh[device] for name in ["preprocess_dataset", *report.inference_phases]
        )
        figures.append(_figure("total", device, total, report.num_samples))
    return figures


def hardware_fingerprint(report: OptimumBenchmarkReport, hardware_class: str) -> HardwareFingerprint:
    """The run's machine as optimum-benchmark recorded it."""
    env = report.environment
    where = "config.environment."
    gpus = env.get("gpu")
    gpu_name = gpus[0] if isinstance(gpus, list) and gpus and isinstance(gpus[0], str) else None
    count = env.get("gpu_count")
    cpu = env.get("cpu")
    on_gpu = report.device == "cuda"
    try:
        return HardwareFingerprint(
            hardware_class=hardware_class,
            accelerator_name=gpu_name[:200] if gpu_name and on_gpu else None,
            accelerator_count=count if isinstance(count, int) and not isinstance(count, bool) and on_gpu else 0,
            cpu_model=cpu.strip()[:200] if isinstance(cpu, str) and cpu.strip() else "not recorded",
            cpu_count=_count(env, "cpu_count", where),
            ram_gb=round(_number(env, "cpu_ram_mb", where) / 1000, 3),
        )
    except ValidationError as exc:
        raise _fail(f"the hardware description does not validate: {exc.errors()[0]['msg']}") from exc


def provenance(report: OptimumBenchmarkReport, config: TaskConfig) -> dict[str, Any]:
    """What the imported run was: model, backend, scenario settings, versions, and how it differs from native."""
    env = report.environment
    return {
        "tool": "optimum-benchmark",
        "tool_version": report.tool_version,
        "model": report.backend.get("model"),
        "backend": {
            k: report.backend.get(k)
            for k in (
                "name",
                "version",
                "task",
                "library",
                "model_type",
                "device",
                "torch_dtype",
                "no_weights",
                "torch_compile",
            )
        },
        "scenario": {k: v for k, v in report.scenario.items() if not k.startswith("_")},
        "codecarbon_version": env.get("codecarbon_version") or "not recorded in the report",
        "versions": {k: env.get(k) for k in sorted(env) if k.endswith("_version")},
        "report_sha256": report.content_sha256,
        "runs": 1,
        "protocol_differences": protocol_differences(report, config),
        "cohort_protocol": cohort_protocol(report, config),
        "latency": "one timed pass per phase: p95 per query was not recorded, so latency_s_p95 repeats the mean",
        "cpu_energy": "estimated: the report does not say whether codecarbon read RAPL or used its TDP model",
    }


def report_to_result(
    report: OptimumBenchmarkReport,
    config: TaskConfig,
    *,
    model_id: str,
    revision: str,
    hardware_class: str,
    submitter: str,
    num_parameters: int | None,
    size_class: str,
    now: datetime,
) -> Result:
    """The Result an imported report stands for; marked imported, one run, no interval."""
    if report.pipeline != config.pipeline:
        raise _fail(f"the report ran task {report.pipeline.value}, not {config.task} ({config.pipeline.value})")
    try:
        return _result(report, config, model_id, revision, hardware_class, submitter, num_parameters, size_class, now)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise _fail(f"the result does not validate: {'.'.join(map(str, problem['loc']))}: {problem['msg']}") from exc


def _result(
    report: OptimumBenchmarkReport,
    config: TaskConfig,
    model_id: str,
    revision: str,
    hardware_class: str,
    submitter: str,
    num_parameters: int | None,
    size_class: str,
    now: datetime,
) -> Result:
    scored = _scored_device(report)
    devices = [d for d in _DEVICES if d != "gpu" or report.device == "cuda"]
    seconds = math.fsum(report.phases[name].latency_s for name in ["preprocess_dataset", *report.inference_phases])
    inference_s = math.fsum(report.phases[name].latency_s for name in report.inference_phases)
    per_query_s = inference_s / report.num_samples
    short_version = ".".join(report.tool_version.split(".")[:2])
    unavailable = (
        []
        if report.device == "cuda"
        else [UnavailableMeter(device="gpu", source=_SOURCES["gpu"], reason="the imported run was on CPU")]
    )
    return Result(
        result_id=import_result_id(report, model_id, config.task, revision),
        request_id=None,
        model_id=model_id,
        revision=revision,
        task=config.task,
        config_version=config.config_version,
        precision=report.precision,
        device=report.device,  # type: ignore[arg-type]
        num_parameters=num_parameters or 0,
        size_class=size_class,
        hardware=hardware_fingerprint(report, hardware_class),
        software={k: str(v) for k, v in report.environment.items() if k.endswith("_version") and v is not None},
        energy=_figures(report, devices),
        unavailable_meters=unavailable,
        scored_device=scored,  # type: ignore[arg-type]
        scored_energy_wh_per_1k=math.fsum(
            report.phases[name].energy_kwh[scored] for name in ["preprocess_dataset", *report.inference_phases]
        )
        * 1e6
        / report.num_samples,
        decode_method="subtracted_by_optimum_benchmark" if "decode" in report.phases else None,
        latency_s_mean=per_query_s,
        latency_s_p95=per_query_s,
        throughput_queries_per_s=report.num_samples / inference_s if inference_s > 0 else 0.0,
        outputs=Outputs(queries=report.num_samples),
        peak_memory_mb=0.0,
        samples=report.num_samples,
        repetitions=1,
        started_at=now - timedelta(seconds=seconds),
        finished_at=now,
        worker_id=f"import:{submitter}"[:200],
        source=f"imported (optimum-benchmark {short_version})",
        provenance=provenance(report, config),
        quality=Quality(
            metric=config.quality.metric if config.quality else "none",
            direction=config.quality.direction if config.quality else "higher",
            note=IMPORTED_QUALITY_NOTE,
        ),
    )
