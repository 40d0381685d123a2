"""The energy meter contract: named windows over a cumulative energy timeline.

Every meter keeps a timeline of cumulative joules per device, sampled by a background thread and at each window
edge. A window's energy is the timeline's increase between its two edges, so windows may nest and overlap
freely, and the energy of many short intervals (one phase of each query) is read back after the fact with
`energy_over` without any meter call inside the timed code: a phase mark only costs a clock read.

Example:
    meter.start()
    meter.begin_window("pass")
    ...  # run queries, noting perf_counter() at each phase boundary
    reading = meter.end_window("pass")   # EnergyReading, joules per device
    phase = meter.energy_over([(t0, t1), (t2, t3)])
    meter.close()
"""

from __future__ import annotations

import bisect
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

DeviceKind = Literal["gpu", "cpu", "ram"]


class MeterError(Exception):
    """A meter could not read its hardware; the message says which call failed and why."""


@dataclass(frozen=True)
class DeviceEnergy:
    """Energy of one device kind over a window. Units: joules."""

    energy_j: float
    measured: bool
    source: str


@dataclass(frozen=True)
class EnergyReading:
    """What one window (or a set of intervals) cost, per device kind.

    `extras` carries a meter's side channels that are not scored, e.g. codecarbon's own GPU figure or CO2 grams.
    """

    devices: dict[str, DeviceEnergy]
    duration_s: float
    extras: dict[str, float] = field(default_factory=dict)

    def energy_j(self, device: str) -> float:
        return self.devices[device].energy_j


@dataclass(frozen=True)
class UnavailableDevice:
    """A device kind a meter was meant to cover but cannot, and why."""

    device: DeviceKind
    source: str
    reason: str


