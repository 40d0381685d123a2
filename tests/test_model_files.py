"""Model files: one reader and one parameter count for the submission checks, the local source and the runner's
memory pre-checks; precision variants of one weight file are counted once everywhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from leaderboard_data.configs import load_task_configs
from leaderboard_data.model_files import describe_folder, folder_parameters
from leaderboard_data.model_source import LocalModelSource
from leaderboard_data.records import ErrorKind
from runner import engine
from runner.engine import BenchmarkSpec
from runner.errors import BenchmarkFailure
from runner.executors import LocalProcessExecutor
from tests.test_model_checks import GPT2_CONFIG, write_model, write_pipeline


def variant_model(folder: Path) -> Path:
    """1,000 parameters saved twice: model.safetensors (float32) and its fp16 variant model.fp16.safetensors."""
    write_model(folder, GPT2_CONFIG, weights={"w": (10, 100)})
    save_file({"w": np.zeros((10, 100), dtype=np.float16)}, str(folder / "model.fp16.safetensors"))
    return folder


def spec_for(folder: Path, device: str = "cpu") -> BenchmarkSpec:
    config = load_task_configs()["text_generation"]
    return BenchmarkSpec("acme/variants", folder, "f" * 64, config, device=device, precision="float32")  # type: ignore[arg-type]


def test_precision_variants_are_counted_once_by_every_reader(tmp_path: Path) -> None:
    folder = variant_model(tmp_path / "models" / "acme" / "variants")
    assert folder_parameters(folder) == 1000
    assert describe_folder(folder, "acme/variants", "f" * 64).num_parameters == 1000
    assert LocalModelSource(tmp_path / "models").info("acme/variants").num_parameters == 1000


def test_pipeline_components_are_counted_once_for_the_runner(tmp_path: Path) -> None:
    assert folder_parameters(write_pipeline(tmp_path / "sd")) == 10 * 10 + 5 * 2


def test_the_process_executor_memory_check_counts_the_data_layers_parameters(tmp_path: Path) -> None:
    handle = LocalProcessExecutor(memory_limit_mb=0).start(spec_for(variant_model(tmp_path / "m")), timeout_s=60)
    with pytest.raises(BenchmarkFailure) as refused:
        handle.poll(1.0)
    assert refused.value.kind == ErrorKind.OUT_OF_MEMORY
    assert refused.value.message.startswith("1,000 parameters in float32")


def test_the_gpu_memory_check_counts_each_weight_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NVML/CUDA is the boundary faked here: free memory between one and two copies of the weights (+20%)."""
    folder = variant_model(tmp_path / "m")
    one_copy = 1000 * 4 * 1.2
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (int(one_copy * 1.5), 10**9))
    engine._check_gpu_memory(spec_for(folder, "cuda"))  # fits: counted twice it would not
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (int(one_copy * 0.9), 10**9))
    with pytest.raises(BenchmarkFailure) as refused:
        engine._check_gpu_memory(spec_for(folder, "cuda"))
    assert refused.value.kind == ErrorKind.OUT_OF_MEMORY and refused.value.message.startswith("1,000 parameters")
