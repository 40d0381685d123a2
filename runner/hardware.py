"""What machine and software a result was measured with: the hardware fingerprint and library versions.

`hardware_class` decides which results are ranked together, so it names what changes energy: the GPU model and
count on GPU runs, the CPU model and core count on CPU runs.
"""

from __future__ import annotations

import os
import platform
import re
import socket
from importlib import metadata

import psutil

from leaderboard_data.records import HardwareFingerprint

SOFTWARE_PACKAGES = ("torch", "transformers", "diffusers", "datasets", "huggingface_hub", "codecarbon")
THIS_PACKAGE = "ai-energy-score"


def slug(text: str) -> str:
    """Lower-case, alphanumerics and dashes only: 'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what the platform module knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def _gpu_facts() -> dict[str, object] | None:
    """Name, count, driver, power limit and clocks of the GPUs torch runs on; None without NVML or a GPU."""
    from runner.meters.nvml import NvmlError, resolve_nvml_handles, torch_gpus

    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None
    try:
        handles = resolve_nvml_handles(torch_gpus())  # the GPUs the model runs on, not every GPU of the node
        handle = handles[0]
        facts: dict[str, object] = {
            "accelerator_name": _text(pynvml.nvmlDeviceGetName(handle)),
            "accelerator_count": len(handles),
            "driver_version": _text(pynvml.nvmlSystemGetDriverVersion()),
        }
        for key, call in (
            ("power_limit_w", lambda: pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0),
            ("sm_clock_mhz", lambda: int(pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_SM))),
            ("memory_clock_mhz", lambda: int(pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_MEM))),
        ):
            try:
                facts[key] = call()
            except pynvml.NVMLError:
                facts[key] = None
        return facts
    except (pynvml.NVMLError, NvmlError):
        return None
    finally:
        pynvml.nvmlShutdown()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def fingerprint(device: str, hardware_class_override: str | None = None) -> HardwareFingerprint:
    """Describe this machine. On "cuda" the class is '<gpu slug>x<count>', on "cpu" 'cpu-<cpu slug>-<n>c'."""
    model = cpu_model()
    cores = os.cpu_count() or 1
    gpu = _gpu_facts() if device == "cuda" else None
    if hardware_class_override:
        hardware_class = hardware_class_override
    elif gpu is not None:
        hardware_class = f"{slug(str(gpu['accelerator_name']))}x{gpu['accelerator_count']}"
    else:
        hardware_class = f"cpu-{slug(model)}-{cores}c"
    return HardwareFingerprint.model_validate(
        {
            "hardware_class": hardware_class[:100],
            "cpu_model": model,
            "cpu_count": cores,
            "ram_gb": round(psutil.virtual_memory().total / 2**30, 2),
            "node": socket.gethostname(),
            **(gpu or {}),
        }
    )


def software_versions() -> dict[str, str]:
    """Versions of python, the ML libraries and this package; a missing library reads 'not installed'."""
    versions = {"python": platform.python_version()}
    for name in (*SOFTWARE_PACKAGES, THIS_PACKAGE):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
