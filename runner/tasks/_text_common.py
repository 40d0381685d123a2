"""What the text tasks share: safe model loading with classified failures, input limits, and dataset reading.

Loading is where most benchmarks fail, and the worker decides on retries from the failure's kind, so every
loading error is turned into a `BenchmarkFailure` whose message says what is wrong with the model folder.
"""

from __future__ import annotations

import inspect
import json
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

import datasets
import torch
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase
from transformers.generation import GenerationMixin
from transformers.generation.streamers import BaseStreamer
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

from leaderboard_data.configs import GenerationArgs
from leaderboard_data.records import ErrorKind
from runner.errors import BenchmarkFailure
from runner.tasks.base import BenchmarkTask, LoadedModelInfo, PhaseMarker, QueryOutput, count_parameters

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_POSITION_FIELDS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
_SANE_MAX_LENGTH = 1_000_000
"""Tokenizers without a limit report a huge `model_max_length` (1e30); anything above this means "unset"."""


def torch_dtype(precision: str) -> torch.dtype:
    """The torch dtype of a precision name ("float32", "float16", "bfloat16")."""
    if precision not in _DTYPES:
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"unknown precision '{precision}'; known: {', '.join(_DTYPES)}")
    return _DTYPES[precision]


def check_safetensors(folder: Path) -> None:
    """Refuse a folder whose weights are not safetensors: pickled weights can run code when loaded."""
    if any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in _PICKLE_SUFFIXES) if folder.is_dir() else []
    if pickles:
        raise BenchmarkFailure(
            ErrorKind.UNSAFE_WEIGHTS,
            f"{folder.name} has only pickled weights ({', '.join(pickles)}); only safetensors weights are loaded",
        )
    raise BenchmarkFailure(ErrorKind.NOT_FOUND, f"{folder} holds no model weights (*.safetensors)")


def read_model_config(model_dir: Path) -> PretrainedConfig:
    """The model's transformers config, refusing unknown architectures and configs that need remote code."""
    path = model_dir / "config.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BenchmarkFailure(ErrorKind.UNSUPPORTED_ARCHITECTURE, f"{model_dir} has no readable config.json") from exc
    except json.JSONDecodeError as exc:
        raise BenchmarkFailure(ErrorKind.UNSUPPORTED_ARCHITECTURE, f"{path} is not valid JSON: {exc}") from exc
    model_type = raw.get("model_type") if isinstance(raw, dict) else None
    if model_type not in CONFIG_MAPPING_NAMES:
        if isinstance(raw, dict) and "auto_map" in raw:
            raise BenchmarkFailure(
                ErrorKind.REMOTE_CODE, f"model type '{model_type}' needs the model's own code, which is never run"
            )
        raise BenchmarkFailure(
            ErrorKind.UNSUPPORTED_ARCHITECTURE,
            f"model type '{model_type}' is not supported by the installed transformers",
        )
    try:
        return AutoConfig.from_pretrained(model_dir, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise BenchmarkFailure(ErrorKind.UNSUPPORTED_ARCHITECTURE, f"cannot read the model config: {exc}") from exc


def check_task_fit(model_config: PretrainedConfig, task: str, head_classes: Mapping[str, Any]) -> None:
    """Refuse a model saved with a head for another task (e.g. a BERT question-answering model for generation).

    `head_classes` is transformers' model-type -> class-name mapping of the task's auto class. A config that names
    no architecture is accepted: there is nothing to contradict.
    """
    saved = set(getattr(model_config, "architectures", None) or [])
    if not saved:
        return
    allowed = {name for value in head_classes.values() for name in ((value,) if isinstance(value, str) else value)}
    if saved & allowed:
        return
    expected = head_classes.get(model_config.model_type)
    hint = f" (the {task} class for this model type is {expected})" if expected else ""
    raise BenchmarkFailure(
        ErrorKind.WRONG_TASK,
        f"model is a {', '.join(sorted(saved))}, which cannot run {task}{hint}",
    )


def load_pretrained(auto_class: Any, model_dir: Path, task: str, precision: str, device: str) -> PreTrainedModel:
    """`auto_class.from_pretrained` with safetensors only and no remote code, in eval mode on `device`."""
    try:
        model = auto_class.from_pretrained(
            model_dir, use_safetensors=True, trust_remote_code=False, dtype=torch_dtype(precision)
        )
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc):
            raise BenchmarkFailure(
                ErrorKind.WRONG_TASK, f"this model type has no {task} variant ({auto_class.__name__})"
            ) from exc
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"cannot load the model: {exc}") from exc
    except torch.OutOfMemoryError as exc:
        raise BenchmarkFailure(ErrorKind.OUT_OF_MEMORY, f"the model does not fit in {device} memory") from exc
    except OSError as exc:
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"cannot load the model: {exc}") from exc
    try:
        return model.to(device).eval()
    except torch.OutOfMemoryError as exc:
        raise BenchmarkFailure(ErrorKind.OUT_OF_MEMORY, f"the model does not fit in {device} memory") from exc


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    """The model's tokenizer (no remote code)."""
    try:
        return AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise BenchmarkFailure(ErrorKind.UNSUPPORTED_ARCHITECTURE, f"cannot load the tokenizer: {exc}") from exc


