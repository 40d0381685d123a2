"""The GPU meter reads exactly the GPU torch runs the model on, found by UUID and PCI address, never by index.

NVML is faked at its boundary (`runner.meters.nvml.pynvml`, autospec) and so is torch's view of CUDA
(`torch.cuda.get_device_properties` and friends). The fake node numbers its GPUs in two orders, as real nodes may:
NVML's (PCI order) and CUDA's (fastest first, unless CUDA_DEVICE_ORDER=PCI_BUS_ID), and the fake CUDA honours
CUDA_VISIBLE_DEVICES the way the driver does (ordinals into CUDA's order, GPU UUIDs, MIG UUIDs).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from unittest import mock

import pynvml
import pytest

from leaderboard_data.records import MeteredGpu
from runner.meters import NullMeter, NvmlMeter, detect_meters, gpu_watch, metered_gpus
from runner.meters.load_monitor import LoadMonitor
from runner.meters.nvml import (
    COUNTER_SOURCE,
    LAG_ENV,
    POWER_SOURCE,
    GpuProcess,
    NvmlError,
    NvmlLibraryError,
    update_period_s,
)

_CONSTANTS = (
    "NVML_ERROR_NOT_SUPPORTED",
    "NVML_ERROR_LIBRARY_NOT_FOUND",
    "NVML_ERROR_DRIVER_NOT_LOADED",
    "NVML_ERROR_NOT_FOUND",
    "NVML_ERROR_INVALID_ARGUMENT",
    "NVML_DEVICE_MIG_ENABLE",
    "NVML_CLOCK_SM",
    "NVML_CLOCK_MEM",
    "NVML_TEMPERATURE_GPU",
)


def _uuid(n: int) -> str:
    return f"{n:08x}-1111-2222-3333-{n:012x}"


@dataclass
class FakeGpu:
    """One physical GPU: bare UUID, PCI (domain, bus, device), power draw and limit."""

    uuid: str
    pci: tuple[int, int, int]
    power_w: float = 80.0
    name: str = "NVIDIA H200"
    limit_mw: int = 700_000
    mig: list[str] = field(default_factory=list)
    mig_mode: int = pynvml.NVML_DEVICE_MIG_DISABLE
    processes: list[tuple[int, str]] = field(default_factory=list)
    """(pid, 'compute' or 'graphics') of each process NVML lists on this GPU."""
    clocks_mhz: dict[int, int] = field(
        default_factory=lambda: {pynvml.NVML_CLOCK_SM: 1980, pynvml.NVML_CLOCK_MEM: 2619}
    )
    temperature_c: int = 41
    clock_event_reasons: int = 0


class FakeNode:
    """A node of GPUs seen by NVML in `gpus` order and by CUDA in `cuda_order` (indices into `gpus`)."""

    def __init__(self, gpus: list[FakeGpu], cuda_order: list[int]) -> None:
        self.gpus = gpus
        self.cuda_order = cuda_order
        self.t0 = time.perf_counter()
        self.counter_supported = True
        self.counter_period_s = 0.0
        """How often the counter updates; 0: at every read."""
        self.counter_scale = 1.0
        """A counter that reads this many times the power the GPU draws (a faulty counter, for the cross-check)."""
        self.override: SimpleNamespace | None = None
        """What torch reports for every device instead, to model a node CUDA and NVML disagree about."""

    # --- NVML ---
    def _handle(self, gpu: FakeGpu) -> str:
        return f"nvml{self.gpus.index(gpu)}"

    def _gpu(self, handle: str) -> FakeGpu:
        return self.gpus[int(handle.removeprefix("nvml"))]

    def by_uuid(self, uuid: str) -> str:
        for gpu in self.gpus:
            if uuid == f"GPU-{gpu.uuid}":
                return self._handle(gpu)
            if uuid in [f"MIG-{m}" for m in gpu.mig]:
                return f"mig-of-{self._handle(gpu)}"
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)

    def by_pci(self, bus_id: str) -> str:
        for gpu in self.gpus:
            if bus_id.lower() == "{:08x}:{:02x}:{:02x}.0".format(*gpu.pci):
                return self._handle(gpu)
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)

    def counter_mj(self, handle: str) -> int:
        if not self.counter_supported:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        elapsed = time.perf_counter() - self.t0
        if self.counter_period_s > 0:
            elapsed -= elapsed % self.counter_period_s
        return int(self.counter_scale * self._gpu(handle).power_w * elapsed * 1000)

    def install(self, fake: mock.MagicMock) -> None:
        fake.nvmlDeviceGetCount.return_value = len(self.gpus)
        fake.nvmlDeviceGetHandleByIndex.side_effect = lambda i: self._handle(self.gpus[i])
        fake.nvmlDeviceGetHandleByUUID.side_effect = self.by_uuid
        fake.nvmlDeviceGetHandleByPciBusId.side_effect = self.by_pci
        fake.nvmlDeviceGetUUID.side_effect = lambda h: f"GPU-{self._gpu(h).uuid}"
        fake.nvmlDeviceGetName.side_effect = lambda h: self._gpu(h).name
        fake.nvmlDeviceGetEnforcedPowerLimit.side_effect = lambda h: self._gpu(h).limit_mw
        fake.nvmlDeviceGetTotalEnergyConsumption.side_effect = self.counter_mj
        fake.nvmlDeviceGetPowerUsage.side_effect = lambda h: int(self._gpu(h).power_w * 1000)
        fake.nvmlDeviceGetMigMode.side_effect = lambda h: [self._gpu(h).mig_mode, self._gpu(h).mig_mode]
        fake.nvmlDeviceGetComputeRunningProcesses.side_effect = lambda h: self._running(h, "compute")
        fake.nvmlDeviceGetGraphicsRunningProcesses.side_effect = lambda h: self._running(h, "graphics")
        fake.nvmlDeviceGetClockInfo.side_effect = lambda h, clock: self._gpu(h).clocks_mhz[clock]
        fake.nvmlDeviceGetTemperature.side_effect = lambda h, sensor: self._gpu(h).temperature_c
        fake.nvmlDeviceGetCurrentClocksEventReasons.side_effect = lambda h: self._gpu(h).clock_event_reasons

    def _running(self, handle: str, kind: str) -> list[SimpleNamespace]:
        """NVML's process records (pid, usedGpuMemory) of one kind on one GPU."""
        return [SimpleNamespace(pid=pid, usedGpuMemory=1 << 30) for pid, k in self._gpu(handle).processes if k == kind]

    # --- CUDA, as torch sees it ---
    def _visible(self) -> list[SimpleNamespace]:
        import os

        spec = os.environ.get("CUDA_VISIBLE_DEVICES")
        in_cuda_order = [self.gpus[i] for i in self.cuda_order]
        if spec is None:
            return [self._props(g) for g in in_cuda_order]
        entries = [e.strip() for e in spec.split(",") if e.strip()]
        if entries and entries[0].startswith("MIG-"):
            return [SimpleNamespace(uuid=e.removeprefix("MIG-"), name="MIG 1g.18gb") for e in entries]
        if entries and entries[0].startswith("GPU-"):
            return [self._props(next(g for g in self.gpus if f"GPU-{g.uuid}" == e)) for e in entries]
        return [self._props(in_cuda_order[int(e)]) for e in entries]

    @staticmethod
    def _props(gpu: FakeGpu) -> SimpleNamespace:
        domain, bus, device = gpu.pci
        return SimpleNamespace(uuid=gpu.uuid, name=gpu.name, pci_domain_id=domain, pci_bus_id=bus, pci_device_id=device)

    def props(self, index: int) -> SimpleNamespace:
        return self.override or self._visible()[index]

    def count(self) -> int:
        return len(self._visible())


