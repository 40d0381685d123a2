"""Real tiny models as benchmark tasks, for the engine and isolation tests.

`MlpTask` is a one-phase classifier (a random-init MLP in a safetensors file); `TinyLmTask` a two-phase
generator (a 2-layer GPT-2 built from a config, saved with save_pretrained) whose prefill and decode are marked.
The failing tasks exercise each way a child process can fail.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import load_file, save_file

from leaderboard_data.configs import Pipeline, TaskConfig
from leaderboard_data.records import ErrorKind
from runner.errors import BenchmarkFailure
from runner.tasks.base import BenchmarkTask, LoadedModelInfo, PhaseMarker, QueryOutput

FEATURES = 16
VOCAB = 64


def task_config(pipeline: str = "text_classification", **overrides: Any) -> TaskConfig:
    """A small valid config: few samples, short windows, short idle baselines."""
    data: dict[str, Any] = {
        "task": pipeline,
        "config_version": "1.0",
        "title": "test",
        "description": "test config",
        "pipeline": pipeline,
        "dataset": {"path": "unused", "columns": {"text": "text"}},
        "num_samples": 4,
        "warmup_runs": 2,
        "repetitions": 2,
        "min_window_s": {"cpu": 0.05, "cuda": 0.05},
        "idle_baseline_s": {"cpu": 0.05, "cuda": 0.05},
        "idle_settle_s": {"cpu": 0.0, "cuda": 0.0},
        # No rounds added for an imprecise mean (tests of that set their own budget).
        "rounds": {"base": 2, "added_rounds_budget_s": {"cpu": 0.0, "cuda": 0.0}},
    }
    if pipeline == "text_generation":
        data["generation"] = {"max_new_tokens": 4, "min_new_tokens": 4}
    data.update(overrides)
    return TaskConfig.model_validate(data)


def write_samples(folder: Path, rows: int = 8) -> Path:
    """A JSON-lines dataset of short integer sequences."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "rows.jsonl").open("w") as fh:
        for i in range(rows):
            fh.write(json.dumps({"tokens": [(i * 7 + k) % VOCAB for k in range(6 + i % 3)]}) + "\n")
    return folder


def build_mlp(folder: Path, seed: int = 0) -> Path:
    """A random-init 3-layer MLP saved as safetensors."""
    torch.manual_seed(seed)
    model = _mlp()
    folder.mkdir(parents=True, exist_ok=True)
    save_file(model.state_dict(), str(folder / "model.safetensors"))
    return folder


def build_tiny_lm(folder: Path, seed: int = 0) -> Path:
    """A 2-layer GPT-2 from a config, random init, saved with safetensors."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0
    )
    GPT2LMHeadModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


def _mlp() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 2),
    )  # fmt: skip


def _read_rows(dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
    lines = (Path(dataset_path) / "rows.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines[:num_samples]]


class MlpTask(BenchmarkTask):
    """One phase: a forward pass of the MLP over the token ids, as features."""

    pipeline = Pipeline.TEXT_CLASSIFICATION
    phases: ClassVar[tuple[str, ...]] = ("forward",)

    def load(self) -> LoadedModelInfo:
        self.model = _mlp()
        self.model.load_state_dict(load_file(str(self.model_dir / "model.safetensors")))
        self.model.eval()
        params = sum(p.numel() for p in self.model.parameters())
        return LoadedModelInfo(num_parameters=params, max_input_length=FEATURES)

    def load_samples(self, dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
        return _read_rows(dataset_path, num_samples)

    def preprocess(self, sample: dict[str, Any]) -> Any:
        features = torch.zeros(1, FEATURES)
        tokens = sample["tokens"][:FEATURES]
        features[0, : len(tokens)] = torch.tensor(tokens, dtype=torch.float32) / VOCAB
        return features, len(tokens)

    def run(self, prepared: Any, mark: PhaseMarker) -> QueryOutput:
        features, n_tokens = prepared
        with torch.inference_mode():
            self.model(features)
        return QueryOutput(input_tokens=n_tokens)


class TinyLmTask(BenchmarkTask):
    """Two phases: prefill (one forward over the prompt) and decode (greedy steps with the KV cache)."""

    pipeline = Pipeline.TEXT_GENERATION
    phases: ClassVar[tuple[str, ...]] = ("prefill", "decode")

    def load(self) -> LoadedModelInfo:
        from transformers import GPT2LMHeadModel

        self.model = GPT2LMHeadModel.from_pretrained(self.model_dir, use_safetensors=True).eval()
        assert self.config.generation is not None
        self.new_tokens = self.config.generation.max_new_tokens
        return LoadedModelInfo(num_parameters=self.model.num_parameters(), max_input_length=64)

    def load_samples(self, dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
        return _read_rows(dataset_path, num_samples)

    def preprocess(self, sample: dict[str, Any]) -> Any:
        return torch.tensor([sample["tokens"]], dtype=torch.long)

    def _prefill(self, ids: torch.Tensor) -> Any:
        return self.model(ids, use_cache=True)

    def run(self, prepared: Any, mark: PhaseMarker) -> QueryOutput:
        with torch.inference_mode():
            out = self._prefill(prepared)
            mark("decode")
            cache, token = out.cache, out.logits[:, -1:].argmax(-1)
            for _ in range(self.new_tokens - 1):
                out = self.model(token, cache=cache, use_cache=True)
                cache, token = out.cache, out.logits[:, -1:].argmax(-1)
        return QueryOutput(input_tokens=prepared.shape[1], output_tokens=self.new_tokens)

    def run_first_phase_only(self, prepared: Any) -> QueryOutput:
        with torch.inference_mode():
            self._prefill(prepared)
        return QueryOutput(input_tokens=prepared.shape[1], output_tokens=1)


class CrashTask(MlpTask):
    """The process dies without a word, as a segfaulting extension would."""

    def load(self) -> LoadedModelInfo:
        os._exit(3)


class HangTask(MlpTask):
    """Never finishes loading."""

    def load(self) -> LoadedModelInfo:
        time.sleep(3600)
        raise AssertionError("unreachable")


class HugeAllocationTask(MlpTask):
    """Asks for far more memory than the child may have."""

    def load(self) -> LoadedModelInfo:
        self.blob = bytearray(64 * 2**30)
        raise AssertionError("allocation should have failed")


class BrokenWeightsTask(MlpTask):
    """Weights that do not fit the architecture: a load failure."""

    def load(self) -> LoadedModelInfo:
        raise ValueError("Unrecognized configuration class for this architecture")


class GatedTask(MlpTask):
    """A task that classifies its own failure."""

    def load(self) -> LoadedModelInfo:
        raise BenchmarkFailure(ErrorKind.GATED, "the model is gated")
