"""NVIDIA GPUs through NVML (`nvidia-ml-py`, module `pynvml`).

Volta and newer GPUs expose a total-energy counter (mJ since the driver loaded): window energy is its delta, a
measured figure. How often the counter updates differs by board (20 to 100 ms), so the meter measures it when it
opens, and takes how long the counter lags the GPU's work from bench/gpu_probe.py (`ENERGY_SCORE_NVML_LAG_MS`);
both are recorded with the result. The meter reads exactly the GPUs torch runs the model on, found by
UUID and PCI address, never by index, and refused when the GPU is in MIG mode. Where the counter is unsupported,
power is sampled in the sampler thread and integrated over time, an estimated figure. Every NVML error becomes a
`NvmlError`.

The counter covers the whole GPU, whoever runs on it: `NvmlMeter.processes()` lists the compute and graphics
processes on the metered GPUs, so the load monitor can tell a window shared with a co-tenant (see load_monitor.py).
"""

from __future__ import annotations

import functools
import itertools
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from leaderboard_data.records import MeteredGpu
from runner.meters.base import EnergyMeter, MeterError, UnavailableDevice

try:
    import pynvml
except ImportError:  # pragma: no cover - depends on the install
    pynvml = None

COUNTER_SOURCE = "nvml_energy_counter"
POWER_SOURCE = "nvml_power_sampling"
ASSUMED_COUNTER_PERIOD_S = 0.1
"""The counter's update period where it cannot be measured (it did not move while the meter opened)."""
POWER_SAMPLE_PERIOD_S = 0.1
LAG_ENV = "ENERGY_SCORE_NVML_LAG_MS"
PERIOD_PROBE_S = 0.6
"""How long the meter polls the counter when it opens, to measure its update period."""

P = ParamSpec("P")
R = TypeVar("R")


class NvmlError(MeterError):
    """An NVML call failed."""


class NvmlNotSupportedError(NvmlError):
    """The GPU does not support the call (e.g. no energy counter before Volta)."""


class NvmlLibraryError(NvmlError):
    """NVML itself is missing or could not start (no driver, no GPU)."""


class GpuMappingError(NvmlError):
    """torch's device cannot be matched to exactly one NVML GPU; metering a guess would publish a wrong figure."""


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


@dataclass(frozen=True)
class TorchGpu:
    """What CUDA (through torch) says about one of its devices: enough to find the same GPU in NVML.

    CUDA and NVML may number GPUs differently (CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER), so only the UUID and the
    PCI address identify a GPU across the two.
    """

    index: int
    uuid: str
    pci: tuple[int, int, int] | None = None
    """(domain, bus, device) where torch exposes them."""

    @property
    def pci_bus_id(self) -> str | None:
        """NVML's spelling of the PCI address, e.g. '00000000:3b:00.0'."""
        if self.pci is None:
            return None
        domain, bus, device = self.pci
        return f"{domain:08x}:{bus:02x}:{device:02x}.0"


def torch_gpus(indices: Sequence[int] | None = None) -> list[TorchGpu]:
    """The torch CUDA devices to meter: `indices`, or torch's current device (where `.to("cuda")` puts a model)."""
    import torch

    if not torch.cuda.is_available():
        raise GpuMappingError("torch sees no CUDA device, so there is no GPU to meter")
    chosen = list(indices) if indices is not None else [torch.cuda.current_device()]
    count = torch.cuda.device_count()
    gpus = []
    for index in chosen:
        if not 0 <= index < count:
            raise GpuMappingError(f"torch device cuda:{index} requested, torch sees {count} CUDA device(s)")
        props = torch.cuda.get_device_properties(index)
        domain, bus, device = (getattr(props, f"pci_{name}_id", None) for name in ("domain", "bus", "device"))
        pci = None if domain is None or bus is None or device is None else (int(domain), int(bus), int(device))
        gpus.append(TorchGpu(index=index, uuid=str(props.uuid), pci=pci))
    return gpus


def _bare_uuid(uuid: str) -> str:
    """CUDA prints UUIDs bare, NVML prefixes 'GPU-' or 'MIG-': compare them bare and in lower case."""
    uuid = uuid.strip().lower()
    for prefix in ("gpu-", "mig-"):
        if uuid.startswith(prefix):
            return uuid[len(prefix) :]
    return uuid


