"""Energy meters: the timeline and windows, NVML faked at its boundary, codecarbon for real on this CPU."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pynvml
import pytest

from runner.meters import CodecarbonMeter, MeterError, NullMeter, detect_meters
from runner.meters.nvml import COUNTER_SOURCE
from tests.helpers_meters import FakeCounter


class LinearMeter(FakeCounter):
    """A fake hardware counter: `watts` times seconds since it opened."""

    source = "linear"
    sample_period_s = 0.01

    def __init__(self, watts: float = 10.0) -> None:
        super().__init__()
        self.watts = watts
        self.t0 = 0.0

    def _open(self) -> None:
        self.t0 = time.perf_counter()

    def _read(self) -> dict[str, float]:
        return {"cpu": self.watts * (time.perf_counter() - self.t0), "side": 1.0}


@pytest.fixture
def linear() -> Iterator[LinearMeter]:
    meter = LinearMeter()
    meter.start()
    yield meter
    meter.close()


def test_window_energy_is_the_counter_delta(linear: LinearMeter) -> None:
    linear.begin_window("outer")
    time.sleep(0.05)
    linear.begin_window("inner")
    time.sleep(0.05)
    inner = linear.end_window("inner")
    outer = linear.end_window("outer")
    assert inner.energy_j("cpu") == pytest.approx(10.0 * inner.duration_s, rel=1e-3)
    assert outer.energy_j("cpu") == pytest.approx(10.0 * outer.duration_s, rel=1e-3)
    assert outer.energy_j("cpu") > inner.energy_j("cpu") > 0
    assert inner.devices["cpu"].measured and inner.devices["cpu"].source == "linear"
    assert inner.extras == {"side": 0.0}


def test_intervals_are_additive(linear: LinearMeter) -> None:
    begin = linear.sample()
    time.sleep(0.05)
    end = linear.sample()
    mid = (begin + end) / 2
    whole = linear.energy_over([(begin, end)]).energy_j("cpu")
    halves = linear.energy_over([(begin, mid), (mid, end)]).energy_j("cpu")
    assert halves == pytest.approx(whole, rel=1e-12)


def test_bad_window_keys(linear: LinearMeter) -> None:
    with pytest.raises(MeterError, match="no open window"):
        linear.end_window("never")
    linear.begin_window("a")
    with pytest.raises(MeterError, match="already open"):
        linear.begin_window("a")


# --- NVML, faked at the pynvml boundary ------------------------------------------------------------------------


@pytest.fixture
def fake_nvml() -> Iterator[mock.MagicMock]:
    with mock.patch("runner.meters.nvml.pynvml", autospec=True) as fake:
        fake.NVMLError = pynvml.NVMLError
        for name in ("NVML_ERROR_NOT_SUPPORTED", "NVML_ERROR_LIBRARY_NOT_FOUND", "NVML_ERROR_DRIVER_NOT_LOADED"):
            setattr(fake, name, getattr(pynvml, name))
        fake.nvmlDeviceGetCount.return_value = 2
        fake.nvmlDeviceGetHandleByIndex.side_effect = lambda i: f"handle{i}"
        yield fake


# The NVML meter itself (mapping, counter, power fallback, errors) is tested in test_nvml_mapping.py.


# --- codecarbon, for real ---------------------------------------------------------------------------------------


def test_codecarbon_cpu_and_ram_on_this_machine() -> None:
    meter = CodecarbonMeter(country_iso_code="FRA")
    assert meter.is_available()
    meter.start()
    try:
        meter.begin_window("outer")
        meter.begin_window("busy")
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:
            sum(range(1000))
        busy = meter.end_window("busy")
        outer = meter.end_window("outer")
    finally:
        meter.close()
    rapl = Path("/sys/class/powercap/intel-rapl").exists()
    assert busy.devices["cpu"].measured == rapl
    assert busy.devices["cpu"].source == ("codecarbon_rapl" if rapl else "codecarbon_tdp_model")
    assert busy.devices["ram"] == busy.devices["ram"].__class__(
        energy_j=busy.energy_j("ram"), measured=False, source="codecarbon_ram_model"
    )
    assert busy.energy_j("cpu") > 0 and busy.energy_j("ram") > 0
    assert outer.energy_j("ram") >= busy.energy_j("ram")
    assert busy.extras["co2_g"] > 0


def _detached_burner() -> int:
    """A process that keeps one core busy and is not this process's child (its shell parent exits at once)."""
    code = "import time\nend = time.time() + 60\nwhile time.time() < end: pass"
    out = subprocess.run(
        ["sh", "-c", f'"{sys.executable}" -c "{code}" >/dev/null 2>&1 & echo $!'], capture_output=True, text=True
    )
    return int(out.stdout.strip())