def eight_gpus(model_power_w: float = 500.0) -> FakeNode:
    """An 8-GPU node in PCI order; CUDA orders them differently. The model runs on CUDA device 0 (NVML 5)."""
    gpus = [FakeGpu(uuid=_uuid(i + 1), pci=(0, 0x18 + 0x10 * i, 0)) for i in range(8)]
    cuda_order = [5, 2, 7, 0, 1, 3, 6, 4]
    gpus[cuda_order[0]].power_w = model_power_w
    return FakeNode(gpus, cuda_order)


@pytest.fixture
def fake_nvml() -> Iterator[mock.MagicMock]:
    with mock.patch("runner.meters.nvml.pynvml", autospec=True) as fake:
        fake.NVMLError = pynvml.NVMLError
        for name in _CONSTANTS:
            setattr(fake, name, getattr(pynvml, name))
        yield fake


@pytest.fixture
def node(fake_nvml: mock.MagicMock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNode]:
    """The 8-GPU node, with NVML and torch's CUDA both faked; CUDA_VISIBLE_DEVICES unset."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake = eight_gpus()
    fake.install(fake_nvml)
    with (
        mock.patch("torch.cuda.is_available", autospec=True, return_value=True),
        mock.patch("torch.cuda.current_device", autospec=True, return_value=0),
        mock.patch("torch.cuda.device_count", autospec=True, side_effect=fake.count),
        mock.patch("torch.cuda.get_device_properties", autospec=True, side_effect=fake.props),
    ):
        yield fake


def mean_power_w(meter: NvmlMeter, seconds: float = 0.3) -> float:
    meter.start()
    try:
        meter.begin_window("w")
        time.sleep(seconds)
        reading = meter.end_window("w")
    finally:
        meter.close()
    return reading.energy_j("gpu") / reading.duration_s


def test_an_eight_gpu_node_reads_only_the_model_gpu(node: FakeNode) -> None:
    """The audit's node: model at 500 W on one GPU, seven idle at 80 W. Summing every GPU read 1060 W."""
    meter = NvmlMeter(synchronize=False)
    assert meter.is_available(), meter.unavailable()
    assert mean_power_w(meter) == pytest.approx(500.0, rel=0.05)
    assert [g.uuid for g in meter.metered_gpus] == [f"GPU-{_uuid(6)}"]