def position_limit(model_config: PretrainedConfig) -> int | None:
    """How many positions the model can attend over, when its config says (None for relative positions)."""
    for field in _POSITION_FIELDS:
        value = getattr(model_config, field, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def max_input_length(tokenizer: PreTrainedTokenizerBase, model_config: PretrainedConfig, fallback: int) -> int:
    """Truncation length: the tokenizer's limit when it sets one, else `fallback`, capped by the position limit."""
    declared = getattr(tokenizer, "model_max_length", None)
    limit = declared if isinstance(declared, int) and 0 < declared <= _SANE_MAX_LENGTH else fallback
    positions = position_limit(model_config)
    return min(limit, positions) if positions else limit


def read_rows(
    dataset_path: str, name: str | None, split: str, columns: Mapping[str, str], num_samples: int
) -> list[dict[str, str]]:
    """The first `num_samples` rows (fewer if the dataset is smaller), keyed by role, e.g. {"text": ...}."""
    try:
        dataset = datasets.load_dataset(dataset_path, name, split=split)
    except Exception as exc:  # datasets raises many unrelated types for a missing or malformed dataset
        message = f"cannot read dataset {dataset_path} ({split}): {exc}"
        raise BenchmarkFailure(ErrorKind.DATASET_UNAVAILABLE, message) from exc
    missing = sorted(set(columns.values()) - set(dataset.column_names))
    if missing:
        raise BenchmarkFailure(
            ErrorKind.INTERNAL,
            f"dataset {dataset_path} lacks column(s) {', '.join(missing)}; it has {', '.join(dataset.column_names)}",
        )
    if len(dataset) == 0:
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"dataset {dataset_path} ({split}) has no rows")
    subset = dataset.select(range(min(num_samples, len(dataset))))
    return [
        {role: "" if row[column] is None else str(row[column]) for role, column in columns.items()} for row in subset
    ]


def accepted_inputs(model: torch.nn.Module, encoding: Mapping[str, Any], device: str) -> dict[str, torch.Tensor]:
    """The tensors of a tokenizer output that the model's forward takes, moved to `device`.

    Tokenizers may emit inputs a model does not take (e.g. token_type_ids for DistilBERT).
    """
    parameters = inspect.signature(model.forward).parameters
    return {
        key: value.to(device)
        for key, value in encoding.items()
        if isinstance(value, torch.Tensor) and key in parameters
    }