def test_codecarbon_bills_this_process_cpu_time_not_the_machine_load() -> None:
    """Process tracking: a window where this process sleeps beside a busy neighbour costs next to nothing; the
    estimate follows this process's CPU time (TDP x CPU seconds / cores), whatever the machine's load."""
    meter = CodecarbonMeter()
    burner = _detached_burner()
    try:
        meter.start()
        meter.begin_window("asleep")
        time.sleep(0.5)
        asleep = meter.end_window("asleep")
        cpu_before = time.process_time()
        meter.begin_window("busy")
        end = time.process_time() + 0.5
        while time.process_time() < end:
            sum(range(1000))
        busy = meter.end_window("busy")
        own_cpu_s = time.process_time() - cpu_before
        model = meter.cpu_power_model()
    finally:
        os.kill(burner, signal.SIGKILL)
        meter.close()
    if model["mode"] != "cpu_load":
        pytest.skip(f"codecarbon reads the CPU with {model['mode']}, not its load model")
    assert model["tracking_mode"] == "process"
    expected_j = float(model["tdp_w"]) * own_cpu_s / (os.cpu_count() or 1)
    assert busy.energy_j("cpu") == pytest.approx(expected_j, rel=0.3)
    assert asleep.energy_j("cpu") < 0.2 * busy.energy_j("cpu")


def test_null_meter_reports_why() -> None:
    meter = NullMeter("gpu", COUNTER_SOURCE, "no NVIDIA GPU")
    meter.start()
    meter.begin_window("w")
    assert meter.end_window("w").devices == {}
    assert not meter.is_available()
    assert [(u.device, u.reason) for u in meter.unavailable()] == [("gpu", "no NVIDIA GPU")]


def test_detect_meters_on_cpu() -> None:
    meters = detect_meters("cpu", "USA")
    kinds = {d for m in meters for d in m.devices}
    assert kinds == {"cpu", "ram"}
    assert [u.device for m in meters for u in m.unavailable()] == ["gpu"]


def test_detect_meters_cuda_without_nvidia(fake_nvml: mock.MagicMock) -> None:
    fake_nvml.nvmlInit.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    meters = detect_meters("cuda")
    (gpu,) = [u for m in meters for u in m.unavailable()]
    assert gpu.device == "gpu" and "Library Not Found" in gpu.reason


class LaggingCounter(FakeCounter):
    """A counter that shows a 100 W draw `lag` seconds late: the GPU works from `on` to `off`, idle at 0 W."""

    sample_period_s = 0.01

    def __init__(self, on: float, off: float, lag: float) -> None:
        super().__init__()
        self.on, self.off, self.lag = on, off, lag

    def _read(self) -> dict[str, float]:
        shown_until = time.perf_counter() - self.lag
        return {"cpu": 100.0 * max(0.0, min(shown_until, self.off) - self.on)}


@pytest.mark.parametrize(("applied_lag_s", "expected_j"), [(0.0, 15.0), (0.3, 30.0)])
def test_a_lagging_counter_is_read_at_its_lag(applied_lag_s: float, expected_j: float) -> None:
    """Work of 0.3 s at 100 W that the counter shows 0.3 s late: read at the window's edges, a window around the
    work sees only half of it (15 J of 30 J); with the lag applied, all of it."""
    start = time.perf_counter()
    meter = LaggingCounter(on=start + 0.15, off=start + 0.45, lag=0.3)
    meter.lag_s = applied_lag_s
    meter.start()
    try:
        time.sleep(max(0.0, start + 0.6 - time.perf_counter()))
        meter.sample()  # the window's end edge
        reading = meter.energy_over([(start + 0.15, start + 0.6)])
    finally:
        meter.close()
    assert reading.energy_j("cpu") == pytest.approx(expected_j, abs=2.0)
