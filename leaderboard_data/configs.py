"""Standardized task configs: one YAML file per task in `configs/`, loaded into validated typed objects.

A result records the `config_version` it was measured under, so a changed config never silently mixes with
numbers measured under the old one.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from leaderboard_data.errors import ConfigError

Device = Literal["cpu", "cuda"]
Precision = Literal["float32", "float16", "bfloat16"]

PRECISIONS: tuple[str, ...] = ("float32", "float16", "bfloat16")


class Pipeline(StrEnum):
    """The task implementations of the runner; several configs may share one (reasoning text generation)."""

    TEXT_GENERATION = "text_generation"
    SUMMARIZATION = "summarization"
    EXTRACTIVE_QA = "extractive_qa"
    TEXT_CLASSIFICATION = "text_classification"
    SENTENCE_SIMILARITY = "sentence_similarity"
    IMAGE_CLASSIFICATION = "image_classification"
    OBJECT_DETECTION = "object_detection"
    AUTOMATIC_SPEECH_RECOGNITION = "automatic_speech_recognition"
    IMAGE_GENERATION = "image_generation"
    IMAGE_CAPTIONING = "image_captioning"


GENERATIVE_PIPELINES = frozenset(
    {Pipeline.TEXT_GENERATION, Pipeline.SUMMARIZATION, Pipeline.AUTOMATIC_SPEECH_RECOGNITION, Pipeline.IMAGE_CAPTIONING}
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSource(_Strict):
    """Where the task's inputs come from: a Hub dataset id (or a local folder) read with `datasets.load_dataset`."""

    path: str = Field(description="Hub dataset id, e.g. EnergyStarAI/text_generation, or a local folder")
    name: str | None = Field(default=None, description="dataset config name, if any")
    split: str = Field(default="train", description="split to read")
    columns: dict[str, str] = Field(
        description="role -> column, e.g. {text: text} or {question: question, context: context}"
    )


class GenerationArgs(_Strict):
    """Fixed output lengths for generative tasks, so every model does the same amount of work."""

    max_new_tokens: int = Field(gt=0)
    min_new_tokens: int = Field(ge=0)
    do_sample: bool = False
    num_beams: int = Field(default=1, ge=1)
    use_cache: bool = True
    reasoning: bool = Field(default=False, description="ask the chat template to think before answering")

    @model_validator(mode="after")
    def _min_not_above_max(self) -> GenerationArgs:
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError("min_new_tokens must not exceed max_new_tokens")
        return self


class DiffusionArgs(_Strict):
    """Fixed work for image generation: one image per prompt at a fixed step count."""

    num_inference_steps: int = Field(gt=0)
    num_images_per_prompt: int = Field(default=1, ge=1)
    guidance_scale: float = Field(default=7.5, ge=0)
    height: int | None = Field(default=None, gt=0)
    width: int | None = Field(default=None, gt=0)


class PerDevice(_Strict):
    """A value that differs between the reference GPU and a CPU run."""

    cpu: float
    cuda: float

    def for_device(self, device: Device) -> float:
        return self.cpu if device == "cpu" else self.cuda


class PrecisionPerDevice(_Strict):
    cpu: Precision = "float32"
    cuda: Precision = "float32"

    def for_device(self, device: Device) -> Precision:
        return self.cpu if device == "cpu" else self.cuda


class MeasurementChecks(_Strict):
    """When a measurement is trusted: idle agreement and a quiet machine (precision is `RoundsRule`'s).

    `ENERGY_SCORE_LOAD_GATE=record` (or the spec's `load_gate`) records foreign load without re-measuring: for
    test machines that are never quiet. Production gates.
    """

    idle_disagreement_max: float = Field(
        default=0.25, gt=0, description="flag idle before/after differing by more than this share of their mean"
    )
    foreign_cpu_share_max: float = Field(
        default=0.10,
        gt=0,
        le=1,
        description="other processes' CPU time in a window, as a share of all cores, above which it is contaminated",
    )
    quiet_wait_s: float = Field(
        default=600.0, ge=0, description="how long to wait for a quiet machine before failing as machine_busy"
    )
    idle_above_quiet_max: float = Field(
        default=2.0,
        gt=1,
        description="an idle baseline above this multiple of the machine's quiet idle power "
        "(ENERGY_SCORE_QUIET_IDLE_W) is contaminated",
    )


class QualityInterval(_Strict):
    """How a quality figure's interval is computed: a percentile bootstrap over the scored samples."""

    method: Literal["bootstrap"] = "bootstrap"
    resamples: int = Field(default=1000, ge=100, description="bootstrap resamples of the scored samples")
    confidence: float = Field(default=0.95, gt=0, lt=1)
    seed: int = Field(default=0, description="the resampling is seeded, so re-scoring gives the same interval")


