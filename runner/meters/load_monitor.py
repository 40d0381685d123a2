"""Foreign load: how much CPU other processes used while a window was measured.

A model measured beside a busy neighbour runs slower and, on a whole-machine power model, is billed for the
neighbour's work: the same model scored 4x to 44x its quiet figure, and per-query latency rose 4.26x. No
attribution undoes a slowed process, so a contaminated window is never published: the protocol waits for quiet
and measures it again, and fails as `machine_busy` when the machine never gets quiet.

Over a window, the busy CPU time of the judged cores (`psutil.cpu_times(percpu=True)`) minus this process tree's
(`psutil.Process().cpu_times()` of the process and its children) is the foreign CPU time. Divided by the window's
capacity (duration x judged cores) it is the foreign share; above `foreign_cpu_share_max` the window is
contaminated. The judged cores are the ones the benchmark is pinned to (`runner.runtime`): with its threads fixed,
load on other cores does not touch a process-mode CPU estimate, while load on its own cores slows it and is caught.
Without pinning, every core is judged.

A co-tenant on the metered GPU costs little CPU (feeding a GPU takes about one core, 6 % of a 16-core node) but is
billed in full by the GPU's energy counter, which covers the whole GPU. So, where a GPU is metered, the processes
on it (`GpuWatch.processes`, NVML's compute and graphics lists) are read at each window's start and end: any process
outside this benchmark's process tree contaminates the window. Where NVML lists PIDs of another PID namespace (a
container without the host's PIDs), this process is not among them; it is then counted as one of the listed
processes, so a second one is still a co-tenant. The GPUs' state (applied clocks, temperature, clock event
reasons) is read at the same edges and kept with the window: a window run at power-capped or thermally reduced
clocks shows it.

Example:
    monitor = LoadMonitor(foreign_cpu_share_max=0.10, cores=[1])
    mark = monitor.begin()
    ...  # the measured window
    load = monitor.end(mark)   # WindowLoad: foreign_cpu_s, own_cpu_s, foreign_share, contaminated
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType
from typing import Any, Protocol

import psutil

from runner.meters.nvml import GpuProcess, GpuState


class GpuWatch(Protocol):
    """The metered GPUs as the load monitor sees them (NvmlMeter): who runs on them, and at which clocks."""

    def processes(self) -> list[GpuProcess]: ...

    def state(self) -> list[GpuState]: ...


GATE_ENV = "ENERGY_SCORE_LOAD_GATE"
QUIET_IDLE_ENV = "ENERGY_SCORE_QUIET_IDLE_W"
IDLE_TIME_FIELDS = ("idle", "iowait")
"""Fields of `psutil.cpu_times()` that are not work; every other field is busy time."""


def busy_seconds(times: Any) -> float:
    """Busy CPU time in one `psutil.cpu_times()` reading (all fields but idle and iowait)."""
    return sum(value for name, value in times._asdict().items() if name not in IDLE_TIME_FIELDS)


def _core_names(cores: list[int]) -> str:
    """'core 1' or 'cores 0,1'."""
    return "core" + "s" * (len(cores) > 1) + " " + ",".join(map(str, cores))


class LoadGate(StrEnum):
    """What a contaminated window does: `gate` re-measures it after quiet (production); `record` only records."""

    GATE = "gate"
    RECORD = "record"


def gate_from_env(default: LoadGate = LoadGate.GATE) -> LoadGate:
    """`ENERGY_SCORE_LOAD_GATE` (gate or record); a bad value is an error naming the allowed ones."""
    raw = os.environ.get(GATE_ENV, "").strip().lower()
    if not raw:
        return default
    try:
        return LoadGate(raw)
    except ValueError:
        allowed = ", ".join(g.value for g in LoadGate)
        raise ValueError(f"{GATE_ENV}={raw!r}: expected one of {allowed}") from None


def quiet_idle_from_env() -> dict[str, float]:
    """This machine's quiet idle power per device, e.g. `ENERGY_SCORE_QUIET_IDLE_W="gpu=72,cpu=0.8"`; {} if unset."""
    raw = os.environ.get(QUIET_IDLE_ENV, "").strip()
    levels: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        device, _, watts = item.partition("=")
        try:
            levels[device.strip()] = float(watts)
        except ValueError:
            raise ValueError(f"{QUIET_IDLE_ENV}={raw!r}: expected DEVICE=WATTS pairs, e.g. gpu=72,cpu=0.8") from None
    return levels


