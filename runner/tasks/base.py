"""The contract between the benchmark engine and one task implementation.

The engine owns timing, metering, repetitions and statistics; a task only knows how to load its model, read
and preprocess its inputs, and run one query. Tasks register by decorator into `TASK_REGISTRY`, keyed by the
`pipeline` field of the task configs, so the engine never branches on task families.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from leaderboard_data.configs import Device, Pipeline, TaskConfig

if TYPE_CHECKING:
    import torch


@dataclass
class QueryOutput:
    """What one query produced; summed by the engine over a pass."""

    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    audio_seconds: float = 0.0
    prediction: Any = None
    """What the query answered, in its cheapest form (a label name, a score, token ids): kept for quality
    scoring after the measured windows, where `BenchmarkTask.decode_prediction` turns it into what is scored."""


@dataclass(frozen=True)
class LoadedModelInfo:
    """Facts about the loaded model that end up in the result."""

    num_parameters: int
    max_input_length: int


def count_parameters(model: torch.nn.Module) -> int:
    """Distinct parameters of a loaded model (tied weights counted once)."""
    return sum(parameter.numel() for parameter in model.parameters())


def cycle_rows(rows: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """`count` rows taken from `rows` in order, starting over when they run out; `rows` itself if empty."""
    if not rows:
        return rows
    return [rows[i % len(rows)] for i in range(count)]


PhaseMarker = Callable[[str], None]
"""Called by a task at a phase boundary inside a query, e.g. `mark("decode")` once prefill is done."""


class BenchmarkTask(ABC):
    """One task implementation. Instances are built by the engine inside the benchmark's child process.

    Args:
        config: the standardized task config.
        model_dir: a local folder laid out as a Hub model repository (already resolved and safety-checked).
        device: "cpu" or "cuda".
        precision: torch dtype name, e.g. "float32".
    """

    pipeline: ClassVar[Pipeline]
    phases: ClassVar[tuple[str, ...]]
    """Measured inference phases of one query, in order: ("forward",), ("prefill", "decode") or ("denoise",)."""

    def __init__(self, config: TaskConfig, model_dir: Path, device: Device, precision: str) -> None:
        self.config = config
        self.model_dir = model_dir
        self.device = device
        self.precision = precision
        self.distinct_samples: int | None = None
        """Distinct dataset rows behind the samples of `samples()`; below their count when rows were reused."""

    @abstractmethod
    def load(self) -> LoadedModelInfo:
        """Load the model (safetensors only, no remote code) onto the device. Raises BenchmarkFailure."""

    @abstractmethod
    def load_samples(self, dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
        """Read `num_samples` raw rows with `datasets.load_dataset(dataset_path, ...)` (a Hub id or a folder)."""

    def samples(self, dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
        """`num_samples` rows: the dataset's first rows, reused in order when it holds fewer.

        The number of distinct rows is kept in `distinct_samples`, so the result and the CLI can say so.
        """
        rows = self.load_samples(dataset_path, num_samples)
        self.distinct_samples = len(rows)
        return cycle_rows(rows, num_samples)

    @abstractmethod
    def preprocess(self, sample: dict[str, Any]) -> Any:
        """Turn one raw row into model inputs on the device (tokenize, resize, extract features)."""

    @abstractmethod
    def run(self, prepared: Any, mark: PhaseMarker) -> QueryOutput:
        """Run all inference phases of one query; call `mark(phase)` when entering each phase after the first."""

    def decode_prediction(self, prediction: Any) -> Any:
        """The scored form of a query's `prediction` (e.g. token ids decoded to text); run after measuring."""
        return prediction

    def label_names(self) -> list[str] | None:
        """A classifier's label names, to map onto the dataset's labels by name; None for other tasks."""
        return None

    def run_first_phase_only(self, prepared: Any) -> QueryOutput:
        """Run only the first phase of a query (prefill: one new token). Two-phase tasks override this."""
        raise NotImplementedError(f"{type(self).__name__} has a single phase")


TASK_REGISTRY: dict[Pipeline, type[BenchmarkTask]] = {}

T = TypeVar("T", bound=type[BenchmarkTask])


def register_task(cls: T) -> T:
    """Class decorator: make a task implementation available to the engine under its `pipeline`."""
    if cls.pipeline in TASK_REGISTRY:
        raise ValueError(f"two implementations for pipeline {cls.pipeline.value}")
    TASK_REGISTRY[cls.pipeline] = cls
    return cls
