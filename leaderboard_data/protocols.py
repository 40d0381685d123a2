"""Measurement protocols: the standard one each task config declares, and named profiles with their own version.

A profile (`configs/protocols/<name>.yaml`, e.g. the demo's) declares another plan for every task: samples,
slices, rounds and their rule, minimum window and load gate. A result records the protocol it was measured under
and is rated only among results of the same protocol and version (its `cohort_protocol`). Within a protocol, only
a result measured exactly as it says is rated: one with other samples, slices, rounds, minimum window or load
gate, or with a window contaminated by foreign load, is `exploratory`: published, shown apart, never rated, with
the reasons (`protocol_deviations`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError

from leaderboard_data.configs import Device, PerDevice, RoundsRule, TaskConfig, _Strict, default_config_dir
from leaderboard_data.errors import ConfigError

STANDARD_PROTOCOL = "standard"
NATIVE_COHORT = "native"
LoadGateName = Literal["gate", "record"]


class ProtocolProfile(_Strict):
    """A named protocol for every task, versioned like a task config: what a result of it was measured under."""

    protocol: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="the profile's name, equal to the file's")
    protocol_version: str = Field(pattern=r"^\d+\.\d+$", description="bumped whenever what it measures changes")
    description: str
    num_samples: int = Field(gt=0)
    repetitions: int = Field(ge=1, description="slices of the samples, each measured once a round")
    rounds: RoundsRule
    min_window_s: PerDevice | None = Field(default=None, description="None: each task config's")
    load_gate: LoadGateName = Field(default="gate", description="gate (re-measure contaminated windows) or record")


@dataclass(frozen=True)
class ProtocolPlan:
    """What one task is measured under in one protocol, on one device."""

    protocol: str
    version: str | None
    samples: int
    repetitions: int
    rounds: RoundsRule
    min_window_s: float
    load_gate: LoadGateName

    @property
    def cohort_protocol(self) -> str:
        """ "native" for the standard protocol, else "<name>:<version>": results are rated within it alone."""
        return NATIVE_COHORT if self.protocol == STANDARD_PROTOCOL else f"{self.protocol}:{self.version}"


def plan_for(config: TaskConfig, device: Device, profile: ProtocolProfile | None) -> ProtocolPlan:
    """The task's plan under `profile`, or under its own config (the standard protocol, which gates load)."""
    if profile is None:
        return ProtocolPlan(
            STANDARD_PROTOCOL,
            None,
            config.num_samples,
            config.repetitions,
            config.rounds,
            config.min_window_s.for_device(device),
            "gate",
        )
    window = profile.min_window_s or config.min_window_s
    return ProtocolPlan(
        profile.protocol,
        profile.protocol_version,
        profile.num_samples,
        profile.repetitions,
        profile.rounds,
        window.for_device(device),
        profile.load_gate,
    )


@dataclass(frozen=True)
class AsMeasured:
    """How a run was actually measured, to hold against its plan."""

    samples: int
    repetitions: int
    base_rounds: int
    min_window_s: float
    load_gate: str
    windows: int
    contaminated_windows: int


def protocol_deviations(plan: ProtocolPlan, run: AsMeasured) -> list[str]:
    """Why a run is exploratory (empty: it was measured as its protocol says)."""
    name = f"the {plan.protocol} protocol's"
    reasons = []
    if run.samples != plan.samples:
        reasons.append(f"{run.samples} samples, {name} {plan.samples}")
    if run.repetitions != plan.repetitions:
        reasons.append(f"{run.repetitions} slices, {name} {plan.repetitions}")
    if run.base_rounds != plan.rounds.base:
        reasons.append(f"{run.base_rounds} base rounds, {name} {plan.rounds.base}")
    if run.min_window_s != plan.min_window_s:
        reasons.append(f"minimum window {run.min_window_s:g} s, {name} {plan.min_window_s:g} s")
    if run.load_gate != plan.load_gate:
        reasons.append(f"load gate {run.load_gate}, {name} {plan.load_gate}")
    if run.contaminated_windows:
        reasons.append(f"{run.contaminated_windows} of {run.windows} windows contaminated by foreign load")
    return reasons


def default_protocols_dir() -> Path:
    return default_config_dir() / "protocols"


def load_protocol_profile(name: str, folder: Path | None = None) -> ProtocolProfile:
    """The profile `<folder>/<name>.yaml`; any problem is a ConfigError naming the file."""
    path = (folder or default_protocols_dir()) / f"{name}.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: no protocol {name!r} ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        profile = ProtocolProfile.model_validate(raw)
    except ValidationError as exc:
        detail = "; ".join(f"field '{'.'.join(str(p) for p in e['loc'])}': {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {detail}") from exc
    if profile.protocol != name:
        raise ConfigError(f"{path}: field 'protocol': '{profile.protocol}' must equal the file name '{name}'")
    return profile
