"""Valid synthetic `Result` records for tests.

`make_result(**overrides)` gives one plausible GPU result; any `Result` field can be overridden, plus two
shortcuts: `hardware_class` (sets `hardware.hardware_class`) and `scored_energy_wh_per_1k` (also rescales the
scored device's figures so the record stays consistent). `make_results(n, seed, tasks)` gives a varied,
reproducible population: several hardware classes, size classes, CPU-only runs, missing request ids and carbon.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from leaderboard_data.configs import load_task_configs
from leaderboard_data.queue import RequestQueue
from leaderboard_data.records import (
    CarbonCrossCheck,
    EnergyFigure,
    HardwareFingerprint,
    IdleBaseline,
    Outputs,
    Request,
    Result,
)

DEFAULT_TASKS = ("text_generation", "image_classification", "text_classification")
GPU_CLASSES = ("nvidia-h100-80gb", "nvidia-a100-40gb")
CPU_CLASS = "cpu-x86_64-16"
_START = datetime(2025, 1, 1, tzinfo=UTC)
# Each task's current config version: results made for a task are rated unless a test says otherwise.
CURRENT_CONFIG_VERSIONS = {task: config.config_version for task, config in load_task_configs().items()}


def _figure(phase: str, device: str, mean: float, measured: bool) -> EnergyFigure:
    std = mean * 0.02
    return EnergyFigure(
        phase=phase,
        device=device,  # type: ignore[arg-type]
        mean_wh_per_1k=mean,
        std_wh_per_1k=std,
        ci95_low_wh_per_1k=mean - 2.776 * std / 5**0.5,
        ci95_high_wh_per_1k=mean + 2.776 * std / 5**0.5,
        repetitions=5,
        measured=measured,
        source="nvml_energy_counter" if measured else "codecarbon_tdp_model",
    )


def energy_figures(scored_wh: float, on_gpu: bool) -> list[EnergyFigure]:
    """Per-phase and total figures whose scored-device total equals `scored_wh`."""
    if on_gpu:
        return [
            _figure("prefill", "gpu", scored_wh * 0.3, True),
            _figure("decode", "gpu", scored_wh * 0.7, True),
            _figure("total", "gpu", scored_wh, True),
            _figure("total", "cpu", scored_wh * 0.2, False),
            _figure("total", "ram", scored_wh * 0.05, False),
        ]
    return [
        _figure("forward", "cpu", scored_wh, False),
        _figure("total", "cpu", scored_wh, False),
        _figure("total", "ram", scored_wh * 0.25, False),
    ]


def _hardware(hardware_class: str, on_gpu: bool) -> HardwareFingerprint:
    if not on_gpu:
        return HardwareFingerprint(hardware_class=hardware_class, cpu_model="AMD EPYC 7R13", cpu_count=16, ram_gb=64.0)
    return HardwareFingerprint(
        hardware_class=hardware_class,
        accelerator_name="NVIDIA H100 80GB HBM3",
        accelerator_count=1,
        driver_version="550.54.15",
        power_limit_w=700.0,
        cpu_model="Intel Xeon Platinum 8480+",
        cpu_count=32,
        ram_gb=512.0,
        node="node-01",
    )


def make_result(**overrides: Any) -> Result:
    """One valid result; keyword arguments override `Result` fields (see the module docstring for shortcuts)."""
    hardware_class = overrides.pop("hardware_class", None)
    on_gpu = overrides.get("device", "cuda") == "cuda"
    scored_wh = float(overrides.get("scored_energy_wh_per_1k", 1.25))
    started = overrides.get("started_at", _START)
    fields: dict[str, Any] = {
        "result_id": uuid.uuid4().hex[:16],
        "request_id": uuid.uuid4().hex[:16],
        "model_id": "org/tiny-model",
        "revision": "a" * 40,
        "task": "text_generation",
        "config_version": CURRENT_CONFIG_VERSIONS.get(overrides.get("task", "text_generation"), "1.0"),
        "precision": "float16" if on_gpu else "float32",
        "device": "cuda" if on_gpu else "cpu",
        "num_parameters": 125_000_000,
        "size_class": "A",
        "hardware": _hardware(hardware_class or (GPU_CLASSES[0] if on_gpu else CPU_CLASS), on_gpu),
        "software": {"torch": "2.13.0", "transformers": "5.24.0"},
        "energy": energy_figures(scored_wh, on_gpu),
        "idle": [
            IdleBaseline(
                device="gpu" if on_gpu else "cpu",
                mean_power_w=70.0 if on_gpu else 30.0,
                before_power_w=69.0 if on_gpu else 29.0,
                after_power_w=71.0 if on_gpu else 31.0,
                duration_s=5.0,
                measured=on_gpu,
                source="nvml_energy_counter" if on_gpu else "codecarbon_tdp_model",
            )
        ],
        "scored_device": "gpu" if on_gpu else "cpu",
        "scored_energy_wh_per_1k": scored_wh,
        "decode_method": "direct_prefill_decode_windows",
        "latency_s_mean": 0.05,
        "latency_s_p95": 0.08,
        "throughput_queries_per_s": 20.0,
        "outputs": Outputs(queries=1000, input_tokens=50_000, output_tokens=10_000),
        "peak_memory_mb": 812.5,
        "samples": 1000,
        "repetitions": 5,
        "base_rounds": 2,
        "added_rounds": 0,
        "carbon": CarbonCrossCheck(co2_g_per_1k=scored_wh * 0.4, country_iso_code="FRA"),
        "started_at": started,
        "finished_at": started + timedelta(minutes=12),
        "worker_id": "worker-1",
    }
    fields.update(overrides)
    return Result.model_validate(fields)


def finish_with_result(queue: RequestQueue, request: Request, worker: str) -> None:
    """Finish a claimed request with a made-up result of its own model, task and precision."""
    result = make_result(
        request_id=request.request_id,
        model_id=request.model_id,
        revision=request.revision,
        task=request.task,
        device="cpu",
        precision=request.precision,
        worker_id=worker,
    )
    queue.finish(request.request_id, worker, result)


def make_results(n: int, seed: int, tasks: Sequence[str] = DEFAULT_TASKS) -> list[Result]:
    """`n` varied, valid results with reproducible ids and energies for a given seed."""
    rng = random.Random(seed)
    results = []
    for index in range(n):
        task = tasks[index % len(tasks)]
        on_gpu = rng.random() < 0.8
        overrides: dict[str, Any] = {
            "result_id": f"{rng.getrandbits(64):016x}",
            "request_id": f"{rng.getrandbits(64):016x}" if rng.random() < 0.9 else None,
            "model_id": f"org{index % 37}/model-{index}",
            "revision": f"{rng.getrandbits(160):040x}",
            "task": task,
            "device": "cuda" if on_gpu else "cpu",
            "hardware_class": rng.choice(GPU_CLASSES) if on_gpu else CPU_CLASS,
            "size_class": rng.choice("AB") if task.startswith("text_generation") else "A",
            "num_parameters": rng.randint(1_000_000, 20_000_000_000),
            "scored_energy_wh_per_1k": round(rng.lognormvariate(0.0, 1.0), 6) + 1e-3,
            "started_at": _START + timedelta(hours=index),
        }
        if rng.random() < 0.2:
            overrides["carbon"] = None
        results.append(make_result(**overrides))
    return results