class EnergyMeter(ABC):
    """One source of energy readings for one or more device kinds.

    Subclasses implement `_read()`, returning cumulative joules per channel since the meter started; the base
    class owns the timeline, the sampler thread and the window bookkeeping.
    """

    source: str = "meter"
    sample_period_s: float = 0.5
    lag_s: float = 0.0
    """How long the hardware takes to show energy in its reading (a probed sensor property; 0: at once). A
    sample read at t is placed at t - lag_s on the timeline, and a window's end waits for the lag to pass."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        """Time source of the timeline; perf_counter, or a simulated clock in tests."""
        self._times: list[float] = []
        self._values: list[dict[str, float]] = []
        self._lock = threading.Lock()
        self._windows: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what a vendor implementation provides -------------------------------------------------------------

    @abstractmethod
    def is_available(self) -> bool:
        """Whether this meter can read its hardware on this machine."""

    def unavailable(self) -> list[UnavailableDevice]:
        """Device kinds this meter should cover but cannot; empty when it works."""
        return []

    @property
    @abstractmethod
    def devices(self) -> dict[str, tuple[bool, str]]:
        """Device kind -> (measured by a hardware counter, source name) for every scored channel."""

    @property
    def resolution_s(self) -> float:
        """Shortest interval whose energy this meter resolves; 0 for a power model that is attributed by time."""
        return 0.0

    def device_resolution_s(self, device: str) -> float:
        """`resolution_s` for one device kind; a meter mixing a counter and a power model overrides it."""
        return self.resolution_s

    @property
    def constant_power_devices(self) -> frozenset[str]:
        """Device kinds whose figure is a constant power times time (RAM): no net-of-idle figure exists for them."""
        return frozenset()

    def _open(self) -> None:  # noqa: B027 - optional hook
        """Acquire hardware handles; called once by `start()`, outside any measured window."""

    def _close(self) -> None:  # noqa: B027 - optional hook
        """Release hardware handles."""

    @abstractmethod
    def _read(self) -> dict[str, float]:
        """Cumulative joules per channel since `_open`. Raises MeterError."""

    def sync(self) -> None:  # noqa: B027 - optional hook
        """Wait for queued device work to finish so a window edge is where the work really ends."""

    # --- the timeline ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the hardware, take the first sample and start the sampler thread."""
        if self._thread is not None:
            return
        self._open()
        self.sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sampler, name=f"{self.source}-sampler", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the sampler and release the hardware."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._close()

    def _sampler(self) -> None:
        while not self._stop.wait(self.sample_period_s):
            try:
                self.sample()
            except MeterError:
                continue

    def sample(self) -> float:
        """Read the hardware now and append to the timeline; returns the sample's time (perf_counter)."""
        with self._lock:
            before = self.clock()
            values = self._read()
            now = (before + self.clock()) / 2 - self.lag_s  # the read happened in between; it shows lag_s ago
            if self._times and now <= self._times[-1]:
                now = self._times[-1] + 1e-9
            self._times.append(now)
            self._values.append(values)
            return now

    def sample_after_update(self, sleep: Callable[[float], None] = time.sleep) -> float:
        """Sample just after the counter's next update, so an edge never reads a stale value; returns its time.

        A counter refreshes every `resolution_s` (NVML: about 100 ms) and reads the same value in between: an edge
        taken between updates attributes up to one period's energy to the wrong window. Polls every 1/50 period,
        for at most three periods (a counter that did not move is then read as it is). A power model (resolution
        0) has no updates to wait for.
        """
        period = self.resolution_s
        if period <= 0:
            return self.sample()
        self.sample()
        with self._lock:
            first = self._values[-1]
        deadline = self.clock() + 3 * period
        while True:
            sleep(period / 50)
            at = self.sample()
            with self._lock:
                moved = self._values[-1] != first
            if moved or self.clock() >= deadline:
                return at

    def _cumulative_at(self, t: float) -> dict[str, float]:
        """Linear interpolation of the timeline at `t`; before the first or after the last sample, clamped."""
        i = bisect.bisect_left(self._times, t)
        if i <= 0:
            return self._values[0]
        if i >= len(self._times):
            return self._values[-1]
        t0, t1 = self._times[i - 1], self._times[i]
        v0, v1 = self._values[i - 1], self._values[i]
        w = (t - t0) / (t1 - t0)
        return {k: v0[k] + w * (v1.get(k, v0[k]) - v0[k]) for k in v0}

    def _cover(self, t: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """A lagging meter shows the energy up to `t` only `lag_s` later: wait that long and sample again."""
        if self.lag_s <= 0:
            return
        with self._lock:
            if self._times and self._times[-1] >= t:
                return
        wait = t + self.lag_s - self.clock()
        if wait > 0:
            sleep(wait)
        self.sample_after_update(sleep)

    def energy_over(self, intervals: Iterable[tuple[float, float]]) -> EnergyReading:
        """Energy summed over perf_counter intervals that lie inside windows already ended."""
        spans = list(intervals)
        if spans:
            self._cover(max(end for _, end in spans))
        totals: dict[str, float] = {}
        duration = 0.0
        with self._lock:
            if not self._times:
                raise MeterError(f"{self.source}: no samples yet; call start() first")
            for begin, end in spans:
                a, b = self._cumulative_at(begin), self._cumulative_at(end)
                for key in b:
                    totals[key] = totals.get(key, 0.0) + b[key] - a.get(key, 0.0)
                duration += end - begin
        return self._reading(totals, duration)

    def _reading(self, totals: dict[str, float], duration_s: float) -> EnergyReading:
        devices = {
            name: DeviceEnergy(energy_j=totals.get(name, 0.0), measured=measured, source=source)
            for name, (measured, source) in self.devices.items()
        }
        extras = {k: v for k, v in totals.items() if k not in devices}
        return EnergyReading(devices=devices, duration_s=duration_s, extras=extras)

    # --- named windows --------------------------------------------------------------------------------------

    def begin_window(self, key: str) -> float:
        """Open a named window at the current time (after a device sync); returns its start time."""
        if key in self._windows:
            raise MeterError(f"{self.source}: window {key!r} is already open")
        self.sync()
        self._windows[key] = self.sample()
        return self._windows[key]

    def end_window(self, key: str) -> EnergyReading:
        """Close a named window: sync, sample, and return the energy since `begin_window(key)`."""
        if key not in self._windows:
            raise MeterError(f"{self.source}: no open window {key!r}")
        self.sync()
        end = self.sample()
        begin = self._windows.pop(key)
        return self.energy_over([(begin, end)])

    def timeline_span(self) -> tuple[float, float]:
        """First and last sample times, for checks that intervals are covered."""
        with self._lock:
            return self._times[0], self._times[-1]


def merge_readings(readings: Sequence[EnergyReading]) -> EnergyReading:
    """Readings of different meters over the same window, as one (device kinds must not overlap)."""
    devices: dict[str, DeviceEnergy] = {}
    extras: dict[str, float] = {}
    for reading in readings:
        overlap = devices.keys() & reading.devices.keys()
        if overlap:
            raise ValueError(f"two meters report {sorted(overlap)}")
        devices.update(reading.devices)
        extras.update(reading.extras)
    duration = max((r.duration_s for r in readings), default=0.0)
    return EnergyReading(devices=devices, duration_s=duration, extras=extras)