@dataclass(frozen=True)
class GpuProcess:
    """A process NVML lists on a metered GPU: its PID (in the driver's PID namespace), the GPU and the kind."""

    pid: int
    gpu_uuid: str
    kind: str
    """'compute' (CUDA) or 'graphics'."""

    def describe(self) -> str:
        return f"pid {self.pid} ({self.kind} on {self.gpu_uuid})"


CLOCK_EVENT_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
"""NVML's clock event (throttle) reason bits, named."""


@dataclass(frozen=True)
class GpuState:
    """What a GPU ran at when read: applied SM and memory clocks, temperature, and why clocks are held down.

    A figure measured at lower clocks (power cap, heat) is not the GPU's usual figure; the state at each window's
    edges says so. None where the GPU does not report a field.
    """

    uuid: str
    sm_clock_mhz: int | None
    memory_clock_mhz: int | None
    temperature_c: int | None
    clock_event_reasons: tuple[str, ...]


def _mig_entries() -> list[str]:
    spec = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return [p.strip() for p in spec.split(",") if p.strip().upper().startswith("MIG-")]


def _find(call: Callable[[str], object], key: str) -> object | None:
    """An NVML handle by UUID or PCI address, or None when NVML has no such device."""
    try:
        return call(key)
    except pynvml.NVMLError as exc:
        if getattr(exc, "value", None) in (pynvml.NVML_ERROR_NOT_FOUND, pynvml.NVML_ERROR_INVALID_ARGUMENT):
            return None
        raise


@_nvml_call
def resolve_nvml_handles(gpus: Sequence[TorchGpu]) -> list[object]:
    """One NVML handle per torch device, found by UUID and checked against the PCI address; never by index.

    Raises GpuMappingError where the GPU cannot be told apart: a MIG instance (NVML's energy counter covers the
    whole GPU, shared with the other instances), no NVML device with that UUID or address, UUID and address
    naming different GPUs, or two torch devices on one GPU. NVML must be initialised.
    """
    mig = _mig_entries()
    if mig:
        raise GpuMappingError(
            f"CUDA_VISIBLE_DEVICES names MIG instance(s) {', '.join(mig)}: NVML's energy counter covers the whole "
            "GPU, which other instances share, so a MIG slice's energy cannot be metered"
        )
    handles: list[object] = []
    for gpu in gpus:
        bare = _bare_uuid(gpu.uuid)
        by_uuid = _find(pynvml.nvmlDeviceGetHandleByUUID, f"GPU-{bare}")
        if by_uuid is None and _find(pynvml.nvmlDeviceGetHandleByUUID, f"MIG-{bare}") is not None:
            raise GpuMappingError(
                f"torch device cuda:{gpu.index} is MIG instance MIG-{bare}: NVML's energy counter covers the "
                "whole GPU, which other instances share, so a MIG slice's energy cannot be metered"
            )
        by_pci = _find(pynvml.nvmlDeviceGetHandleByPciBusId, gpu.pci_bus_id) if gpu.pci_bus_id else None
        if by_uuid is None and by_pci is None:
            where = f" or PCI address {gpu.pci_bus_id}" if gpu.pci_bus_id else ""
            raise GpuMappingError(f"torch device cuda:{gpu.index} (UUID {bare}{where}) matches no GPU NVML sees")
        handle = by_uuid if by_uuid is not None else by_pci
        if by_uuid is not None and by_pci is not None:
            pci_uuid = _bare_uuid(_text(pynvml.nvmlDeviceGetUUID(by_pci)))
            if pci_uuid != bare:
                raise GpuMappingError(
                    f"torch device cuda:{gpu.index}: UUID {bare} and PCI address {gpu.pci_bus_id} name different "
                    f"NVML GPUs (the address holds {pci_uuid}); refusing to guess which one runs the model"
                )
        if any(_bare_uuid(_text(pynvml.nvmlDeviceGetUUID(h))) == bare for h in handles):
            raise GpuMappingError(f"torch devices {[g.index for g in gpus]} include GPU {bare} twice")
        if _mig_enabled(handle):
            raise GpuMappingError(
                f"torch device cuda:{gpu.index} (GPU {bare}) is in MIG mode: NVML's energy counter covers the whole "
                "GPU, which other instances share, so a MIG slice's energy cannot be metered"
            )
        handles.append(handle)
    return handles


