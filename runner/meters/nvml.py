"""NVIDIA GPUs through NVML (`nvidia-ml-py`, module `pynvml`).

Volta and newer GPUs expose a total-energy counter (mJ since the driver loaded, updated about every 100 ms):
window energy is its delta, a measured figure. Where the counter is unsupported, power is sampled in the
sampler thread and integrated over time, an estimated figure. Every NVML error becomes a `NvmlError`.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

from runner.meters.base import EnergyMeter, MeterError, UnavailableDevice

try:
    import pynvml
except ImportError:  # pragma: no cover - depends on the install
    pynvml = None

COUNTER_SOURCE = "nvml_energy_counter"
POWER_SOURCE = "nvml_power_sampling"
COUNTER_UPDATE_PERIOD_S = 0.1
POWER_SAMPLE_PERIOD_S = 0.1

P = ParamSpec("P")
R = TypeVar("R")


class NvmlError(MeterError):
    """An NVML call failed."""


class NvmlNotSupportedError(NvmlError):
    """The GPU does not support the call (e.g. no energy counter before Volta)."""


class NvmlLibraryError(NvmlError):
    """NVML itself is missing or could not start (no driver, no GPU)."""


def _nvml_call(func: Callable[P, R]) -> Callable[P, R]:
    """Turn NVML errors raised inside `func` into the NvmlError family."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if pynvml is None:
            raise NvmlLibraryError("nvidia-ml-py (module pynvml) is not installed")
        try:
            return func(*args, **kwargs)
        except pynvml.NVMLError as exc:
            value = getattr(exc, "value", None)
            if value == pynvml.NVML_ERROR_NOT_SUPPORTED:
                raise NvmlNotSupportedError(f"{func.__name__}: {exc}") from exc
            if value in (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED):
                raise NvmlLibraryError(f"{func.__name__}: {exc}") from exc
            raise NvmlError(f"{func.__name__}: {exc}") from exc

    return wrapper


def visible_gpu_indices() -> list[int] | None:
    """NVML indices named by CUDA_VISIBLE_DEVICES when it lists integers; None means every GPU."""
    spec = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if not spec:
        return None
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    return [int(p) for p in parts] if all(p.isdigit() for p in parts) else None


class NvmlMeter(EnergyMeter):
    """GPU energy of the GPUs this process uses, summed as device kind "gpu".

    Args:
        gpu_indices: NVML indices to meter; None means those in CUDA_VISIBLE_DEVICES, else all.
        synchronize: wait for CUDA work at window edges (torch.cuda.synchronize) so edges are exact.
    """

    def __init__(self, gpu_indices: Sequence[int] | None = None, synchronize: bool = True) -> None:
        super().__init__()
        self._requested = list(gpu_indices) if gpu_indices is not None else visible_gpu_indices()
        self._synchronize = synchronize
        self._handles: list[object] = []
        self._use_counter = True
        self._counter_start_mj: list[int] = []
        self._power_last: tuple[float, list[float]] | None = None
        self._power_energy_j: list[float] = []
        self._reason: str | None = None

    @_nvml_call
    def _init(self) -> None:
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        indices = self._requested if self._requested is not None else list(range(count))
        missing = [i for i in indices if i >= count]
        if missing or not indices:
            raise NvmlError(f"GPU indices {indices} requested, NVML sees {count}")
        self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in indices]

    def is_available(self) -> bool:
        if self._handles:
            return True
        try:
            self._init()
        except NvmlError as exc:
            self._reason = str(exc)
            return False
        return True

    def unavailable(self) -> list[UnavailableDevice]:
        if self.is_available():
            return []
        return [UnavailableDevice(device="gpu", source=COUNTER_SOURCE, reason=f"no NVIDIA GPU: {self._reason}")]

    @property
    def source(self) -> str:  # type: ignore[override]
        return COUNTER_SOURCE if self._use_counter else POWER_SOURCE

    @property
    def sample_period_s(self) -> float:  # type: ignore[override]
        return 0.5 if self._use_counter else POWER_SAMPLE_PERIOD_S

    @property
    def devices(self) -> dict[str, tuple[bool, str]]:
        return {"gpu": (self._use_counter, self.source)}

    @property
    def resolution_s(self) -> float:
        return COUNTER_UPDATE_PERIOD_S if self._use_counter else POWER_SAMPLE_PERIOD_S

    @property
    def gpu_count(self) -> int:
        return len(self._handles)

    def _open(self) -> None:
        if not self.is_available():
            raise NvmlLibraryError(f"NVML unavailable: {self._reason}")
        try:
            self._counter_start_mj = self._counters()
            self._use_counter = True
        except NvmlNotSupportedError:
            self._use_counter = False
            self._power_energy_j = [0.0] * len(self._handles)
            self._power_last = (time.perf_counter(), self._powers_w())

    def _close(self) -> None:
        self._shutdown()
        self._handles = []

    @_nvml_call
    def _shutdown(self) -> None:
        pynvml.nvmlShutdown()

    @_nvml_call
    def _counters(self) -> list[int]:
        return [int(pynvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self._handles]

    @_nvml_call
    def _powers_w(self) -> list[float]:
        return [pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0 for h in self._handles]

    def _read(self) -> dict[str, float]:
        if self._use_counter:
            deltas = [now - start for now, start in zip(self._counters(), self._counter_start_mj, strict=True)]
            return {"gpu": sum(deltas) / 1000.0}
        return {"gpu": sum(self._integrate_power())}

    def _integrate_power(self) -> list[float]:
        """Trapezoidal integration of sampled power since the last sample; joules per GPU so far."""
        assert self._power_last is not None
        now, powers = time.perf_counter(), self._powers_w()
        last_t, last_p = self._power_last
        dt = now - last_t
        pairs = zip(self._power_energy_j, last_p, powers, strict=True)
        self._power_energy_j = [e + 0.5 * (a + b) * dt for e, a, b in pairs]
        self._power_last = (now, powers)
        return self._power_energy_j

    def sync(self) -> None:
        if not self._synchronize:
            return
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
