"""Result assembly: readings and figures, plus what is known about the run, into one validated `Result`."""

from __future__ import annotations

import math
import resource
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leaderboard_data.model_checks import size_class
from leaderboard_data.protocols import ProtocolPlan
from leaderboard_data.records import (
    CarbonCrossCheck,
    MeteredGpu,
    Quality,
    Result,
    RuntimeRecord,
    TokenFigures,
    UnavailableMeter,
    WarmupRecord,
    utc_now,
)
from runner.figures import Figures, wh_per_1k
from runner.hardware import fingerprint, software_versions
from runner.meters import CodecarbonMeter, EnergyMeter
from runner.meters.codecarbon_meter import EXTRA_CO2_G, EXTRA_GPU_J
from runner.meters.load_monitor import LoadGate, WindowLoad
from runner.per_token import pooled_outputs
from runner.readings import RunReadings
from runner.stats import percentile


@dataclass(frozen=True)
class RunFacts:
    """What the result records besides the figures: identity, where and when it ran."""

    result_id: str | None
    request_id: str | None
    model_id: str
    revision: str
    task: str
    config_version: str
    precision: str
    device: str
    hardware_class: str | None
    worker_id: str
    num_parameters: int
    started_at: datetime


def load_check_summary(
    loads: list[WindowLoad], gate: LoadGate, share_max: float, remeasured: int
) -> dict[str, Any] | None:
    """The foreign-load check of the published windows, for `Result.load_check`."""
    if not loads:
        return None
    return {
        "gate": gate.value,
        "foreign_cpu_share_max": share_max,
        "windows": len(loads),
        "windows_contaminated": sum(load.contaminated for load in loads),
        "windows_remeasured": remeasured,
        "max_foreign_share": round(max(load.foreign_share for load in loads), 4),
        "foreign_cpu_s": round(math.fsum(load.foreign_cpu_s for load in loads), 3),
        "own_cpu_s": round(math.fsum(load.own_cpu_s for load in loads), 3),
        **_gpu_windows(loads),
        "window_s": round(math.fsum(load.duration_s for load in loads), 3),
        "cores_judged": loads[-1].judged,
    }


def _gpu_windows(loads: list[WindowLoad]) -> dict[str, Any]:
    """Each window's GPU state at its edges (applied clocks, temperature, clock event reasons); {} without a GPU."""
    states = [state for load in loads if (state := load.gpu_state_record()) is not None]
    return {"gpu_windows": states} if states else {}


def carbon_cross_check(meters: list[EnergyMeter], readings: RunReadings, device: str) -> CarbonCrossCheck | None:
    """codecarbon's own figures over the measured windows (preprocess + inference), per 1k queries."""
    meter = next((m for m in meters if isinstance(m, CodecarbonMeter) and m.devices), None)
    if meter is None:
        return None
    reps = readings.repetitions
    pre_queries = sum(r.preprocess_queries for r in reps)
    queries = sum(r.queries for r in reps)

    def per_query(key: str, extras: bool = False) -> float:
        """Pooled over repetitions: preprocess joules per prepared input plus inference joules per query."""
        pre = math.fsum((r.preprocess.extras if extras else r.preprocess.joules).get(key, 0.0) for r in reps)
        inf = math.fsum((r.inference.extras if extras else r.inference.joules).get(key, 0.0) for r in reps)
        return pre / pre_queries + inf / queries

    return CarbonCrossCheck(
        gpu_wh_per_1k=wh_per_1k(per_query(EXTRA_GPU_J, True)) if device == "cuda" else None,
        cpu_wh_per_1k=wh_per_1k(per_query("cpu")),
        ram_wh_per_1k=wh_per_1k(per_query("ram")),
        co2_g_per_1k=per_query(EXTRA_CO2_G, True) * 1000.0,
        country_iso_code=meter.country_iso_code,
        region=meter.region,
    )


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return float(torch.cuda.max_memory_allocated()) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def assemble_result(
    facts: RunFacts,
    readings: RunReadings,
    figures: Figures,
    meters: list[EnergyMeter],
    *,
    max_relative_half_width: float,
    protocol: ProtocolPlan,
    exploratory_reasons: list[str],
    load_check: dict[str, Any] | None,
    metered_gpus: list[MeteredGpu] | None = None,
    distinct_samples: int | None = None,
    tokens: TokenFigures | None = None,
    quality: Quality | None = None,
    runtime: RuntimeRecord | None = None,
    warmup: WarmupRecord | None = None,
) -> Result:
    """The validated Result. Unstable (no stars) when the scored mean's 95% interval stayed wider than
    `max_relative_half_width` of the mean, or has no interval (a single round). `outputs` counts every
    repetition's passes; `tokens` holds the per-token figures of a text generation run."""
    reps = readings.repetitions
    # Preprocessing has its own window: a query's latency is its inference time plus the mean preprocess time.
    pre_s = math.fsum(r.preprocess.duration_s for r in reps) / sum(r.preprocess_queries for r in reps)
    latencies = [x + pre_s for r in reps for x in r.latencies_s]
    queries = sum(r.queries for r in reps)
    seconds_per_query = pre_s + math.fsum(r.inference.duration_s for r in reps) / queries
    carbon_meter = next((m for m in meters if isinstance(m, CodecarbonMeter) and m.devices), None)
    half_width = figures.relative_half_width
    return Result(
        result_id=facts.result_id or secrets.token_hex(8),
        request_id=facts.request_id,
        model_id=facts.model_id,
        revision=facts.revision,
        task=facts.task,
        config_version=facts.config_version,
        precision=facts.precision,
        device=facts.device,  # type: ignore[arg-type]
        num_parameters=facts.num_parameters,
        size_class=size_class(facts.num_parameters),
        hardware=fingerprint(facts.device, facts.hardware_class),
        software=software_versions(),
        energy=figures.energy,
        idle=figures.idle,
        unavailable_meters=[
            UnavailableMeter(device=u.device, source=u.source, reason=u.reason) for m in meters for u in m.unavailable()
        ],
        scored_device=figures.scored_total.device,  # type: ignore[arg-type]
        scored_energy_wh_per_1k=figures.scored_total.mean_wh_per_1k,
        decode_method=readings.decode_method.value if readings.decode_method else None,
        latency_s_mean=math.fsum(latencies) / len(latencies),
        latency_s_p95=percentile(latencies, 95),
        throughput_queries_per_s=1.0 / seconds_per_query,
        outputs=pooled_outputs(reps),
        peak_memory_mb=peak_memory_mb(facts.device),
        samples=readings.samples,
        repetitions=len({r.slice_index for r in reps}),
        base_rounds=readings.base_rounds,
        added_rounds=readings.added_rounds,
        carbon=carbon_cross_check(meters, readings, facts.device),
        started_at=facts.started_at,
        finished_at=utc_now(),
        worker_id=facts.worker_id,
        unstable=half_width is None or half_width > max_relative_half_width,
        relative_half_width=half_width,
        protocol=protocol.protocol,
        protocol_version=protocol.version,
        exploratory_reasons=exploratory_reasons,
        cpu_power_model=carbon_meter.cpu_power_model() if carbon_meter else None,
        load_check=load_check,
        missing_figures=figures.missing,
        metered_gpus=metered_gpus or [],
        distinct_samples=distinct_samples,
        tokens=tokens,
        quality=quality,
        runtime=runtime,
        warmup=warmup,
    )