class TransformersTextTask(BenchmarkTask):
    """A text task served by one `AutoModelFor*` class and the model's tokenizer."""

    auto_class: ClassVar[Any]
    head_classes: ClassVar[Mapping[str, Any]]
    """transformers' model-type -> class-name mapping for `auto_class`, to check the saved head fits the task."""

    model: PreTrainedModel
    model_config: PretrainedConfig
    tokenizer: PreTrainedTokenizerBase
    max_length: int

    def load(self) -> LoadedModelInfo:
        task = self.config.pipeline.value
        check_safetensors(self.model_dir)
        self.model_config = read_model_config(self.model_dir)
        check_task_fit(self.model_config, task, self.head_classes)
        self.tokenizer = load_tokenizer(self.model_dir)
        self.model = load_pretrained(self.auto_class, self.model_dir, task, self.precision, self.device)
        self.max_length = max_input_length(self.tokenizer, self.model_config, self.config.max_input_length)
        return LoadedModelInfo(num_parameters=count_parameters(self.model), max_input_length=self.max_length)

    def load_samples(self, dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
        source = self.config.dataset
        return read_rows(dataset_path, source.name, source.split, source.columns, num_samples)


@dataclass(frozen=True)
class PreparedForward:
    """One tokenized query of a single-forward-pass task (question answering, classification) and its length."""

    inputs: dict[str, torch.Tensor]
    input_tokens: int


def prepare_forward(model: torch.nn.Module, encoding: Mapping[str, Any], device: str) -> PreparedForward:
    """The tokenizer output the model takes, on `device`, with the token count every forward-pass task reports."""
    inputs = accepted_inputs(model, encoding, device)
    return PreparedForward(inputs=inputs, input_tokens=int(inputs["input_ids"].shape[-1]))


@dataclass(frozen=True)
class PreparedGeneration:
    """One tokenized query of a generative task and how many tokens it may generate."""

    inputs: dict[str, torch.Tensor]
    input_tokens: int
    max_new_tokens: int
    min_new_tokens: int


class _DecodeMarker(BaseStreamer):
    """Calls `mark("decode")` once the first new token exists: `generate` streams the prompt first, then tokens."""

    def __init__(self, mark: PhaseMarker) -> None:
        self._mark = mark
        self._puts = 0

    def put(self, value: torch.Tensor) -> None:
        self._puts += 1
        if self._puts == 2:
            self._mark("decode")

    def end(self) -> None:
        """Nothing to flush."""


class GenerativeTextTask(TransformersTextTask):
    """Prefill then decode with `model.generate`, greedy, at the config's fixed output length."""

    phases = ("prefill", "decode")

    @property
    def generation(self) -> GenerationArgs:
        if self.config.generation is None:
            raise BenchmarkFailure(ErrorKind.INTERNAL, f"config {self.config.task} has no 'generation' section")
        return self.config.generation

    def _generate(
        self, prepared: PreparedGeneration, max_new: int, min_new: int, streamer: BaseStreamer | None
    ) -> torch.Tensor:
        """Run `generate`; returns the new tokens it produced (the first sequence's).

        `max_new_tokens`/`min_new_tokens` take precedence over a model's own `max_length`/`min_length` defaults.
        """
        args = self.generation
        model = cast(GenerationMixin, self.model)
        with torch.inference_mode():
            output = model.generate(
                **prepared.inputs,
                max_new_tokens=max_new,
                min_new_tokens=min_new,
                do_sample=args.do_sample,
                num_beams=args.num_beams,
                use_cache=args.use_cache,
                pad_token_id=pad_token_id(self.tokenizer),
                streamer=streamer,
            )
        return output[0, self._start_length(prepared) :]

    @abstractmethod
    def _start_length(self, prepared: PreparedGeneration) -> int:
        """Length of what `generate` returns before the first new token."""

    def run(self, prepared: PreparedGeneration, mark: PhaseMarker) -> QueryOutput:
        produced = self._generate(prepared, prepared.max_new_tokens, prepared.min_new_tokens, _DecodeMarker(mark))
        return QueryOutput(
            input_tokens=prepared.input_tokens, output_tokens=int(produced.shape[-1]), prediction=produced
        )

    def run_first_phase_only(self, prepared: PreparedGeneration) -> QueryOutput:
        produced = self._generate(prepared, 1, min(prepared.min_new_tokens, 1), None)
        return QueryOutput(input_tokens=prepared.input_tokens, output_tokens=int(produced.shape[-1]))

    def decode_prediction(self, prediction: Any) -> Any:
        return str(self.tokenizer.decode(prediction, skip_special_tokens=True)).strip()


def pad_token_id(tokenizer: PreTrainedTokenizerBase) -> int | None:
    """The padding id, falling back to end-of-sequence (GPT-2 style tokenizers have no pad token)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
