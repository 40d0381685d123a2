"""The two records the pipeline exchanges: a benchmark request and a measured result.

Both are pydantic models with `extra="forbid"`, validated on read and on write. Energies are stored in
watt-hours per 1,000 queries (the leaderboard's unit); every figure says whether it came from a hardware
counter (`measured=True`) or a model of the hardware (`measured=False`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from leaderboard_data.errors import RecordValidationError

SCHEMA_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_json(self) -> str:
        """Canonical JSON (sorted keys) so identical records give identical bytes."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, path: str = "<memory>") -> Self:
        """Parse and validate; any problem is a RecordValidationError naming `path`."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(record)'}: {e['msg']}" for e in exc.errors())
            raise RecordValidationError(path, detail) from exc

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class RequestStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_STATUSES = frozenset({RequestStatus.PENDING, RequestStatus.RUNNING, RequestStatus.FINISHED})


class ErrorKind(StrEnum):
    """Why a request failed; the first six are the model's fault and are never retried."""

    NOT_FOUND = "not_found"
    GATED = "gated"
    REMOTE_CODE = "remote_code_required"
    UNSUPPORTED_ARCHITECTURE = "unsupported_architecture"
    WRONG_TASK = "wrong_task"
    UNSAFE_WEIGHTS = "unsafe_weights"
    OUT_OF_MEMORY = "out_of_memory"
    TIMEOUT = "timeout"
    LEASE_EXPIRED = "lease_expired"
    INTERNAL = "internal"
    MACHINE_BUSY = "machine_busy"
    """Other processes kept the machine busy until the benchmark gave up waiting: not the model's fault."""
    DATASET_UNAVAILABLE = "dataset_unavailable"
    INFRASTRUCTURE = "infrastructure"


# Failures that say nothing about the model: the machine, the network, the store or the task's dataset let the
# benchmark down. The request goes back to the queue (after a pause) and the submitter's attempt is not spent.
NOT_MODELS_FAULT: frozenset[ErrorKind] = frozenset(
    {ErrorKind.DATASET_UNAVAILABLE, ErrorKind.INFRASTRUCTURE, ErrorKind.MACHINE_BUSY}
)


def is_models_fault(kind: ErrorKind) -> bool:
    """Whether a failure of this kind may be charged to the model (fail the request, spend an attempt)."""
    return kind not in NOT_MODELS_FAULT


class Lease(_Record):
    """Which worker holds a running request, and until when (UTC)."""

    worker_id: str = Field(min_length=1, max_length=200)
    expires_at: datetime
    claimed_at: datetime


class StatusChange(_Record):
    """One line of a request's history, kept when it is retried or fails."""

    at: datetime
    status: RequestStatus
    worker_id: str | None = None
    note: str = Field(default="", max_length=2000)


class Request(_Record):
    """A model queued for benchmarking on one task at one precision, pinned to one revision."""

    schema_version: Literal[1] = 1
    request_id: str = Field(pattern=r"^[a-z0-9]{8,64}$")
    model_id: str = Field(min_length=1, max_length=96)
    revision: str = Field(min_length=1, max_length=128, description="commit sha (Hub) or content hash (local)")
    task: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    precision: Literal["float32", "float16", "bfloat16"]
    submitter: str = Field(min_length=1, max_length=96)
    submitted_at: datetime
    status: RequestStatus = RequestStatus.PENDING
    attempts: int = Field(default=0, ge=0)
    lease: Lease | None = None
    error_kind: ErrorKind | None = None
    error_message: str | None = Field(default=None, max_length=4000)
    num_parameters: int | None = Field(default=None, ge=0)
    result_id: str | None = None
    updated_at: datetime
    history: list[StatusChange] = Field(default_factory=list)
    not_before: datetime | None = Field(
        default=None, description="a PENDING request released after an infrastructure failure waits until then"
    )
    infrastructure_failures: int = Field(default=0, ge=0, description="releases that were not the model's fault")

    @model_validator(mode="after")
    def _status_fits_fields(self) -> Request:
        if self.status == RequestStatus.RUNNING and self.lease is None:
            raise ValueError("a RUNNING request must carry a lease")
        if self.status != RequestStatus.RUNNING and self.lease is not None:
            raise ValueError(f"a {self.status.value} request must not carry a lease")
        if self.status == RequestStatus.FAILED and (self.error_kind is None or not self.error_message):
            raise ValueError("a FAILED request must carry error_kind and error_message")
        if self.status == RequestStatus.FINISHED and self.result_id is None:
            raise ValueError("a FINISHED request must name its result_id")
        return self

    @property
    def dedup_key(self) -> tuple[str, str, str, str]:
        return (self.model_id, self.revision, self.task, self.precision)


