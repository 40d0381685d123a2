"""zeus's ZeusMonitor against our NvmlMeter, behind the same EnergyMeter interface, on the same fake 8-GPU node.

Evidence for docs/architecture.md ("GPU meter: ours, not zeus"). Runs in a throwaway venv that holds zeus (never
the shared one), with NVML faked at its boundary for both meters exactly as tests/test_nvml_mapping.py fakes it:
eight GPUs that CUDA numbers in another order than NVML, the model's GPU drawing 500 W, the others 80 W.

    python3 -m venv /tmp/zeusvenv && /tmp/zeusvenv/bin/pip install zeus==0.16.0 torch==2.13.0 psutil pyyaml pytest
    PYTHONPATH=. /tmp/zeusvenv/bin/python bench/zeus_compare.py

Prints one `scenario: ours W, zeus W` line per case; the true figure is 500 W (the GPU torch runs the model on).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pynvml
import torch  # noqa: F401 - imported before NVML is faked: torch must load the real module
import zeus.device.gpu as zeus_gpu
from zeus.monitor import ZeusMonitor

from runner.meters import EnergyMeter, NvmlMeter
from tests.test_nvml_mapping import _CONSTANTS, FakeNode, eight_gpus

WINDOW_S = 0.5


class ZeusGpuMeter(EnergyMeter):
    """ZeusMonitor as an EnergyMeter: a zeus window opened when the meter opens, re-opened at each read, so the
    timeline is zeus's window energies summed (cumulative joules)."""

    source = "zeus_monitor"

    def __init__(self, gpu_indices: list[int]) -> None:
        super().__init__()
        self._indices = gpu_indices
        self._monitor: object = None
        self._total_j = 0.0

    def is_available(self) -> bool:
        return True

    @property
    def devices(self) -> dict[str, tuple[bool, str]]:
        return {"gpu": (True, self.source)}

    def _open(self) -> None:
        self._monitor = ZeusMonitor(gpu_indices=self._indices, cpu_indices=[])
        self._monitor.begin_window("timeline", sync_execution=False)  # type: ignore[attr-defined]

    def _read(self) -> dict[str, float]:
        if self._monitor is None:
            return {"gpu": 0.0}
        measured = self._monitor.end_window("timeline", sync_execution=False)  # type: ignore[attr-defined]
        self._monitor.begin_window("timeline", sync_execution=False)  # type: ignore[attr-defined]
        self._total_j += measured.total_energy
        return {"gpu": self._total_j}


@contextmanager
def fake_node() -> Iterator[FakeNode]:
    """The 8-GPU node of the mapping tests, NVML faked for both our meter and zeus (autospec on pynvml)."""
    with mock.patch("runner.meters.nvml.pynvml", autospec=True) as fake:
        fake.NVMLError = pynvml.NVMLError
        for name in (*_CONSTANTS, "NVML_DEVICE_ARCH_VOLTA"):
            setattr(fake, name, getattr(pynvml, name))
        node = eight_gpus()
        node.install(fake)
        fake.nvmlDeviceGetArchitecture.return_value = pynvml.NVML_DEVICE_ARCH_HOPPER
        fake.nvmlDeviceGetC2cModeInfoV.side_effect = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        with (
            mock.patch("zeus.device.gpu.nvidia.pynvml", fake),
            mock.patch.dict(sys.modules, {"pynvml": fake}),
            mock.patch.object(zeus_gpu, "_gpus", None),
            mock.patch("torch.cuda.is_available", autospec=True, return_value=True),
            mock.patch("torch.cuda.current_device", autospec=True, return_value=0),
            mock.patch("torch.cuda.device_count", autospec=True, side_effect=node.count),
            mock.patch("torch.cuda.get_device_properties", autospec=True, side_effect=node.props),
        ):
            yield node


def watts(make: Callable[[], EnergyMeter]) -> str:
    """Mean watts of one window, or the error the meter raised."""
    try:
        meter = make()
        if not meter.is_available():
            return f"refused ({meter.unavailable()[0].reason[:70]})"
        meter.start()
        try:
            meter.begin_window("w")
            time.sleep(WINDOW_S)
            reading = meter.end_window("w")
        finally:
            meter.close()
    except Exception as exc:  # a failure is a finding, printed
        return f"error ({type(exc).__name__}: {str(exc)[:70]})"
    return f"{reading.energy_j('gpu') / reading.duration_s:.0f} W"


def same_order(node: FakeNode) -> None:
    """CUDA numbers the GPUs as NVML does (CUDA_DEVICE_ORDER=PCI_BUS_ID); the model's GPU is the first."""
    node.cuda_order = list(range(len(node.gpus)))
    node.gpus[0].power_w, node.gpus[5].power_w = 500.0, 80.0
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)


def visible(spec: Callable[[FakeNode], str | None]) -> Callable[[FakeNode], None]:
    def configure(node: FakeNode) -> None:
        value = spec(node)
        if value is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = value

    return configure


def mig_mode(node: FakeNode) -> None:
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    node.gpus[5].mig_mode = pynvml.NVML_DEVICE_MIG_ENABLE


SCENARIOS: dict[str, Callable[[FakeNode], None]] = {
    "cuda:0, CUDA and NVML number the GPUs alike": same_order,
    "cuda:0, CUDA_VISIBLE_DEVICES unset, CUDA's order differs from NVML's": visible(lambda node: None),
    "cuda:0, CUDA_VISIBLE_DEVICES=0 (CUDA's first GPU)": visible(lambda node: "0"),
    "cuda:0, CUDA_VISIBLE_DEVICES=<UUID of the model's GPU>": visible(lambda node: f"GPU-{node.gpus[5].uuid}"),
    "cuda:0 on a GPU in MIG mode (expected: refused)": mig_mode,
}


def main() -> int:
    for label, configure in SCENARIOS.items():
        with fake_node() as node:
            configure(node)
            ours = watts(lambda: NvmlMeter(synchronize=False, lag_s=0.0))
            theirs = watts(lambda: ZeusGpuMeter([0]))
            print(f"{label}: ours {ours}, zeus {theirs}")
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    print("true figure: 500 W (the GPU torch runs the model on)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
