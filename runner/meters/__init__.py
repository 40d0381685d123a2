"""Energy meters: NVML for NVIDIA GPUs, codecarbon for CPU and RAM, and a NullMeter for missing hardware.

`detect_meters` is the only place that decides which meter covers which device kind; an AMD GPU meter would be
one more module here and one more branch there.
"""

from __future__ import annotations

from collections.abc import Sequence

from leaderboard_data.records import MeteredGpu
from runner.meters.base import (
    DeviceEnergy,
    DeviceKind,
    EnergyMeter,
    EnergyReading,
    MeterError,
    UnavailableDevice,
    merge_readings,
)
from runner.meters.codecarbon_meter import CodecarbonMeter
from runner.meters.null import NullMeter
from runner.meters.nvml import COUNTER_SOURCE, GpuProcess, GpuState, NvmlMeter


def detect_meters(device: str, country_iso_code: str = "USA") -> list[EnergyMeter]:
    """One meter per device kind for a run on `device` ("cpu" or "cuda"); missing hardware gets a NullMeter.

    The GPU is always listed, so a CPU run's result says why GPU energy was not measured.
    """
    meters: list[EnergyMeter] = []
    if device == "cuda":
        nvml = NvmlMeter()
        if nvml.is_available():
            meters.append(nvml)
        else:
            meters.append(NullMeter("gpu", COUNTER_SOURCE, nvml.unavailable()[0].reason))
    else:
        meters.append(NullMeter("gpu", COUNTER_SOURCE, "CPU run: no GPU is used"))
    carbon = CodecarbonMeter(country_iso_code=country_iso_code)
    if carbon.is_available():
        meters.append(carbon)
    else:
        meters.extend(NullMeter(u.device, u.source, u.reason) for u in carbon.unavailable())
    return meters


def metered_gpus(meters: Sequence[EnergyMeter]) -> list[MeteredGpu]:
    """UUID, name and power limit of every GPU the given meters read, for the result."""
    return [gpu for meter in meters if isinstance(meter, NvmlMeter) for gpu in meter.metered_gpus]


def gpu_watch(meters: Sequence[EnergyMeter]) -> NvmlMeter | None:
    """The meter that lists the processes on the metered GPUs and reads their state, for the load monitor; None
    where no GPU is metered."""
    return next((meter for meter in meters if isinstance(meter, NvmlMeter)), None)


__all__ = [
    "CodecarbonMeter",
    "DeviceEnergy",
    "DeviceKind",
    "EnergyMeter",
    "EnergyReading",
    "GpuProcess",
    "GpuState",
    "MeterError",
    "NullMeter",
    "NvmlMeter",
    "UnavailableDevice",
    "detect_meters",
    "gpu_watch",
    "merge_readings",
    "metered_gpus",
]