def _mig_enabled(handle: object) -> bool:
    """The handle's current MIG mode; False where the GPU has no MIG (before Ampere NVML answers NOT_SUPPORTED)."""
    try:
        current, _pending = pynvml.nvmlDeviceGetMigMode(handle)
    except pynvml.NVMLError as exc:
        if getattr(exc, "value", None) == pynvml.NVML_ERROR_NOT_SUPPORTED:
            return False
        raise
    return bool(current == pynvml.NVML_DEVICE_MIG_ENABLE)


@_nvml_call
def gpu_processes(handles: Sequence[object]) -> list[GpuProcess]:
    """The compute and graphics processes on each GPU; a GPU that cannot list graphics processes lists compute ones."""
    listed: list[GpuProcess] = []
    for handle in handles:
        uuid = _text(pynvml.nvmlDeviceGetUUID(handle))
        for kind, call in (
            ("compute", pynvml.nvmlDeviceGetComputeRunningProcesses),
            ("graphics", pynvml.nvmlDeviceGetGraphicsRunningProcesses),
        ):
            try:
                running = call(handle)
            except pynvml.NVMLError as exc:
                if kind == "graphics" and getattr(exc, "value", None) == pynvml.NVML_ERROR_NOT_SUPPORTED:
                    continue
                raise
            listed.extend(GpuProcess(int(p.pid), uuid, kind) for p in running)
    return listed


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@_nvml_call
def describe_gpu(handle: object) -> MeteredGpu:
    """UUID, name and enforced power limit of one NVML GPU, as recorded in a result."""
    try:
        limit: float | None = pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0
    except pynvml.NVMLError:
        limit = None
    return MeteredGpu(
        uuid=_text(pynvml.nvmlDeviceGetUUID(handle)), name=_text(pynvml.nvmlDeviceGetName(handle)), power_limit_w=limit
    )


def counter_lag_from_env() -> float:
    """The counter's probed lag in seconds (`ENERGY_SCORE_NVML_LAG_MS`, from bench/gpu_probe.py counter); 0: unset."""
    raw = os.environ.get(LAG_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        lag_ms = float(raw)
    except ValueError:
        raise ValueError(f"{LAG_ENV}={raw!r}: expected milliseconds, e.g. 25") from None
    if not 0 <= lag_ms < 1000:
        raise ValueError(f"{LAG_ENV}={raw!r}: expected 0 to 1000 milliseconds")
    return lag_ms / 1000.0


def update_period_s(
    read: Callable[[], float], budget_s: float, clock: Callable[[], float] = time.perf_counter
) -> float | None:
    """The median time between changes of `read()`, polled for at most `budget_s` or until five changes; None when
    it changed fewer than three times (two intervals after the first, partial one)."""
    changes: list[float] = []
    last = read()
    end = clock() + budget_s
    while len(changes) < 5 and clock() < end:
        value = read()
        if value != last:
            changes.append(clock())
            last = value
    gaps = [b - a for a, b in itertools.pairwise(changes)]
    return statistics.median(gaps) if len(gaps) >= 2 else None


def _optional(call: Callable[[], int]) -> int | None:
    """A GPU field, or None where the GPU does not report it."""
    try:
        return int(call())
    except pynvml.NVMLError as exc:
        if getattr(exc, "value", None) == pynvml.NVML_ERROR_NOT_SUPPORTED:
            return None
        raise


@_nvml_call
def gpu_state(handle: object) -> GpuState:
    """The applied (not maximum) clocks, the temperature and the clock event reasons of one GPU now."""
    reasons = _optional(lambda: pynvml.nvmlDeviceGetCurrentClocksEventReasons(handle)) or 0
    return GpuState(
        uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
        sm_clock_mhz=_optional(lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)),
        memory_clock_mhz=_optional(lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_MEM)),
        temperature_c=_optional(lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)),
        clock_event_reasons=tuple(name for bit, name in CLOCK_EVENT_REASONS.items() if reasons & bit),
    )


