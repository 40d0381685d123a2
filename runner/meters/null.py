"""A stand-in for hardware that is not there: it measures nothing and says why, so a result records
"not measured" instead of a zero."""

from __future__ import annotations

from runner.meters.base import DeviceKind, EnergyMeter, UnavailableDevice


class NullMeter(EnergyMeter):
    """Covers one device kind that cannot be metered; `unavailable()` carries the reason into the result.

    Example:
        NullMeter("gpu", "nvml_energy_counter", "no NVIDIA GPU: NVML Shared Library Not Found")
    """

    def __init__(self, device: DeviceKind, source: str, reason: str) -> None:
        super().__init__()
        self.device: DeviceKind = device
        self.source = source
        self.reason = reason

    def is_available(self) -> bool:
        return False

    def unavailable(self) -> list[UnavailableDevice]:
        return [UnavailableDevice(device=self.device, source=self.source, reason=self.reason)]

    @property
    def devices(self) -> dict[str, tuple[bool, str]]:
        return {}

    def _read(self) -> dict[str, float]:
        return {}

    def start(self) -> None:
        """Nothing to sample: keep a single empty sample so windows still open and close."""
        if not self._times:
            self.sample()

    def close(self) -> None:
        return