@pytest.mark.parametrize(
    ("visible", "nvml_index"),
    [
        (None, 5),  # unset: CUDA's device 0 is NVML's 5 on this node
        ("0", 5),
        ("2,0", 7),  # CUDA ordinal 2 becomes torch's cuda:0
        ("3", 0),
        (f"GPU-{_uuid(3)},GPU-{_uuid(1)}", 2),
        (f"GPU-{_uuid(8)}", 7),
    ],
)
def test_the_metered_gpu_is_torch_device_whatever_the_numbering(
    node: FakeNode, monkeypatch: pytest.MonkeyPatch, visible: str | None, nvml_index: int
) -> None:
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    meter = NvmlMeter(synchronize=False)
    assert meter.is_available(), meter.unavailable()
    assert [g.uuid for g in meter.metered_gpus] == [f"GPU-{node.gpus[nvml_index].uuid}"]


def test_several_torch_devices_are_summed_and_recorded(node: FakeNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,4")  # CUDA order [5, 2, 7, 0, 1, ...]: NVML 5 and 1
    node.gpus[1].power_w = 300.0
    node.gpus[1].name = "NVIDIA H200 NVL"
    node.gpus[1].limit_mw = 600_000
    meter = NvmlMeter(torch_devices=[0, 1], synchronize=False)
    assert mean_power_w(meter) == pytest.approx(800.0, rel=0.05)
    assert [g.model_copy(update={"counter_update_period_s": None}) for g in metered_gpus([meter])] == [
        MeteredGpu(uuid=f"GPU-{_uuid(6)}", name="NVIDIA H200", power_limit_w=700.0, counter_lag_s=0.0),
        MeteredGpu(uuid=f"GPU-{_uuid(2)}", name="NVIDIA H200 NVL", power_limit_w=600.0, counter_lag_s=0.0),
    ]


def test_mig_instances_are_refused_with_a_reason(node: FakeNode, monkeypatch: pytest.MonkeyPatch) -> None:
    node.gpus[5].mig = [_uuid(0xAB)]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", f"MIG-{_uuid(0xAB)}")
    meter = NvmlMeter(synchronize=False)
    assert not meter.is_available()
    (missing,) = meter.unavailable()
    assert "MIG" in missing.reason and "whole GPU" in missing.reason
    with pytest.raises(NvmlLibraryError, match="MIG"):
        meter.start()


def test_a_mig_device_reached_without_the_variable_is_refused(node: FakeNode) -> None:
    node.gpus[5].mig = [_uuid(0xAB)]
    node.override = SimpleNamespace(uuid=_uuid(0xAB))
    meter = NvmlMeter(synchronize=False)
    assert not meter.is_available()
    assert "MIG instance" in meter.unavailable()[0].reason


def test_a_gpu_in_mig_mode_is_refused_whatever_cuda_reports(node: FakeNode) -> None:
    """MIG mode is read on the resolved handle, not only guessed from CUDA_VISIBLE_DEVICES or a MIG- UUID."""
    node.gpus[5].mig_mode = pynvml.NVML_DEVICE_MIG_ENABLE
    meter = NvmlMeter(synchronize=False)
    assert not meter.is_available()
    assert "is in MIG mode" in meter.unavailable()[0].reason


def test_a_gpu_without_mig_support_is_metered(node: FakeNode, fake_nvml: mock.MagicMock) -> None:
    fake_nvml.nvmlDeviceGetMigMode.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    meter = NvmlMeter(synchronize=False)
    assert meter.is_available(), meter.unavailable()


def test_uuid_and_pci_address_that_disagree_are_never_guessed(node: FakeNode) -> None:
    wrong = SimpleNamespace(uuid=_uuid(6), pci_domain_id=0, pci_bus_id=0x18, pci_device_id=0)  # PCI of NVML 0
    node.override = wrong
    meter = NvmlMeter(synchronize=False)
    assert not meter.is_available()
    assert "refusing to guess" in meter.unavailable()[0].reason


def test_a_gpu_nvml_does_not_see_is_refused(node: FakeNode) -> None:
    stranger = SimpleNamespace(uuid=_uuid(99), pci_domain_id=0, pci_bus_id=0xF0, pci_device_id=0)
    node.override = stranger
    meter = NvmlMeter(synchronize=False)
    assert not meter.is_available()
    assert "matches no GPU NVML sees" in meter.unavailable()[0].reason


def test_without_torch_pci_fields_the_uuid_alone_decides(node: FakeNode) -> None:
    old_torch = SimpleNamespace(uuid=_uuid(4))  # NVML index 3
    node.override = old_torch
    meter = NvmlMeter(synchronize=False)
    assert meter.is_available()
    assert [g.uuid for g in meter.metered_gpus] == [f"GPU-{_uuid(4)}"]


def test_the_same_gpu_twice_is_refused(node: FakeNode, monkeypatch: pytest.MonkeyPatch) -> None:
    same = FakeNode._props(node.gpus[2])
    node.override = same
    meter = NvmlMeter(torch_devices=[0, 1], synchronize=False)
    assert not meter.is_available()
    assert "twice" in meter.unavailable()[0].reason


def test_a_torch_device_out_of_range_is_refused(node: FakeNode) -> None:
    meter = NvmlMeter(torch_devices=[8], synchronize=False)
    assert not meter.is_available()
    assert "torch sees 8 CUDA device(s)" in meter.unavailable()[0].reason


def test_no_cuda_in_torch_is_a_reason(fake_nvml: mock.MagicMock) -> None:
    eight_gpus().install(fake_nvml)
    with mock.patch("torch.cuda.is_available", autospec=True, return_value=False):
        meter = NvmlMeter(synchronize=False)
        assert not meter.is_available()
    assert "torch sees no CUDA device" in meter.unavailable()[0].reason
    fake_nvml.nvmlShutdown.assert_called()  # a refused mapping releases NVML


def test_detect_meters_on_a_node_with_an_unmappable_gpu(node: FakeNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", f"MIG-{_uuid(0xAB)}")
    meters = detect_meters("cuda")
    (gpu,) = [m for m in meters if isinstance(m, NullMeter)]
    assert "MIG" in gpu.unavailable()[0].reason
    assert metered_gpus(meters) == []


# --- the counter, the power fallback and NVML's errors -----------------------------------------------------------


def test_counter_is_measured_and_opens_nvml_once(node: FakeNode, fake_nvml: mock.MagicMock) -> None:
    meter = NvmlMeter(synchronize=False)
    assert mean_power_w(meter) == pytest.approx(500.0, rel=0.05)
    assert meter.devices == {"gpu": (True, COUNTER_SOURCE)}
    fake_nvml.nvmlInit.assert_called_once()
    fake_nvml.nvmlShutdown.assert_called_once()
    assert meter.metered_gpus  # still known after close, for the result


@pytest.mark.parametrize("period_s", [0.02, 0.05])
def test_the_counter_update_period_is_measured(period_s: float) -> None:
    """Boards update the counter every 20 to 100 ms (was: 0.1 s assumed). A simulated counter and clock: each read
    takes 1 ms."""
    now = [0.0]

    def read() -> float:
        now[0] += 0.001
        return float(int(now[0] / period_s))

    assert update_period_s(read, budget_s=0.6, clock=lambda: now[0]) == pytest.approx(period_s, abs=0.0011)

    def stuck() -> float:
        now[0] += 0.001
        return 7.0

    assert update_period_s(stuck, budget_s=0.6, clock=lambda: now[0]) is None  # never moved: nothing to measure


def test_the_measured_period_drives_the_meter_and_is_recorded(node: FakeNode) -> None:
    node.counter_period_s = 0.05
    meter = NvmlMeter(synchronize=False, lag_s=0.0)
    meter.start()
    meter.close()
    (gpu,) = meter.metered_gpus
    assert gpu.counter_update_period_s is not None and gpu.counter_update_period_s >= 0.025  # on a busy machine, more
    assert meter.resolution_s == gpu.counter_update_period_s and gpu.counter_lag_s == 0.0


def test_the_probed_lag_comes_from_the_environment(node: FakeNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LAG_ENV, "30")
    assert NvmlMeter(synchronize=False).lag_s == pytest.approx(0.030)
    monkeypatch.setenv(LAG_ENV, "soon")
    with pytest.raises(ValueError, match="milliseconds"):
        NvmlMeter(synchronize=False)


def test_without_counter_power_is_integrated_and_estimated(node: FakeNode) -> None:
    node.counter_supported = False
    meter = NvmlMeter(synchronize=False)
    assert mean_power_w(meter) == pytest.approx(500.0, rel=1e-3)
    assert meter.devices == {"gpu": (False, POWER_SOURCE)}


def test_missing_driver_is_unavailable_with_reason(fake_nvml: mock.MagicMock) -> None:
    fake_nvml.nvmlInit.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    meter = NvmlMeter()
    assert not meter.is_available()
    (missing,) = meter.unavailable()
    assert missing.device == "gpu" and "no NVIDIA GPU" in missing.reason and "Driver Not Loaded" in missing.reason
    with pytest.raises(NvmlLibraryError):
        meter.start()


def test_read_errors_become_meter_errors(node: FakeNode, fake_nvml: mock.MagicMock) -> None:
    meter = NvmlMeter(synchronize=False)
    meter._open()
    fake_nvml.nvmlDeviceGetTotalEnergyConsumption.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
    with pytest.raises(NvmlError, match="GPU is lost"):
        meter._read()


def test_metered_gpus_round_trip_in_a_result() -> None:
    from tests.helpers_results import make_results

    (result,) = make_results(1, seed=3)
    gpu = MeteredGpu(
        uuid=f"GPU-{_uuid(6)}", name="NVIDIA H200", power_limit_w=700.0, counter_update_period_s=0.02, counter_lag_s=0.0
    )
    with_gpu = result.model_copy(update={"metered_gpus": [gpu]})
    assert type(result).from_json(with_gpu.to_json()).metered_gpus == [gpu]
    assert type(result).from_json(result.to_json()).metered_gpus == []


def test_the_fingerprint_names_the_model_gpu_not_the_node(node: FakeNode, fake_nvml: mock.MagicMock) -> None:
    """The hardware class ranks results together, so it counts the GPUs the model runs on (was: every GPU)."""
    from runner.hardware import fingerprint

    fake_nvml.nvmlSystemGetDriverVersion.return_value = "550.54.15"
    fake_nvml.nvmlDeviceGetMaxClockInfo.return_value = 1980
    fake_nvml.NVML_CLOCK_SM, fake_nvml.NVML_CLOCK_MEM = pynvml.NVML_CLOCK_SM, pynvml.NVML_CLOCK_MEM
    node.gpus[5].name = "NVIDIA H200"
    with mock.patch.dict(sys.modules, {"pynvml": fake_nvml}):  # runner.hardware imports pynvml itself
        machine = fingerprint("cuda")
    assert (machine.hardware_class, machine.accelerator_count) == ("nvidia-h200x1", 1)
    assert (machine.accelerator_name, machine.power_limit_w) == ("NVIDIA H200", 700.0)


# --- bench/gpu_check.py's independent cross-check ----------------------------------------------------------------


@pytest.mark.parametrize("counter_scale", [1.0, 1.5])
def test_the_cross_check_compares_the_counter_with_power_samples(
    node: FakeNode, fake_nvml: mock.MagicMock, counter_scale: float
) -> None:
    """The counter against integrated power samples of the same GPU over the same window: a counter that reads
    1.5x the drawn power shows as 1.5 (comparing the counter with itself, as before, always gave 1)."""
    from bench.gpu_check import CounterVsPower

    node.counter_scale = counter_scale
    # nvidia-smi's board power, as its -lms loop prints it (a header-less value a line, "[N/A]" where unread)
    smi = [
        sys.executable,
        "-c",
        "import time\nprint('[N/A]', flush=True)\nwhile True:\n print(500.0, flush=True)\n time.sleep(0.03)",
    ]
    check = CounterVsPower(period_s=0.02, smi_command=smi)
    with mock.patch.dict(sys.modules, {"pynvml": fake_nvml}), check:
        time.sleep(0.6)
    report = check.report
    assert report["counter_over_power"] == pytest.approx(counter_scale, rel=0.05)
    assert report["smi_mean_w_over_counter_mean_w"] == pytest.approx(1 / counter_scale, rel=0.05)
    assert report["smi_samples"] >= 3 and "not independent of the sensor" in report["method"]
    assert report["power_integrated_j"] == pytest.approx(500.0 * report["window_s"], rel=0.02)
    assert report["power_samples"] >= 3
    fake_nvml.nvmlShutdown.assert_called_once()


def test_probe_arithmetic_on_a_synthetic_counter() -> None:
    """Update intervals and power between updates, from (time, cumulative mJ) changes; the first change is partial."""
    from bench.gpu_probe import _intervals_ms, _rates_w, lag_estimate_ms

    changes = [(0.0, 0.0), (0.03, 5_000.0), (0.13, 55_000.0), (0.23, 105_000.0), (0.33, 155_000.0)]
    assert _intervals_ms(changes) == {"updates": 4, "median_ms": 100.0, "min_ms": 100.0, "max_ms": 100.0}
    assert [round(w, 6) for _, w in _rates_w(changes)] == [500.0, 500.0, 500.0]
    assert lag_estimate_ms(130.0, _intervals_ms(changes)) == 30.0  # a rise shows at the next update at the latest
    assert lag_estimate_ms(80.0, _intervals_ms(changes)) == 0.0
    assert lag_estimate_ms(None, _intervals_ms(changes)) is None


def test_the_mapping_probe_reports_each_torch_device(
    node: FakeNode, fake_nvml: mock.MagicMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/gpu_probe.py mapping, as gpu_validate.sh runs it with CUDA_VISIBLE_DEVICES set."""
    from bench.gpu_probe import mapping

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")  # CUDA order [5, 2, 7, ...]: NVML 7 and 5
    with mock.patch.dict(sys.modules, {"pynvml": fake_nvml}):
        report = mapping()
    assert report["CUDA_VISIBLE_DEVICES"] == "2,0" and len(report["nvml_uuids"]) == 8
    assert [(row["torch"], row["nvml_index"]) for row in report["torch"]] == [("cuda:0", 7), ("cuda:1", 5)]
    assert all(row["uuid"] == f"GPU-{row['cuda_uuid']}" and row["power_limit_w"] == 700.0 for row in report["torch"])


# --- co-tenants: the processes on the metered GPU ------------------------------------------------------------------


def test_processes_on_the_metered_gpu_are_listed_and_no_others(node: FakeNode, fake_nvml: mock.MagicMock) -> None:
    node.gpus[5].processes = [(4242, "compute"), (4343, "graphics")]
    node.gpus[0].processes = [(5151, "compute")]  # another GPU of the node: not billed to the model
    meter = NvmlMeter(synchronize=False)
    assert meter.is_available()
    listed = meter.processes()
    uuid = f"GPU-{node.gpus[5].uuid}"
    assert listed == [GpuProcess(4242, uuid, "compute"), GpuProcess(4343, uuid, "graphics")]
    assert fake_nvml.nvmlInit.call_count == fake_nvml.nvmlShutdown.call_count + 1  # the meter's own stays open


def test_a_gpu_that_cannot_list_graphics_processes_lists_compute_ones(
    node: FakeNode, fake_nvml: mock.MagicMock
) -> None:
    node.gpus[5].processes = [(4242, "compute")]
    fake_nvml.nvmlDeviceGetGraphicsRunningProcesses.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    meter = NvmlMeter(synchronize=False)
    assert meter.is_available()
    assert [p.pid for p in meter.processes()] == [4242]


def _load_monitor(meter: NvmlMeter) -> LoadMonitor:
    assert gpu_watch([meter]) is meter
    return LoadMonitor(math.inf, gpu=meter)  # the CPU share never trips: only the GPU decides here


def test_a_co_tenant_on_the_metered_gpu_contaminates_the_window(node: FakeNode) -> None:
    """This benchmark's own process on the GPU is fine; another process (the parent shell here, outside this
    process tree) makes the window contaminated, whether it was there at the start or only at the end."""
    meter = NvmlMeter(synchronize=False)
    assert meter.is_available()
    monitor = _load_monitor(meter)
    node.gpus[5].processes = [(os.getpid(), "compute")]
    assert not monitor.end(monitor.begin()).contaminated

    mark = monitor.begin()
    node.gpus[5].processes.append((os.getppid(), "compute"))
    load = monitor.end(mark)
    assert load.contaminated
    tenant = f"pid {os.getppid()} (compute on GPU-{node.gpus[5].uuid})"
    assert load.describe() == f"other processes on the metered GPU: {tenant}"

    mark = monitor.begin()
    node.gpus[5].processes = [(os.getpid(), "compute")]
    assert monitor.end(mark).contaminated  # it was there when the window began


def test_a_co_tenant_on_another_gpu_of_the_node_is_not_billed(node: FakeNode) -> None:
    meter = NvmlMeter(synchronize=False)
    assert meter.is_available()
    node.gpus[5].processes = [(os.getpid(), "compute")]
    node.gpus[0].processes = [(os.getppid(), "compute")]
    monitor = _load_monitor(meter)
    assert not monitor.end(monitor.begin()).contaminated


def test_pids_of_another_namespace_count_this_process_as_one_of_them(node: FakeNode) -> None:
    """In a container without the host's PIDs NVML lists host PIDs: this process is none of them, so one listed
    process is taken as this one and a second is a co-tenant."""
    meter = NvmlMeter(synchronize=False)
    assert meter.is_available()
    monitor = _load_monitor(meter)
    node.gpus[5].processes = [(900_001, "compute")]
    assert not monitor.end(monitor.begin()).contaminated
    node.gpus[5].processes = [(900_001, "compute"), (900_002, "compute")]
    load = monitor.end(monitor.begin())
    assert load.contaminated and "another PID namespace" in load.describe()


def test_each_window_keeps_the_applied_clocks_temperature_and_throttle_reasons(node: FakeNode) -> None:
    """The state at both edges, read from the handle (applied clocks, not the maximum ones the fingerprint holds)."""
    meter = NvmlMeter(synchronize=False)
    assert meter.is_available()
    monitor = _load_monitor(meter)
    gpu = node.gpus[5]
    mark = monitor.begin()
    gpu.clocks_mhz[pynvml.NVML_CLOCK_SM], gpu.temperature_c, gpu.clock_event_reasons = 1410, 83, 0x4 | 0x20
    record = monitor.end(mark).gpu_state_record()
    uuid = f"GPU-{gpu.uuid}"
    assert record == {
        "start": [
            {
                "uuid": uuid,
                "sm_clock_mhz": 1980,
                "memory_clock_mhz": 2619,
                "temperature_c": 41,
                "clock_event_reasons": (),
            }
        ],
        "end": [
            {
                "uuid": uuid,
                "sm_clock_mhz": 1410,
                "memory_clock_mhz": 2619,
                "temperature_c": 83,
                "clock_event_reasons": ("sw_power_cap", "sw_thermal_slowdown"),
            }
        ],
    }


def test_a_field_the_gpu_does_not_report_is_none(node: FakeNode, fake_nvml: mock.MagicMock) -> None:
    fake_nvml.nvmlDeviceGetTemperature.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    meter = NvmlMeter(synchronize=False)
    assert meter.is_available()
    (state,) = meter.state()
    assert state.temperature_c is None and state.sm_clock_mhz == 1980