class NvmlMeter(EnergyMeter):
    """GPU energy of exactly the GPUs torch runs the model on, summed as device kind "gpu".

    Each torch device is resolved to its NVML handle by UUID (checked against the PCI address), so other GPUs on
    the node, and differences between CUDA's and NVML's numbering, never enter the figure.

    Args:
        torch_devices: torch CUDA ordinals the model runs on; None means torch's current device.
        synchronize: wait for CUDA work at window edges (torch.cuda.synchronize) so edges are exact.
        lag_s: how long the counter lags the GPU's work; None reads `ENERGY_SCORE_NVML_LAG_MS` (0 if unset).
    """

    def __init__(
        self, torch_devices: Sequence[int] | None = None, synchronize: bool = True, lag_s: float | None = None
    ) -> None:
        super().__init__()
        self.lag_s = counter_lag_from_env() if lag_s is None else lag_s
        self._period_s: float | None = None
        """The counter's update period measured when the meter opened; None before, or when it did not move."""
        self._requested = list(torch_devices) if torch_devices is not None else None
        self._synchronize = synchronize
        self._handles: list[object] = []
        self._gpus: list[MeteredGpu] = []
        self._use_counter = True
        self._counter_start_mj: list[int] = []
        self._power_last: tuple[float, list[float]] | None = None
        self._power_energy_j: list[float] = []
        self._reason: str | None = None

    @_nvml_call
    def _init(self) -> None:
        pynvml.nvmlInit()
        try:
            handles = resolve_nvml_handles(torch_gpus(self._requested))
            self._gpus = [describe_gpu(h) for h in handles]
        except (MeterError, pynvml.NVMLError):
            pynvml.nvmlShutdown()
            raise
        self._handles = handles

    def is_available(self) -> bool:
        if self._gpus:  # resolved once; still known after close(), when the result is assembled
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
        """Every counter update while a lag is applied: a window's start, read only a lag later, is interpolated
        between samples one update apart (not 0.5 s apart)."""
        if not self._use_counter:
            return POWER_SAMPLE_PERIOD_S
        return max(self.resolution_s, 0.01) if self.lag_s > 0 else 0.5

    @property
    def devices(self) -> dict[str, tuple[bool, str]]:
        return {"gpu": (self._use_counter, self.source)}

    @property
    def resolution_s(self) -> float:
        if not self._use_counter:
            return POWER_SAMPLE_PERIOD_S
        return self._period_s if self._period_s is not None else ASSUMED_COUNTER_PERIOD_S

    @property
    def gpu_count(self) -> int:
        return len(self._handles)

    @_nvml_call
    def processes(self) -> list[GpuProcess]:
        """The compute and graphics processes now on the metered GPUs (found again by UUID; NVML opened for it)."""
        pynvml.nvmlInit()
        try:
            return gpu_processes([pynvml.nvmlDeviceGetHandleByUUID(gpu.uuid) for gpu in self._gpus])
        finally:
            pynvml.nvmlShutdown()

    @_nvml_call
    def state(self) -> list[GpuState]:
        """Applied clocks, temperature and clock event reasons of each metered GPU now."""
        pynvml.nvmlInit()
        try:
            return [gpu_state(pynvml.nvmlDeviceGetHandleByUUID(gpu.uuid)) for gpu in self._gpus]
        finally:
            pynvml.nvmlShutdown()

    @property
    def metered_gpus(self) -> list[MeteredGpu]:
        """UUID, name and power limit of each GPU this meter reads, with the counter's measured update period and
        the lag applied once the meter has opened; empty until it is available."""
        if not (self._use_counter and self._counter_start_mj):
            return list(self._gpus)
        update = {"counter_update_period_s": self._period_s, "counter_lag_s": self.lag_s}
        return [gpu.model_copy(update=update) for gpu in self._gpus]

    def _open(self) -> None:
        if not self._handles:
            try:
                self._init()
            except NvmlError as exc:
                self._reason = str(exc)
                raise NvmlLibraryError(f"NVML unavailable: {exc}") from exc
        try:
            self._counter_start_mj = self._counters()
            self._use_counter = True
            # One GPU: the sum of several would change at each GPU's update, a fraction of the period.
            self._period_s = update_period_s(lambda: float(self._counters()[0]), PERIOD_PROBE_S)
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