class EnergyFigure(_Record):
    """One energy figure, the mean over all the samples, in Wh per 1,000 queries, with its 95% interval.

    `measured` is True only when every reading came from a hardware energy counter (NVML, RAPL). `repetitions` is
    the rounds it is the mean of (each a pass over all the samples); `std` the spread of one round's figure.
    """

    phase: str = Field(description="load, preprocess, forward, prefill, decode, denoise, or total")
    device: Literal["gpu", "cpu", "ram"]
    mean_wh_per_1k: float
    std_wh_per_1k: float = Field(ge=0)
    ci95_low_wh_per_1k: float
    ci95_high_wh_per_1k: float
    repetitions: int = Field(ge=1)
    measured: bool
    source: str = Field(description="meter that produced it, e.g. nvml_energy_counter, codecarbon_tdp_model")
    net_of_idle_mean_wh_per_1k: float | None = Field(
        default=None, description="the same figure with the idle baseline's energy over the window removed"
    )
    method: str = Field(
        default="window",
        description="window (its own measured window), time_attributed (a shared window split by time: never "
        "measured), subtracted (difference of two windows), imported",
    )
    net_of_idle_ci95_low_wh_per_1k: float | None = Field(default=None, description="net figure's interval, low")
    net_of_idle_ci95_high_wh_per_1k: float | None = Field(default=None, description="net figure's interval, high")
    net_of_idle_note: str | None = Field(default=None, description="why there is no net figure, when there is none")


class IdleBaseline(_Record):
    """Power with the model loaded and idle, measured before and after the passes."""

    device: Literal["gpu", "cpu", "ram"]
    mean_power_w: float = Field(ge=0)
    before_power_w: float = Field(ge=0)
    after_power_w: float = Field(ge=0)
    duration_s: float = Field(ge=0)
    measured: bool
    source: str
    settle_s: float = Field(default=0.0, ge=0, description="wait before each idle window, after the last work")
    disagreement: float | None = Field(default=None, description="|before - after| / mean of the two")
    disagrees: bool = Field(default=False, description="disagreement above the config's idle_disagreement_max")


class MissingFigure(_Record):
    """A figure that was not published, and why (e.g. the counter did not move over the load window)."""

    phase: str
    device: Literal["gpu", "cpu", "ram"]
    reason: str


class UnavailableMeter(_Record):
    """A meter that could not run on this machine, and why (e.g. no NVIDIA GPU)."""

    device: Literal["gpu", "cpu", "ram"]
    source: str
    reason: str


class HardwareFingerprint(_Record):
    """The machine a result was measured on; `hardware_class` decides which results are ranked together."""

    hardware_class: str = Field(min_length=1, max_length=100)
    accelerator_name: str | None = None
    accelerator_count: int = Field(default=0, ge=0)
    driver_version: str | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: int | None = None
    memory_clock_mhz: int | None = None
    cpu_model: str
    cpu_count: int = Field(ge=1)
    ram_gb: float = Field(gt=0)
    node: str | None = Field(default=None, description="host that ran the benchmark")


class MeteredGpu(_Record):
    """One GPU whose NVML energy counter the result's GPU figures come from, resolved from torch's device."""

    uuid: str = Field(min_length=1, description="NVML UUID, e.g. GPU-5b3c...")
    name: str
    power_limit_w: float | None = Field(default=None, description="enforced power limit; None where unsupported")
    counter_update_period_s: float | None = Field(
        default=None, description="the energy counter's update period, measured when the meter opened; None: not"
    )
    counter_lag_s: float | None = Field(
        default=None, description="how long the counter lags the GPU's work, applied to window edges (probed)"
    )