class QualityFloor(_Strict):
    """The trivial baseline a model must beat, plus a margin, in the metric's own units.

    `majority_class` is the share of the most frequent reference label among the scored samples (what always
    answering that label scores); `constant` is `value` (chance, or what an empty output scores).
    """

    baseline: Literal["majority_class", "constant"]
    value: float | None = Field(default=None, description="the baseline's score, for `constant`")
    margin: float = Field(ge=0, description="added to the baseline (subtracted where lower is better)")
    why: str = Field(description="what the baseline is, in words, for the dataset card")

    @model_validator(mode="after")
    def _constant_has_value(self) -> QualityFloor:
        if (self.baseline == "constant") != (self.value is not None):
            raise ValueError("a 'constant' floor needs a value, and only it")
        return self


class OutputLengthGuard(_Strict):
    """Generated answers shorter than `min_share` of the cohort's median length are flagged (no winning by silence)."""

    expected_tokens: tuple[int, int] = Field(description="the expected output length range, in tokens")
    min_share_of_cohort_median: float = Field(default=0.5, gt=0, le=1)


class QualitySpec(_Strict):
    """The task's quality metric, scored on the outputs of the benchmark's own queries, after the measured windows.

    `metric: none` means no metric yet; `reason` then says why (shown wherever the figure would be).
    """

    metric: Literal["accuracy", "spearman", "squad_f1", "rouge_l", "wer", "top1_accuracy", "chrf", "none"]
    direction: Literal["higher", "lower"] = "higher"
    columns: dict[str, str] = Field(
        default_factory=dict, description="role -> dataset column holding the reference, e.g. {label: label}"
    )
    interval: QualityInterval = QualityInterval()
    floor: QualityFloor | None = None
    gate: Literal["flag", "unrank"] = Field(
        default="flag", description="below the floor: `flag` (shown, flagged, still rated) or `unrank` (no stars)"
    )
    gate_why: str = Field(default="", description="why this gate, for the dataset card")
    reason: str = Field(default="", description="why there is no metric (metric: none)")
    output_length: OutputLengthGuard | None = None

    @model_validator(mode="after")
    def _metric_is_complete(self) -> QualitySpec:
        if self.metric == "none":
            if not self.reason:
                raise ValueError("metric 'none' needs a reason")
        elif not self.columns or self.floor is None:
            raise ValueError(f"metric '{self.metric}' needs the reference columns and a floor")
        return self


class CountPerDevice(_Strict):
    """A whole number that differs between the reference GPU and a CPU run (threads, cores)."""

    cpu: int = Field(ge=1)
    cuda: int = Field(ge=1)

    def for_device(self, device: Device) -> int:
        return self.cpu if device == "cpu" else self.cuda


class RuntimeSettings(_Strict):
    """How the benchmark process runs torch, fixed by the protocol and recorded in every result.

    With torch's default threads (one per core, OpenMP spin-waiting between parallel regions), a model beside a
    process that keeps one core busy burned 8x its quiet CPU time and scored 3.6x-77x its quiet figure; with one
    thread and a passive wait policy the busy figure equals the quiet one (bench/results/threads-*.txt). The
    values are set in the benchmark process before torch starts its thread pools.
    """

    intra_op_threads: CountPerDevice = Field(
        default=CountPerDevice(cpu=1, cuda=1), description="torch.set_num_threads and OMP_NUM_THREADS"
    )
    inter_op_threads: CountPerDevice = Field(
        default=CountPerDevice(cpu=1, cuda=1), description="torch.set_num_interop_threads"
    )
    omp_wait_policy: Literal["passive", "active"] = Field(
        default="passive", description="OMP_WAIT_POLICY: passive threads sleep instead of spinning between regions"
    )
    pinned_cores: CountPerDevice = Field(
        default=CountPerDevice(cpu=1, cuda=2),
        description="the benchmark process is pinned to this many of the least busy cores, and the foreign-load "
        "check judges only those cores; at least intra_op_threads",
    )

    @model_validator(mode="after")
    def _threads_fit_cores(self) -> RuntimeSettings:
        for device in ("cpu", "cuda"):
            if self.pinned_cores.for_device(device) < self.intra_op_threads.for_device(device):
                raise ValueError(f"pinned_cores.{device} must be at least intra_op_threads.{device}")
        return self


class WarmupSettings(_Strict):
    """On a device with an energy counter (a GPU), the warm-up goes on until power is steady.

    After the minimum warm-up, the warm-up continues in counter windows of `window_s`; it ends when two successive
    windows' mean powers differ by at most `power_change_max` of the later one, or after `max_s` in all (the
    result records which, with the powers read).
    """

    steady_power_devices: tuple[Device, ...] = Field(
        default=("cuda",), description="devices whose warm-up lasts until power is steady"
    )
    window_s: float = Field(default=2.0, gt=0, description="length of one power window of the warm-up")
    power_change_max: float = Field(
        default=0.03, gt=0, description="two successive windows within this share of each other: steady"
    )
    max_s: float = Field(default=120.0, gt=0, description="the warm-up's longest time, steady or not")