def idle_above_quiet(
    power_w: dict[str, float], quiet_w: dict[str, float], ratio_max: float, duration_s: float
) -> WindowLoad | None:
    """A contaminated WindowLoad when an idle baseline is above `ratio_max` x the machine's quiet level."""
    for device, quiet in sorted(quiet_w.items()):
        watts = power_w.get(device)
        if watts is not None and quiet > 0 and watts > ratio_max * quiet:
            reason = (
                f"idle {device} power {watts:.3g} W is above {ratio_max:g}x this machine's quiet level {quiet:.3g} W "
                "(another process on the device?)"
            )
            return WindowLoad(duration_s, 0.0, 0.0, 0.0, True, reason)
    return None


@dataclass(frozen=True)
class LoadMark:
    """CPU times at a window's start. Units: seconds."""

    at: float
    busy_s: float
    own_s: float
    gpu_tenants: tuple[str, ...] = ()
    """Foreign processes on the metered GPUs at the start, described."""
    gpu_state: tuple[GpuState, ...] = ()
    """The metered GPUs' state at the start."""


@dataclass(frozen=True)
class WindowLoad:
    """Foreign and own CPU time over one window (seconds), and whether it is contaminated."""

    duration_s: float
    foreign_cpu_s: float
    own_cpu_s: float
    foreign_share: float
    contaminated: bool
    reason: str | None = None
    """Why the window is contaminated when CPU time does not show it (an idle baseline above the quiet level, a
    co-tenant on the metered GPU)."""
    gpu_state: tuple[tuple[GpuState, ...], tuple[GpuState, ...]] | None = None
    """The metered GPUs' state at the window's start and end; None where no GPU is metered."""
    judged: str = "all cores"
    """Which cores the share is of: "all cores", or the benchmark's pinned cores ("cores 0,1")."""

    def gpu_state_record(self) -> dict[str, Any] | None:
        """The GPU state at the window's edges, for the result: applied clocks, temperature, clock event reasons."""
        if self.gpu_state is None:
            return None
        start, end = self.gpu_state
        return {"start": [dataclasses.asdict(s) for s in start], "end": [dataclasses.asdict(s) for s in end]}

    def describe(self) -> str:
        if self.reason:
            return self.reason
        return (
            f"other processes used {self.foreign_cpu_s:.2f} CPU-s in {self.duration_s:.2f} s "
            f"({self.foreign_share:.0%} of {self.judged}; this benchmark {self.own_cpu_s:.2f} CPU-s)"
        )


class MachineBusyError(Exception):
    """The machine did not get quiet within the wait; the message names the load and its top processes."""