class Outputs(_Record):
    """What the model produced over the measured passes of all repetitions together (each repetition's inference
    window; a slice shorter than the minimum window is run more than once, so queries may exceed samples)."""

    queries: int = Field(ge=0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    images: int = Field(default=0, ge=0)
    audio_seconds: float = Field(default=0.0, ge=0)


TOKEN_INTERVAL_METHOD = "ratio of means over repetitions, delta-method Student-t 95% interval"


class TokenEnergy(_Record):
    """A phase's energy per 1,000 tokens: its Wh per 1,000 queries over the tokens per query, both means over
    repetitions, so energy per query = tokens per query x this (exactly, for the means)."""

    phase: str = Field(description="total (the query's energy, per output token) or prefill (per input token)")
    device: Literal["gpu", "cpu", "ram"]
    per: Literal["output_tokens", "input_tokens"]
    mean_wh_per_1k_tokens: float = Field(ge=0)
    ci95_low_wh_per_1k_tokens: float = Field(ge=0)
    ci95_high_wh_per_1k_tokens: float = Field(ge=0)
    repetitions: int = Field(ge=1)
    measured: bool = Field(description="the energy figure came from a hardware counter")
    method: str = Field(description="the energy figure's method: window, time_attributed, subtracted")
    interval_method: str = TOKEN_INTERVAL_METHOD


class TokenFigures(_Record):
    """How long a text generation model answers and what each token costs; ranking stays per query."""

    output_tokens_per_query: float = Field(ge=0, description="mean over repetitions (each a slice of the samples)")
    output_tokens_per_query_ci95_low: float = Field(ge=0)
    output_tokens_per_query_ci95_high: float = Field(ge=0)
    input_tokens_per_query: float = Field(ge=0, description="prompt tokens, mean over repetitions")
    per_output_token: TokenEnergy = Field(description="the scored device's total energy per 1,000 output tokens")
    prefill_per_input_token: TokenEnergy | None = Field(
        default=None, description="the scored device's prefill energy per 1,000 input tokens; None without one"
    )


class CarbonCrossCheck(_Record):
    """codecarbon's own view of the run, kept beside ours to compare."""

    gpu_wh_per_1k: float | None = None
    cpu_wh_per_1k: float | None = None
    ram_wh_per_1k: float | None = None
    co2_g_per_1k: float | None = None
    country_iso_code: str
    region: str | None = None


LOCAL_DATASET = "a local copy, not the configured dataset (on the embedded default: generated demo data)"


class Quality(_Record):
    """The quality of the benchmark's own outputs on its samples, scored after the measured windows.

    `value` is None when there is no figure, and `note` says why (no metric for the task yet, a dataset without
    references, a classifier whose labels cannot be mapped by name, an imported report without outputs).
    """

    metric: str = Field(description="the task config's quality metric, e.g. accuracy, spearman, wer; none")
    direction: Literal["higher", "lower"] = "higher"
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float = Field(default=0.95, gt=0, lt=1, description="of the bootstrap interval over samples")
    samples: int = Field(default=0, ge=0, description="distinct samples scored")
    floor: float | None = Field(default=None, description="the trivial baseline plus the config's margin")
    floor_passed: bool | None = Field(default=None, description="value on the right side of the floor")
    gate: Literal["flag", "unrank"] = Field(default="flag", description="the config's gate: below the floor, unrank?")
    details: dict[str, float] = Field(default_factory=dict, description="point figures beside it, e.g. macro_f1")
    note: str | None = Field(default=None, max_length=2000, description="why there is no figure, when there is none")
    dataset: str | None = Field(
        default=None, description="the dataset scored: the config's, or LOCAL_DATASET (the embedded default's copy)"
    )


class RuntimeRecord(_Record):
    """How the benchmark process ran torch, as it was in effect (not only as the config asked)."""

    intra_op_threads: int = Field(ge=1, description="torch.get_num_threads() in the benchmark process")
    inter_op_threads: int = Field(ge=1, description="torch.get_num_interop_threads() in the benchmark process")
    omp_wait_policy: str = Field(description='OMP_WAIT_POLICY when torch started ("unset": the library default)')
    pinned_cores: list[int] | None = Field(
        default=None, description="the cores the benchmark was pinned to; None: not pinned (all cores judged)"
    )


class WarmupRecord(_Record):
    """How long the warm-up ran and why it ended."""

    runs: int = Field(ge=0)
    duration_s: float = Field(ge=0)
    steady_power_rule: bool = Field(description="the warm-up went on until the scored device's power was steady")
    steady: bool | None = Field(
        default=None, description="power was steady when it ended (None: no steady-power rule on this device)"
    )
    window_powers_w: list[float] = Field(
        default_factory=list, description="the scored device's mean power over each warm-up window of the rule"
    )


class Result(_Record):
    """One benchmark of one model revision on one task under one config version."""

    schema_version: Literal[1] = 1
    result_id: str = Field(pattern=r"^[a-z0-9]{8,64}$")
    request_id: str | None = None
    model_id: str = Field(min_length=1, max_length=96)
    revision: str
    task: str
    config_version: str
    precision: str
    device: Literal["cpu", "cuda"]
    num_parameters: int = Field(ge=0)
    size_class: str
    hardware: HardwareFingerprint
    software: dict[str, str]
    energy: list[EnergyFigure] = Field(min_length=1)
    idle: list[IdleBaseline] = Field(default_factory=list)
    unavailable_meters: list[UnavailableMeter] = Field(default_factory=list)
    scored_device: Literal["gpu", "cpu"] = Field(description="the device whose energy ranks the model")
    scored_energy_wh_per_1k: float = Field(gt=0, description="inference energy of the scored device")
    decode_method: str | None = Field(default=None, description="how prefill and decode were separated")
    latency_s_mean: float = Field(ge=0)
    latency_s_p95: float = Field(ge=0)
    throughput_queries_per_s: float = Field(ge=0)
    outputs: Outputs
    peak_memory_mb: float = Field(ge=0)
    samples: int = Field(ge=1)
    repetitions: int = Field(ge=1, description="slices of the samples, each measured once per round")
    base_rounds: int | None = Field(
        default=None, ge=1, description="rounds always measured, each a pass over every slice; None before rounds"
    )
    added_rounds: int | None = Field(
        default=None, ge=0, description="whole rounds added because the mean was not yet precise enough"
    )
    carbon: CarbonCrossCheck | None = None
    started_at: datetime
    finished_at: datetime
    worker_id: str
    metered_gpus: list[MeteredGpu] = Field(default_factory=list, description="the GPUs the GPU figures cover")
    distinct_samples: int | None = Field(
        default=None, ge=1, description="distinct dataset rows used; below `samples` when rows were reused"
    )
    source: str = Field(default="native", max_length=200, description='"native", or "imported (optimum-benchmark X.Y)"')
    provenance: dict[str, Any] | None = Field(
        default=None, description="an imported report's config: model, backend, scenario settings, versions"
    )
    unstable: bool = Field(
        default=False, description="the scored mean stayed less precise than the config's rounds rule: no stars"
    )
    relative_half_width: float | None = Field(
        default=None, description="half the scored mean's 95% interval over the mean (None: no interval)"
    )
    cv_over_repetitions: float | None = Field(
        default=None, description="results measured before rounds: the scored figure's CV over slices"
    )
    protocol: str = Field(
        default="standard", max_length=32, description="standard (the task config's), or a profile such as demo"
    )
    protocol_version: str | None = Field(default=None, description="the profile's version; None for standard")
    exploratory_reasons: list[str] = Field(
        default_factory=list,
        description="how the run differs from its protocol (samples, slices, rounds, window, load gate, foreign "
        "load); any reason makes it exploratory: published, shown apart, never rated",
    )
    cpu_power_model: dict[str, str] | None = Field(
        default=None, description="codecarbon's CPU power model: mode, tracking, TDP used, generic default or not"
    )
    load_check: dict[str, Any] | None = Field(default=None, description="foreign-load check of the published windows")
    missing_figures: list[MissingFigure] = Field(default_factory=list)
    tokens: TokenFigures | None = Field(default=None, description="per-token figures (text generation)")
    quality: Quality | None = Field(default=None, description="quality of the same run's outputs; None: not scored")

    @property
    def quality_unranked(self) -> bool:
        """Below its task's quality floor under an `unrank` gate: shown, flagged, given no stars."""
        return self.quality is not None and self.quality.gate == "unrank" and self.quality.floor_passed is False

    runtime: RuntimeRecord | None = Field(default=None, description="threads, wait policy and cores of the run")
    warmup: WarmupRecord | None = Field(default=None, description="the warm-up's length and how it ended")

    def figure(self, phase: str, device: str) -> EnergyFigure | None:
        """The figure for one phase and device, or None if it was not measured."""
        return next((f for f in self.energy if f.phase == phase and f.device == device), None)


class Verification(_Record):
    """One re-measurement of a published result on the same hardware class, by another worker.

    The figures are the scored device's total energy, Wh per 1,000 queries, with their 95% intervals. The
    verdict is "disagrees" only when each mean lies outside the other's interval.
    """

    schema_version: Literal[1] = 1
    verification_id: str = Field(pattern=r"^[a-z0-9]{8,64}$")
    result_id: str = Field(pattern=r"^[a-z0-9]{8,64}$")
    model_id: str = Field(min_length=1, max_length=96)
    revision: str
    task: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    config_version: str
    scored_device: Literal["gpu", "cpu"]
    published_worker_id: str
    verifier_worker_id: str = Field(min_length=1, max_length=200)
    hardware: HardwareFingerprint
    published_wh_per_1k: float = Field(gt=0)
    published_ci95_low_wh_per_1k: float
    published_ci95_high_wh_per_1k: float
    remeasured_wh_per_1k: float = Field(gt=0)
    remeasured_ci95_low_wh_per_1k: float
    remeasured_ci95_high_wh_per_1k: float
    remeasured_measured: bool = Field(description="the remeasured figure came from a hardware counter")
    remeasured_repetitions: int = Field(ge=1)
    ratio: float = Field(gt=0, description="remeasured / published")
    within_published_interval: bool
    intervals_overlap: bool
    verdict: Literal["agrees", "disagrees"]
    measured_at: datetime
    published_quality: float | None = Field(default=None, description="the published result's quality figure")
    rescored_quality: float | None = Field(default=None, description="the same metric on the re-run's outputs")
    quality_agrees: bool | None = Field(
        default=None, description="re-scored within the published quality interval; None without both figures"
    )

    @model_validator(mode="after")
    def _verifier_is_not_the_author(self) -> Verification:
        if self.verifier_worker_id == self.published_worker_id:
            raise ValueError("a result cannot be verified by the worker that measured it")
        return self
