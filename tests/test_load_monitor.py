"""The foreign-load monitor on a fake process table (psutil's shape, at its boundary), its use by the protocol
(re-measure after quiet, fail as machine_busy naming the load), and one real check of own CPU time."""

from __future__ import annotations

import time
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from leaderboard_data.records import ErrorKind
from runner.engine import BenchmarkSpec, run_benchmark
from runner.errors import BenchmarkFailure
from runner.meters import EnergyMeter, GpuProcess, GpuState, NullMeter
from runner.meters.load_monitor import (
    GATE_ENV,
    QUIET_IDLE_ENV,
    LoadGate,
    LoadMonitor,
    MachineBusyError,
    gate_from_env,
    idle_above_quiet,
    quiet_idle_from_env,
)
from tests import helpers_engine as h
from tests.helpers_meters import FakeCounter

CpuTimes = namedtuple("CpuTimes", "user nice system idle iowait irq softirq steal guest guest_nice")
ProcTimes = namedtuple("ProcTimes", "user system children_user children_system")


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class FakeProcess:
    def __init__(self, table: FakePsutil, pid: int) -> None:
        self._table, self.pid = table, pid

    def cpu_times(self) -> ProcTimes:
        if self.pid not in self._table.procs:
            raise self._table.NoSuchProcess(self.pid)
        return ProcTimes(self._table.procs[self.pid][1], 0.0, 0.0, 0.0)

    def children(self, recursive: bool = False) -> list[FakeProcess]:
        return [FakeProcess(self._table, pid) for pid in self._table.children]

    @property
    def info(self) -> dict[str, Any]:
        name, cpu = self._table.procs[self.pid]
        return {"pid": self.pid, "name": name, "cpu_times": ProcTimes(cpu, 0.0, 0.0, 0.0)}