class LoadMonitor:
    """Measures foreign CPU load over windows, and waits for a quiet machine.

    Args:
        foreign_cpu_share_max: foreign CPU time over a window's capacity above which it is contaminated.
        cores: the cores judged (those the benchmark is pinned to); None judges every core.
        move_to: pins the benchmark to other cores (`runner.runtime.pin_process`); while waiting for quiet, a
            pinned benchmark moves to `candidates` cores that were quiet. None: it stays on its cores.
        candidates: the cores it may move to; None: every core.
        ps: the psutil module (a fake of the same shape in tests).
        clock, sleep: time source and sleep, for waiting.
        gpu: the metered GPUs (the NvmlMeter), for their processes and state; None where no GPU is metered.
    """

    def __init__(
        self,
        foreign_cpu_share_max: float,
        ps: ModuleType | Any = psutil,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        gpu: GpuWatch | None = None,
        cores: Sequence[int] | None = None,
        move_to: Callable[[list[int]], None] | None = None,
        candidates: Sequence[int] | None = None,
    ) -> None:
        self.foreign_cpu_share_max = foreign_cpu_share_max
        self._gpu = gpu
        self.cores = list(cores) if cores is not None else None
        self.candidates = list(candidates) if candidates is not None else list(range(ps.cpu_count() or 1))
        self._move_to = move_to if cores is not None else None
        self._ps = ps
        self._clock = clock
        self._sleep = sleep
        self._cores = len(self.cores) if self.cores is not None else ps.cpu_count() or 1
        self._me = ps.Process()

    def _busy_s(self) -> float:
        if self.cores is None:
            return busy_seconds(self._ps.cpu_times())
        per_core = self._ps.cpu_times(percpu=True)
        return sum(busy_seconds(per_core[core]) for core in self.cores)

    def _own_s(self) -> float:
        total = 0.0
        for proc in [self._me, *self._children()]:
            try:
                t = proc.cpu_times()
            except (self._ps.NoSuchProcess, self._ps.AccessDenied):
                continue  # a child that exited between the listing and the read
            total += t.user + t.system
        return total

    def _children(self) -> list[Any]:
        try:
            return list(self._me.children(recursive=True))
        except (self._ps.NoSuchProcess, self._ps.AccessDenied):
            return []

    def gpu_tenants(self) -> tuple[str, ...]:
        """The processes on the metered GPUs that are not this benchmark's, described; () without a GPU."""
        if self._gpu is None:
            return ()
        listed = self._gpu.processes()
        mine = {self._me.pid, *(c.pid for c in self._children())}
        foreign = [p for p in listed if p.pid not in mine]
        if listed and len(foreign) == len(listed):  # another PID namespace: one of them is this process
            pids = sorted({p.pid for p in listed})
            if len(pids) <= 1:
                return ()
            note = f" ({len(pids)} processes in another PID namespace, one of them this benchmark)"
            return tuple(p.describe() + note for p in listed)
        return tuple(p.describe() for p in foreign)

    def begin(self) -> LoadMark:
        """Mark a window's start."""
        state = tuple(self._gpu.state()) if self._gpu else ()
        return LoadMark(self._clock(), self._busy_s(), self._own_s(), self.gpu_tenants(), state)

    def end(self, mark: LoadMark) -> WindowLoad:
        """The load over the window since `mark`; contaminated by foreign CPU time or a co-tenant on the GPU."""
        duration = max(self._clock() - mark.at, 1e-9)
        own = max(self._own_s() - mark.own_s, 0.0)
        foreign = max(self._busy_s() - mark.busy_s - own, 0.0)
        share = foreign / (duration * self._cores)
        tenants = sorted({*mark.gpu_tenants, *self.gpu_tenants()})
        reason = f"other processes on the metered GPU: {', '.join(tenants)}" if tenants else None
        contaminated = share > self.foreign_cpu_share_max or bool(tenants)
        gpu_state = (mark.gpu_state, tuple(self._gpu.state())) if self._gpu else None
        judged = "all cores" if self.cores is None else _core_names(self.cores)
        return WindowLoad(duration, foreign, own, share, contaminated, reason, gpu_state, judged)

    def wait_for_quiet(self, max_wait_s: float, probe_s: float = 1.0) -> WindowLoad:
        """Probe `probe_s` windows until one is quiet; raise MachineBusyError naming the load after `max_wait_s`.

        A pinned benchmark that can move (`move_to`) moves to as many other cores when they were quiet over a
        probe: a neighbour that took its core while it slept (an idle window) is left there."""
        deadline = self._clock() + max_wait_s
        before = self._process_times()
        mark = self.begin()
        while True:
            per_core = self._ps.cpu_times(percpu=True) if self._move_to is not None else None
            self._sleep(probe_s)
            load = self.end(mark)
            if not load.contaminated:
                return load
            moved = self._move_to_quiet_cores(per_core, load.duration_s) if per_core is not None else None
            if moved is not None:
                return moved
            if self._clock() >= deadline:
                top = self._top_processes(before, self._process_times())
                raise MachineBusyError(
                    f"the machine stayed busy for {max_wait_s:.0f} s of waiting: {load.describe()}; "
                    f"busiest other processes: {top or 'none visible (another container or a hypervisor?)'}"
                )
            mark = self.begin()

    def _move_to_quiet_cores(self, per_core_before: list[Any], duration_s: float) -> WindowLoad | None:
        """Pin to the least busy cores of the probe when they were quiet; their load, or None if none was."""
        assert self.cores is not None and self._move_to is not None
        after = self._ps.cpu_times(percpu=True)
        busy = {c: busy_seconds(after[c]) - busy_seconds(per_core_before[c]) for c in self.candidates}
        quietest = sorted(sorted(busy, key=lambda c: (busy[c], c))[: len(self.cores)])
        foreign = sum(busy[c] for c in quietest)
        share = foreign / (max(duration_s, 1e-9) * len(quietest))
        if share > self.foreign_cpu_share_max or quietest == self.cores:
            return None
        self._move_to(quietest)
        self.cores = quietest
        return WindowLoad(duration_s, foreign, 0.0, share, False, judged=_core_names(quietest))

    def _process_times(self) -> dict[int, tuple[str, float]]:
        mine = {self._me.pid, *(c.pid for c in self._children())}
        table: dict[int, tuple[str, float]] = {}
        for proc in self._ps.process_iter(["pid", "name", "cpu_times"]):
            info = proc.info
            times = info.get("cpu_times")
            if info["pid"] in mine or times is None:
                continue
            table[info["pid"]] = (str(info.get("name") or "?"), times.user + times.system)
        return table

    @staticmethod
    def _top_processes(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> str:
        used = [(after[pid][1] - before.get(pid, (name, 0.0))[1], pid, name) for pid, (name, _) in after.items()]
        top = sorted((u for u in used if u[0] > 0), reverse=True)[:3]
        return ", ".join(f"pid {pid} {name} ({cpu:.1f} CPU-s)" for cpu, pid, name in top)
