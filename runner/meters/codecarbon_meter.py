"""CPU and RAM energy through codecarbon's `OfflineEmissionsTracker` (never its online tracker: no network).

codecarbon's numbers are read as a chain of back-to-back tasks: every sample stops the running task
(`stop_task`, which returns that stretch's energy) and starts the next, about 1 ms in all. The chain forms a
cumulative counter, so windows can nest and per-query phases need no codecarbon call at all. The few hundred
microseconds between one task's end and the next one's start are covered at the following task's mean power.

CPU energy is measured when codecarbon reads Intel RAPL, and estimated otherwise (its TDP and load model). RAM
is always an estimate. codecarbon's GPU energy and CO2 are carried as extras for the carbon cross-check.

The tracker runs in codecarbon's *process* tracking mode (as optimum-benchmark does): the load-based CPU
estimate is the TDP times this process tree's CPU time over the window's CPU capacity, so other processes' work
is not billed to the model. (Machine mode bills the whole machine's load: beside a busy neighbour the same
model scored 4x to 44x its quiet figure.) RAPL reads the whole package whatever the mode; a foreign-load check
(`runner.meters.load_monitor`) covers that case.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from runner.meters.base import EnergyMeter, MeterError, UnavailableDevice

KWH_TO_J = 3.6e6
RAPL_MODES = frozenset({"intel_rapl", "windows_emi", "intel_power_gadget", "apple_powermetrics"})
EXTRA_GPU_J = "codecarbon_gpu_j"
EXTRA_CO2_G = "co2_g"


class CodecarbonError(MeterError):
    """codecarbon could not start or returned no figure."""


class CodecarbonMeter(EnergyMeter):
    """CPU ("cpu") and RAM ("ram") energy from codecarbon, plus its GPU energy and CO2 as extras.

    Args:
        country_iso_code: 3-letter ISO code used for the CO2 figure (energy does not depend on it).
        sample_period_s: how often the task chain is cut in the background; window edges always cut it.
    """

    source = "codecarbon"

    tracking_mode = "process"

    def __init__(self, country_iso_code: str = "USA", sample_period_s: float = 1.0) -> None:
        super().__init__()
        self.country_iso_code = country_iso_code
        self.sample_period_s = sample_period_s
        self._tracker: Any = None
        self._cpu_mode = "unknown"
        self._power_model: dict[str, str] = {}
        self._reason: str | None = None
        self._totals: dict[str, float] = {}
        self._task_started = 0.0
        self._last_end = 0.0
        self.region: str | None = None

    def is_available(self) -> bool:
        if self._reason is not None:
            return False
        try:
            import codecarbon  # noqa: F401
        except ImportError as exc:
            self._reason = f"codecarbon is not installed: {exc}"
            return False
        return True

    def unavailable(self) -> list[UnavailableDevice]:
        if self.is_available():
            return []
        reason = self._reason or "codecarbon unavailable"
        return [
            UnavailableDevice(device="cpu", source="codecarbon", reason=reason),
            UnavailableDevice(device="ram", source="codecarbon", reason=reason),
        ]

    @property
    def cpu_measured(self) -> bool:
        return self._cpu_mode in RAPL_MODES

    @property
    def devices(self) -> dict[str, tuple[bool, str]]:
        cpu_source = "codecarbon_rapl" if self.cpu_measured else "codecarbon_tdp_model"
        return {"cpu": (self.cpu_measured, cpu_source), "ram": (False, "codecarbon_ram_model")}

    @property
    def resolution_s(self) -> float:
        """RAPL is read only when the chain is cut; a power model is attributed by time, so it has none."""
        return self.sample_period_s if self.cpu_measured else 0.0

    def device_resolution_s(self, device: str) -> float:
        return self.resolution_s if device == "cpu" else 0.0  # RAM is always a power model

    @property
    def constant_power_devices(self) -> frozenset[str]:
        """RAM (a fixed power per GB), and the CPU too when codecarbon fell back to a constant share of TDP."""
        return frozenset({"ram", "cpu"}) if self._cpu_mode == "constant" else frozenset({"ram"})

    def cpu_power_model(self) -> dict[str, str]:
        """How codecarbon gets CPU power: its mode, the tracking mode, the TDP used and whether it is generic."""
        return dict(self._power_model)

    def _describe_cpu(self) -> dict[str, str]:
        cpu = self._cpu_hardware()
        model: dict[str, str] = {"mode": self._cpu_mode, "tracking_mode": self.tracking_mode}
        if cpu is not None:
            model["cpu_model"] = str(getattr(cpu, "_model", "unknown"))
            model["tdp_w"] = str(getattr(cpu, "_tdp", "unknown"))
            model["generic_tdp"] = str(bool(getattr(cpu, "_is_generic_tdp", False))).lower()
        return model

    def _open(self) -> None:
        if not self.is_available():
            raise CodecarbonError(self._reason or "codecarbon unavailable")
        from codecarbon import OfflineEmissionsTracker

        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        try:
            self._tracker = OfflineEmissionsTracker(
                country_iso_code=self.country_iso_code,
                save_to_file=False,
                log_level="error",
                measure_power_secs=3600,
                tracking_mode=self.tracking_mode,
                allow_multiple_runs=True,
            )
            self._tracker.start_task("energy-score")
        except Exception as exc:  # codecarbon raises bare exceptions on odd hardware
            self._reason = f"codecarbon could not start: {exc}"
            raise CodecarbonError(self._reason) from exc
        self._last_end = self._task_started = time.perf_counter()
        self._cpu_mode = self._detect_cpu_mode()
        self._power_model = self._describe_cpu()
        self.region = getattr(getattr(self._tracker, "_geo", None), "region", None)
        self._totals = {"cpu": 0.0, "ram": 0.0, EXTRA_GPU_J: 0.0, EXTRA_CO2_G: 0.0}

    def _cpu_hardware(self) -> Any:
        return next((h for h in getattr(self._tracker, "_hardware", []) if type(h).__name__ == "CPU"), None)

    def _detect_cpu_mode(self) -> str:
        """codecarbon's CPU mode (cpu_load, constant, intel_rapl...), read from its hardware description."""
        mode = getattr(self._cpu_hardware(), "_mode", None)
        return mode if isinstance(mode, str) else "unknown"

    def _close(self) -> None:
        if self._tracker is not None:
            self._tracker.stop_task()
            self._tracker = None

    def _read(self) -> dict[str, float]:
        """Cut the chain: stop the running task, add its energy (stretched over the gap before it), restart."""
        if self._tracker is None:
            raise CodecarbonError("codecarbon meter is not started")
        data = self._tracker.stop_task()
        end = time.perf_counter()
        self._tracker.start_task()
        if data is None:
            raise CodecarbonError("codecarbon stop_task returned no data")
        task_s = max(end - self._task_started, 1e-9)
        stretch = (end - self._last_end) / task_s
        self._totals["cpu"] += data.cpu_energy * KWH_TO_J * stretch
        self._totals["ram"] += data.ram_energy * KWH_TO_J * stretch
        self._totals[EXTRA_GPU_J] += data.gpu_energy * KWH_TO_J * stretch
        self._totals[EXTRA_CO2_G] += data.emissions * 1000.0 * stretch
        self._last_end = end
        self._task_started = time.perf_counter()
        return dict(self._totals)
