"""Sentence similarity: embed two sentences and score them by cosine similarity.

A sentence-transformers folder (with `modules.json`) runs through `SentenceTransformer`, so its own pooling and
normalization count; any other folder runs as `AutoModel` with mean pooling over the tokens.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from transformers import AutoModel

from leaderboard_data.configs import Device, Pipeline
from leaderboard_data.records import ErrorKind
from runner.errors import BenchmarkFailure
from runner.tasks._text_common import (
    accepted_inputs,
    check_safetensors,
    load_pretrained,
    load_tokenizer,
    max_input_length,
    position_limit,
    read_model_config,
    read_rows,
    torch_dtype,
)
from runner.tasks.base import BenchmarkTask, LoadedModelInfo, PhaseMarker, QueryOutput, count_parameters, register_task

Features = dict[str, Any]


class _Encoder(Protocol):
    num_parameters: int
    max_length: int

    def tokenize(self, text: str) -> Features: ...

    def embed(self, features: Features) -> torch.Tensor: ...


class _SentenceTransformersEncoder:
    """A sentence-transformers model: its modules (transformer, pooling, normalization...) as shipped."""

    def __init__(self, model_dir: Path, device: Device, precision: str, fallback_length: int) -> None:
        from sentence_transformers import SentenceTransformer

        transformer_dir = _check_sentence_transformers_folder(model_dir)
        model_config = read_model_config(transformer_dir)
        try:
            self.model = SentenceTransformer(
                str(model_dir),
                device=device,
                trust_remote_code=False,
                local_files_only=True,
                model_kwargs={"use_safetensors": True, "dtype": torch_dtype(precision)},
            ).eval()
        except torch.OutOfMemoryError as exc:
            raise BenchmarkFailure(ErrorKind.OUT_OF_MEMORY, f"the model does not fit in {device} memory") from exc
        except (OSError, ValueError, KeyError) as exc:
            raise BenchmarkFailure(ErrorKind.INTERNAL, f"cannot load the sentence-transformers model: {exc}") from exc
        declared = self.model.max_seq_length or fallback_length
        positions = position_limit(model_config)
        self.model.max_seq_length = min(declared, positions) if positions else declared
        self.max_length = int(self.model.max_seq_length)
        self.num_parameters = count_parameters(self.model)
        self.device = device

    def tokenize(self, text: str) -> Features:
        features = self.model.preprocess([text])
        return {
            key: value.to(self.device) if isinstance(value, torch.Tensor) else value for key, value in features.items()
        }

    def embed(self, features: Features) -> torch.Tensor:
        embedding: torch.Tensor = self.model(dict(features))["sentence_embedding"]
        return embedding


class _MeanPoolingEncoder:
    """A plain transformers encoder: the attention-masked mean of its last hidden states."""

    def __init__(self, model_dir: Path, device: Device, precision: str, fallback_length: int) -> None:
        check_safetensors(model_dir)
        model_config = read_model_config(model_dir)
        self.tokenizer = load_tokenizer(model_dir)
        self.model = load_pretrained(AutoModel, model_dir, Pipeline.SENTENCE_SIMILARITY.value, precision, device)
        self.max_length = max_input_length(self.tokenizer, model_config, fallback_length)
        self.num_parameters = count_parameters(self.model)
        self.device = device

    def tokenize(self, text: str) -> Features:
        encoding = self.tokenizer(text, truncation=True, max_length=self.max_length, return_tensors="pt")
        return accepted_inputs(self.model, encoding, self.device)

    def embed(self, features: Features) -> torch.Tensor:
        hidden = self.model(**features).last_hidden_state
        mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def _check_sentence_transformers_folder(model_dir: Path) -> Path:
    """Check every module of a sentence-transformers folder; returns the transformer module's folder.

    Modules are built from the class named in `modules.json` and may load their own weights, so only the library's
    own module classes are accepted, and every module folder must hold safetensors weights if it holds any.
    """
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchmarkFailure(ErrorKind.UNSUPPORTED_ARCHITECTURE, f"unreadable modules.json: {exc}") from exc
    transformer_dir: Path | None = None
    for module in modules:
        kind, folder = str(module.get("type", "")), model_dir / str(module.get("path", ""))
        if not kind.startswith("sentence_transformers."):
            raise BenchmarkFailure(ErrorKind.REMOTE_CODE, f"module type '{kind}' is not a sentence-transformers module")
        if kind.endswith(".Transformer"):
            transformer_dir = folder
            check_safetensors(folder)
        elif folder.is_dir() and any(f.suffix in (".bin", ".pt", ".pth", ".pkl") for f in folder.iterdir()):
            check_safetensors(folder)
    if transformer_dir is None:
        raise BenchmarkFailure(ErrorKind.UNSUPPORTED_ARCHITECTURE, "modules.json names no Transformer module")
    return transformer_dir


@dataclass(frozen=True)
class PreparedPair:
    first: Features
    second: Features
    input_tokens: int


@register_task
class SentenceSimilarityTask(BenchmarkTask):
    """Embeds sentence1 and sentence2 (one forward pass each, batch size 1) and takes their cosine similarity."""

    pipeline = Pipeline.SENTENCE_SIMILARITY
    phases = ("forward",)

    encoder: _Encoder
    last_similarity: float = 0.0
    """Cosine similarity of the latest pair: the cheap proof that the model ran end to end."""

    def load(self) -> LoadedModelInfo:
        encoder_class: Callable[[Path, Device, str, int], _Encoder] = (
            _SentenceTransformersEncoder if (self.model_dir / "modules.json").is_file() else _MeanPoolingEncoder
        )
        self.encoder = encoder_class(self.model_dir, self.device, self.precision, self.config.max_input_length)
        return LoadedModelInfo(num_parameters=self.encoder.num_parameters, max_input_length=self.encoder.max_length)

    def load_samples(self, dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
        source = self.config.dataset
        return read_rows(dataset_path, source.name, source.split, source.columns, num_samples)

    def preprocess(self, sample: dict[str, Any]) -> PreparedPair:
        first, second = self.encoder.tokenize(sample["sentence1"]), self.encoder.tokenize(sample["sentence2"])
        return PreparedPair(first=first, second=second, input_tokens=_token_count(first) + _token_count(second))

    def run(self, prepared: PreparedPair, mark: PhaseMarker) -> QueryOutput:
        with torch.inference_mode():
            first, second = self.encoder.embed(prepared.first), self.encoder.embed(prepared.second)
            self.last_similarity = float(torch.nn.functional.cosine_similarity(first, second)[0])
        return QueryOutput(input_tokens=prepared.input_tokens, prediction=self.last_similarity)


def _token_count(features: Features) -> int:
    mask = features.get("attention_mask")
    if isinstance(mask, torch.Tensor):
        return int(mask.sum())
    ids = features.get("input_ids")
    return int(ids.shape[-1]) if isinstance(ids, torch.Tensor) else 0
