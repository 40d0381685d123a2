"""What the measurement protocol hands to the figure functions: raw readings, no arithmetic.

Joules per device over windows, their durations, the phase marks' seconds, what was served, and the load over
each window. `runner.figures` turns these into published figures; building them by hand gives a synthetic run
for tests of the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from leaderboard_data.records import Outputs, WarmupRecord
from runner.meters.load_monitor import WindowLoad


class DecodeMethod(StrEnum):
    """How a two-phase task's phases are separated."""

    DIRECT = "direct_phase_marks"
    """Each phase's energy is read from the counter at the phase marks (the counter resolves the shortest phase)."""
    SUBTRACTED = "prefill_only_window_subtracted"
    """The first phase alone in its own window; the second is the inference window minus it."""


class FigureMethod(StrEnum):
    """How one published figure was obtained (`EnergyFigure.method`)."""

    WINDOW = "window"
    """Its own measured window: a counter delta, or a power model integrated over that window."""
    TIME_ATTRIBUTED = "time_attributed"
    """A share of a longer window split by time (the meter cannot resolve it): never marked measured."""
    SUBTRACTED = "subtracted"
    """The difference of two windows (decode = inference - prefill), uncertainty propagated."""
    IMPORTED = "imported"
    """Read from another tool's report."""


@dataclass(frozen=True)
class DeviceInfo:
    """One metered device kind: counter or model, which meter, what it resolves."""

    measured: bool
    source: str
    resolution_s: float
    constant_power: bool = False


@dataclass(frozen=True)
class Window:
    """Energy per device over one window. Units: joules, seconds."""

    joules: dict[str, float]
    duration_s: float
    extras: dict[str, float] = field(default_factory=dict)
    load: WindowLoad | None = None


@dataclass(frozen=True)
class IdleReading:
    """The idle windows before and after the measured passes, each after `settle_s` of waiting."""

    before: Window
    after: Window
    settle_s: float


@dataclass(frozen=True)
class RepetitionReading:
    """One repetition: one slice of samples, measured once in one round (a round is a pass over every slice).

    `preprocess` covers preparing the slice's inputs (its own window, repeated as often as the inference window);
    `inference` covers running them. `phase_j`/`phase_s` are the inference window split at the phase marks.
    `first_phase` is the first phase alone in its own window (subtracted decode only).
    """

    slice_index: int
    queries: int
    preprocess: Window
    preprocess_queries: int
    inference: Window
    phase_j: dict[tuple[str, str], float]
    phase_s: dict[str, float]
    latencies_s: list[float]
    outputs: Outputs
    first_phase: Window | None = None
    first_phase_queries: int = 0
    predictions: list[Any] = field(default_factory=list)
    """The first pass's `QueryOutput.prediction` per query of the slice, in order: scored after measuring."""
    round_index: int = 0
    slice_samples: int = 1
    """Distinct samples in the slice: its weight in the mean over all samples."""


@dataclass(frozen=True)
class RunReadings:
    """Everything one benchmark measured."""

    devices: dict[str, DeviceInfo]
    phases: tuple[str, ...]
    decode_method: DecodeMethod | None
    load: Window
    samples: int
    idle: IdleReading
    repetitions: list[RepetitionReading]
    remeasured_windows: int = 0
    warmup: WarmupRecord | None = None
    base_rounds: int = 1
    added_rounds: int = 0
    """Rounds added because the scored mean was not yet precise enough (see `runner.protocol`)."""