class FakePsutil:
    """Two cores; pid 1 is this process, `children` its children; every CPU second of a process is busy time."""

    class NoSuchProcess(Exception):
        pass

    class AccessDenied(Exception):
        pass

    def __init__(self) -> None:
        self.procs: dict[int, tuple[str, float]] = {1: ("benchmark", 0.0), 50: ("sshd", 0.0)}
        self.children: list[int] = []
        self.idle = 0.0
        self.core_of: dict[int, int] = {}

    def cpu_count(self) -> int:
        return 2

    def cpu_times(self, percpu: bool = False) -> CpuTimes | list[CpuTimes]:
        if percpu:
            return [self._times(core) for core in range(self.cpu_count())]
        busy = sum(cpu for _, cpu in self.procs.values())
        return CpuTimes(busy, 0.0, 0.0, self.idle, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    def _times(self, core: int) -> CpuTimes:
        """One core's times: the CPU time of the processes that ran on it (`core_of`, core 0 by default)."""
        busy = sum(cpu for pid, (_, cpu) in self.procs.items() if self.core_of.get(pid, 0) == core)
        return CpuTimes(busy, 0.0, 0.0, self.idle, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    def Process(self) -> FakeProcess:
        return FakeProcess(self, 1)

    def process_iter(self, attrs: list[str]) -> list[FakeProcess]:
        return [FakeProcess(self, pid) for pid in self.procs]

    def run(self, pid: int, cpu_s: float, name: str = "burner") -> None:
        old = self.procs.get(pid, (name, 0.0))
        self.procs[pid] = (old[0], old[1] + cpu_s)


def monitor(ps: FakePsutil, clock: FakeClock, share: float = 0.10) -> LoadMonitor:
    return LoadMonitor(share, ps=ps, clock=clock, sleep=clock.sleep)


def test_foreign_cpu_time_is_the_machine_busy_time_less_this_process_tree() -> None:
    ps, clock = FakePsutil(), FakeClock()
    ps.children = [2]
    ps.procs[2] = ("tokenizer", 0.0)
    m = monitor(ps, clock)
    mark = m.begin()
    clock.sleep(1.0)
    ps.run(1, 0.8)
    ps.run(2, 0.3)  # this process's child: own work
    ps.run(50, 0.1)  # a daemon: 5 % of two cores
    load = m.end(mark)
    assert (load.own_cpu_s, load.foreign_cpu_s) == pytest.approx((1.1, 0.1))
    assert load.foreign_share == pytest.approx(0.05) and not load.contaminated
    mark = m.begin()
    clock.sleep(1.0)
    ps.run(99, 1.0)  # a neighbour keeping one core busy: 50 %
    load = m.end(mark)
    assert load.contaminated and load.foreign_share == pytest.approx(0.5)
    assert "other processes used 1.00 CPU-s in 1.00 s (50% of all cores" in load.describe()


def test_a_pinned_benchmark_is_judged_by_its_own_cores_only() -> None:
    """Pinned to core 0 with fixed threads, a neighbour that keeps core 1 busy cannot touch the figure: the window
    stays clean. The same neighbour on core 0 takes the benchmark's core, and the window is contaminated."""
    ps, clock = FakePsutil(), FakeClock()
    m = LoadMonitor(0.10, ps=ps, clock=clock, sleep=clock.sleep, cores=[0])
    ps.core_of[99] = 1
    mark = m.begin()
    clock.sleep(1.0)
    ps.run(1, 0.9)
    ps.run(99, 1.0, "spinner")  # a whole core, but not the benchmark's
    load = m.end(mark)
    assert not load.contaminated and load.foreign_share == pytest.approx(0.0)
    assert load.own_cpu_s == pytest.approx(0.9)
    ps.core_of[99] = 0
    mark = m.begin()
    clock.sleep(1.0)
    ps.run(1, 0.5)
    ps.run(99, 0.5, "spinner")  # half of the benchmark's core
    load = m.end(mark)
    assert load.contaminated and load.foreign_share == pytest.approx(0.5)
    assert "(50% of core 0;" in load.describe()
    unpinned = monitor(ps, clock)  # not pinned: every core is judged, and the neighbour anywhere counts
    ps.core_of[99] = 1
    mark = unpinned.begin()
    clock.sleep(1.0)
    ps.run(99, 1.0)
    assert unpinned.end(mark).contaminated


def test_a_pinned_benchmark_whose_core_was_taken_moves_to_a_quiet_core() -> None:
    """While the benchmark slept (an idle window), a neighbour moved onto its core and stays there. Waiting for
    that core to get quiet would fail a laptop with one busy neighbour; the benchmark moves to the quiet core.
    With every core busy there is nowhere to go, and the machine is busy."""
    ps, clock = FakePsutil(), FakeClock()
    moves: list[list[int]] = []
    m = LoadMonitor(0.10, ps=ps, clock=clock, sleep=clock.sleep, cores=[0], move_to=moves.append)
    ps.core_of[99] = 0

    def neighbour_spins(seconds: float) -> None:
        ps.run(99, seconds, "spinner")
        clock.sleep(seconds)

    m._sleep = neighbour_spins
    load = m.wait_for_quiet(60.0)
    assert moves == [[1]] and m.cores == [1] and not load.contaminated
    assert "core 1" in load.describe() and clock.t == pytest.approx(1.0)
    mark = m.begin()
    neighbour_spins(1.0)
    assert not m.end(mark).contaminated  # judged on its new core, the neighbour no longer counts

    ps.core_of[98] = 0
    m = LoadMonitor(0.10, ps=ps, clock=clock, sleep=clock.sleep, cores=[1], move_to=moves.append)

    def both_cores_busy(seconds: float) -> None:
        ps.run(99, seconds)  # on core 1
        ps.run(98, seconds, "other")  # on core 0
        clock.sleep(seconds)

    ps.core_of[99] = 1
    m._sleep = both_cores_busy
    with pytest.raises(MachineBusyError, match="stayed busy for 5 s"):
        m.wait_for_quiet(5.0)
    assert moves == [[1]]


def test_a_child_that_exits_mid_read_is_skipped() -> None:
    ps, clock = FakePsutil(), FakeClock()
    ps.children = [7]  # listed, but gone from the table by the time it is read
    m = monitor(ps, clock)
    assert m.end(m.begin()).own_cpu_s == 0.0


def test_wait_for_quiet_returns_once_a_probe_is_quiet() -> None:
    ps, clock = FakePsutil(), FakeClock()
    m = monitor(ps, clock)
    busy_until = 5.0

    def sleep(seconds: float) -> None:
        if clock.t < busy_until:
            ps.run(99, 2 * seconds)
        clock.sleep(seconds)

    m._sleep = sleep
    load = m.wait_for_quiet(60.0)
    assert not load.contaminated and clock.t == pytest.approx(6.0)


def test_wait_for_quiet_names_the_load_when_it_never_ends() -> None:
    ps, clock = FakePsutil(), FakeClock()
    ps.procs[99] = ("stress-ng", 0.0)
    m = monitor(ps, clock)

    def sleep(seconds: float) -> None:
        ps.run(99, 2 * seconds)
        ps.run(50, 0.01)
        clock.sleep(seconds)

    m._sleep = sleep
    with pytest.raises(MachineBusyError) as info:
        m.wait_for_quiet(10.0)
    text = str(info.value)
    assert "stayed busy for 10 s" in text and "pid 99 stress-ng" in text
    assert text.index("pid 99 stress-ng") < text.index("pid 50 sshd")


def test_gate_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(GATE_ENV, raising=False)
    assert gate_from_env() == LoadGate.GATE
    monkeypatch.setenv(GATE_ENV, "record")
    assert gate_from_env() == LoadGate.RECORD
    monkeypatch.setenv(GATE_ENV, "sometimes")
    with pytest.raises(ValueError, match="expected one of gate, record"):
        gate_from_env()


def test_own_cpu_time_is_counted_as_own_on_this_machine() -> None:
    m = LoadMonitor(0.10)
    mark = m.begin()
    end = time.process_time() + 0.3
    while time.process_time() < end:
        sum(range(1000))
    load = m.end(mark)
    assert load.own_cpu_s >= 0.25


# --- the protocol's gate ----------------------------------------------------------------------------------------


class ScriptedMonitor(LoadMonitor):
    """A real LoadMonitor over a fake process table where a neighbour burns during the first `busy_windows`."""

    def __init__(self, busy_windows: int, quiet_after_probes: int | None) -> None:
        self.ps, self.clock = FakePsutil(), FakeClock()
        super().__init__(0.10, ps=self.ps, clock=self.clock, sleep=self._sleep_and_burn)
        self.busy_windows, self.quiet_after = busy_windows, quiet_after_probes
        self.windows = self.probes = 0

    def begin(self) -> Any:
        self.windows += 1
        self.clock.sleep(1.0)
        if self.windows <= self.busy_windows:
            self.ps.run(99, 1.5, "stress-ng")
        return super().begin()

    def end(self, mark: Any) -> Any:
        self.clock.sleep(1.0)
        if self.windows <= self.busy_windows:
            self.ps.run(99, 1.5, "stress-ng")
        return super().end(mark)

    def _sleep_and_burn(self, seconds: float) -> None:
        self.probes += 1
        if self.quiet_after is None or self.probes <= self.quiet_after:
            self.ps.run(99, 2 * seconds, "stress-ng")
        self.clock.sleep(seconds)


def gated_spec(folder: Path, data: Path) -> BenchmarkSpec:
    return BenchmarkSpec(
        model_id="tests/mlp",
        model_dir=folder,
        revision="0" * 40,
        task_config=h.task_config(checks={"quiet_wait_s": 30}),
        dataset_path=str(data),
        load_gate="gate",
    )


def meters() -> list[EnergyMeter]:
    from runner.meters import CodecarbonMeter

    return [NullMeter("gpu", "nvml_energy_counter", "CPU run"), CodecarbonMeter()]


def test_contaminated_windows_are_measured_again_after_quiet(tmp_path: Path) -> None:
    folder, data = h.build_mlp(tmp_path / "mlp"), h.write_samples(tmp_path / "data")
    scripted = ScriptedMonitor(busy_windows=2, quiet_after_probes=3)
    r = run_benchmark(gated_spec(folder, data), meters=meters(), task_class=h.MlpTask, load_monitor=scripted)
    assert r.load_check is not None
    assert r.load_check["gate"] == "gate" and r.load_check["windows_contaminated"] == 0
    assert r.load_check["windows_remeasured"] == 1  # the first idle window; its re-measure was quiet
    assert r.load_check["max_foreign_share"] <= 0.10


def test_a_machine_that_never_gets_quiet_fails_as_machine_busy(tmp_path: Path) -> None:
    folder, data = h.build_mlp(tmp_path / "mlp"), h.write_samples(tmp_path / "data")
    scripted = ScriptedMonitor(busy_windows=1000, quiet_after_probes=None)
    with pytest.raises(BenchmarkFailure) as info:
        run_benchmark(gated_spec(folder, data), meters=meters(), task_class=h.MlpTask, load_monitor=scripted)
    assert info.value.kind == ErrorKind.MACHINE_BUSY
    assert "idle baseline contaminated: other processes used" in info.value.message
    assert "pid 99 stress-ng" in info.value.message


def test_record_mode_publishes_and_records_contamination(tmp_path: Path) -> None:
    folder, data = h.build_mlp(tmp_path / "mlp"), h.write_samples(tmp_path / "data")
    spec = gated_spec(folder, data)
    spec.load_gate = "record"
    scripted = ScriptedMonitor(busy_windows=1000, quiet_after_probes=None)
    r = run_benchmark(spec, meters=meters(), task_class=h.MlpTask, load_monitor=scripted)
    assert r.load_check is not None and r.load_check["gate"] == "record"
    assert r.load_check["windows_contaminated"] == r.load_check["windows"] >= 6
    assert r.load_check["windows_remeasured"] == 0


def test_quiet_idle_levels_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(QUIET_IDLE_ENV, "gpu=72, cpu=0.8")
    assert quiet_idle_from_env() == {"gpu": 72.0, "cpu": 0.8}
    monkeypatch.setenv(QUIET_IDLE_ENV, "gpu=lots")
    with pytest.raises(ValueError, match="DEVICE=WATTS"):
        quiet_idle_from_env()
    monkeypatch.delenv(QUIET_IDLE_ENV)
    assert quiet_idle_from_env() == {}


def test_an_idle_baseline_far_above_the_quiet_level_is_contaminated() -> None:
    assert idle_above_quiet({"gpu": 140.0}, {"gpu": 72.0}, 2.0, 5.0) is None
    load = idle_above_quiet({"gpu": 160.0, "cpu": 0.5}, {"gpu": 72.0, "cpu": 0.8}, 2.0, 5.0)
    assert load is not None and load.contaminated
    assert load.describe().startswith("idle gpu power 160 W is above 2x this machine's quiet level 72 W")


class HotIdleMeter(FakeCounter):
    """A CPU counter that reads 50 W all the time: a neighbour on the device that CPU time does not show."""

    source = "hot_counter"
    sample_period_s = 0.05

    def _read(self) -> dict[str, float]:
        return {"cpu": 50.0 * time.perf_counter()}


def test_a_hot_idle_baseline_is_measured_again_then_fails_as_machine_busy(tmp_path: Path) -> None:
    folder, data = h.build_mlp(tmp_path / "mlp"), h.write_samples(tmp_path / "data")
    spec = gated_spec(folder, data)
    spec.quiet_idle_w = {"cpu": 10.0}
    quiet = ScriptedMonitor(busy_windows=0, quiet_after_probes=0)
    with pytest.raises(BenchmarkFailure) as info:
        run_benchmark(spec, meters=[HotIdleMeter()], task_class=h.MlpTask, load_monitor=quiet)
    assert info.value.kind == ErrorKind.MACHINE_BUSY
    assert "idle cpu power 50 W is above 2x this machine's quiet level 10 W" in info.value.message
    assert quiet.probes == 4  # waited for quiet between the five attempts


# --- co-tenants on the metered GPU -----------------------------------------------------------------------------


class GpuCoTenant:
    """The metered GPU as NVML lists it (this benchmark is pid 1 in FakePsutil): pid 77 shares the GPU for its
    first `present_for` listings, then leaves (None: never)."""

    def __init__(self, present_for: int | None) -> None:
        self.present_for = present_for
        self.listings = 0

    def processes(self) -> list[GpuProcess]:
        self.listings += 1
        listed = [GpuProcess(1, "GPU-model", "compute")]
        if self.present_for is None or self.listings <= self.present_for:
            listed.append(GpuProcess(77, "GPU-model", "compute"))
        return listed

    def state(self) -> list[GpuState]:
        return [GpuState("GPU-model", 1980, 2619, 45, ())]


def gpu_monitor(tenant: GpuCoTenant) -> LoadMonitor:
    """A real LoadMonitor on a quiet CPU, so only the GPU's process list can contaminate a window."""
    clock = FakeClock()
    return LoadMonitor(0.10, ps=FakePsutil(), clock=clock, sleep=clock.sleep, gpu=tenant)


def test_a_gpu_co_tenant_is_waited_out_and_the_window_measured_again(tmp_path: Path) -> None:
    """A co-tenant costs the CPU nothing here, yet the first idle window is contaminated by it; the gate probes
    until it has left and measures the window again."""
    folder, data = h.build_mlp(tmp_path / "mlp"), h.write_samples(tmp_path / "data")
    tenant = GpuCoTenant(present_for=3)
    r = run_benchmark(gated_spec(folder, data), meters=meters(), task_class=h.MlpTask, load_monitor=gpu_monitor(tenant))
    assert r.load_check is not None
    assert r.load_check["windows_remeasured"] == 1 and r.load_check["windows_contaminated"] == 0
    assert len(r.load_check["gpu_windows"]) == r.load_check["windows"]  # each published window's GPU state
    assert r.load_check["gpu_windows"][0]["end"][0]["sm_clock_mhz"] == 1980


def test_a_gpu_co_tenant_that_stays_fails_as_machine_busy(tmp_path: Path) -> None:
    folder, data = h.build_mlp(tmp_path / "mlp"), h.write_samples(tmp_path / "data")
    with pytest.raises(BenchmarkFailure) as info:
        run_benchmark(
            gated_spec(folder, data),
            meters=meters(),
            task_class=h.MlpTask,
            load_monitor=gpu_monitor(GpuCoTenant(present_for=None)),
        )
    assert info.value.kind == ErrorKind.MACHINE_BUSY
    assert "idle baseline contaminated: other processes on the metered GPU: pid 77 (compute on GPU-model)" in (
        info.value.message
    )


def test_record_mode_records_a_gpu_co_tenant(tmp_path: Path) -> None:
    folder, data = h.build_mlp(tmp_path / "mlp"), h.write_samples(tmp_path / "data")
    spec = gated_spec(folder, data)
    spec.load_gate = "record"
    r = run_benchmark(spec, meters=meters(), task_class=h.MlpTask, load_monitor=gpu_monitor(GpuCoTenant(None)))
    assert r.load_check is not None and r.load_check["windows_contaminated"] == r.load_check["windows"] >= 6