class RoundsRule(_Strict):
    """Precision of the mean: how many rounds (each a pass over every slice of the samples) a result measures,
    and when its figure is precise enough to rate.

    A round measures every sample once, so the figure is the mean over all the samples and rounds only sharpen it;
    rounds are added, whole, while the half-width of the scored mean's 95% interval is above
    `max_relative_half_width` of the mean, within `added_rounds_budget_s`. Still above: the result is unstable.
    """

    base: int = Field(default=2, ge=2, description="rounds always measured: two give each slice a repeat")
    max_relative_half_width: float = Field(
        default=0.05,
        gt=0,
        description="the scored mean's 95% interval half-width over the mean above which rounds are added, and "
        "above which a result is unstable once the budget is spent",
    )
    added_rounds_budget_s: PerDevice = Field(
        default=PerDevice(cpu=60.0, cuda=900.0), description="measured time allowed for added rounds"
    )


class TaskConfig(_Strict):
    """The standardized benchmark of one task. Every field is part of what a result was measured under."""

    task: str = Field(description="task name, equal to the file's stem")
    config_version: str = Field(pattern=r"^\d+\.\d+$", description="bumped whenever a measured quantity changes")
    title: str
    description: str
    pipeline: Pipeline = Field(description="which runner implementation executes this task")
    dataset: DatasetSource
    num_samples: int = Field(default=1000, gt=0)
    batch_size: Literal[1] = Field(
        default=1, description="queries run one at a time (energy per query at batch 1); no other size is implemented"
    )
    warmup_runs: int = Field(default=10, ge=0)
    repetitions: int = Field(
        default=5, ge=1, description="the samples are split into this many disjoint slices, each measured once a round"
    )
    min_window_s: PerDevice = Field(description="a measured phase shorter than this is repeated until reached")
    idle_baseline_s: PerDevice = Field(description="idle measurement before and after the measured passes")
    idle_settle_s: PerDevice = Field(
        default=PerDevice(cpu=0.5, cuda=5.0), description="wait after the last work before each idle window"
    )
    checks: MeasurementChecks = MeasurementChecks()
    rounds: RoundsRule = RoundsRule()
    precision: PrecisionPerDevice = PrecisionPerDevice()
    max_input_length: int = Field(default=512, gt=0, description="truncation when the model sets none")
    timeout_s: float = Field(default=3600, gt=0, description="wall-clock limit for one benchmark")
    rate_by_size_class: bool = Field(default=False, description="stars within size classes (text generation)")
    runtime: RuntimeSettings = Field(
        default=RuntimeSettings(), description="threads, wait policy and cores of the benchmark process"
    )
    warmup: WarmupSettings = Field(default=WarmupSettings(), description="when the warm-up is long enough")
    generation: GenerationArgs | None = None
    diffusion: DiffusionArgs | None = None
    quality: QualitySpec | None = Field(default=None, description="the quality metric scored beside the energy")

    @model_validator(mode="after")
    def _call_args_fit_pipeline(self) -> TaskConfig:
        if self.pipeline in GENERATIVE_PIPELINES and self.generation is None:
            raise ValueError(f"pipeline {self.pipeline.value} needs a 'generation' section")
        if self.pipeline not in GENERATIVE_PIPELINES and self.generation is not None:
            raise ValueError(f"pipeline {self.pipeline.value} takes no 'generation' section")
        if (self.pipeline == Pipeline.IMAGE_GENERATION) != (self.diffusion is not None):
            raise ValueError("a 'diffusion' section goes with pipeline image_generation, and only there")
        return self


def default_config_dir() -> Path:
    """`ENERGY_SCORE_CONFIGS`, else `configs/` beside the packages (a checkout), else the current folder's."""
    env = os.environ.get("ENERGY_SCORE_CONFIGS")
    if env:
        return Path(env)
    beside = Path(__file__).resolve().parent.parent / "configs"
    return beside if beside.is_dir() else Path.cwd() / "configs"


def _format_validation_error(path: Path, error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(file)"
        parts.append(f"field '{field}': {item['msg']}")
    return f"{path}: " + "; ".join(parts)


def load_task_config(path: Path) -> TaskConfig:
    """Read and validate one config file; any problem is a ConfigError naming the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): {exc.reason}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: nested too deeply to be a task config") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        config = TaskConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, exc)) from exc
    if config.task != path.stem:
        raise ConfigError(f"{path}: field 'task': '{config.task}' must equal the file name '{path.stem}'")
    return config


def load_task_configs(config_dir: Path | None = None) -> dict[str, TaskConfig]:
    """All task configs of a folder, keyed by task name."""
    folder = config_dir or default_config_dir()
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ConfigError(f"{folder}: no task configs (*.yaml) found")
    return {config.task: config for config in (load_task_config(f) for f in files)}


def get_task_config(task: str, config_dir: Path | None = None) -> TaskConfig:
    """One task's config; an unknown task is a ConfigError listing the known ones."""
    configs = load_task_configs(config_dir)
    if task not in configs:
        raise ConfigError(f"unknown task '{task}'; known tasks: {', '.join(sorted(configs))}")
    return configs[task]
