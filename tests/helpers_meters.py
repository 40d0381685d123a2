"""A base for simulated energy counters in tests: always available, one device kind, a hardware counter.

Subclasses say what the counter reads (`_read`, cumulative joules) and, where it matters, its `device` and
`resolution` (seconds between updates; 0 reads as continuous).
"""

from __future__ import annotations

from runner.meters import EnergyMeter


class FakeCounter(EnergyMeter):
    """A simulated hardware counter on `device`, refreshed every `resolution` seconds."""

    source = "fake_counter"
    device = "cpu"
    resolution = 0.0

    def is_available(self) -> bool:
        return True

    @property
    def devices(self) -> dict[str, tuple[bool, str]]:
        return {self.device: (True, self.source)}

    @property
    def resolution_s(self) -> float:
        return self.resolution
