"""Every one of the eleven standardized tasks, through the real engine, on CPU, with a tiny model built from a
real architecture's config and a small dataset with the real dataset's columns, written to a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaderboard_data.configs import load_task_configs
from leaderboard_data.model_checks import inspect_model_folder
from runner.engine import BenchmarkSpec, run_benchmark
from runner.zoo import build_model, write_dataset
from runner.zoo.vision_audio import IMAGE_SIZE

pytestmark = pytest.mark.slow

CONFIGS = load_task_configs()
EXPECTED_PHASES = {
    "text_generation": {"prefill", "decode"},
    "text_generation_reasoning": {"prefill", "decode"},
    "summarization": {"prefill", "decode"},
    "automatic_speech_recognition": {"prefill", "decode"},
    "image_captioning": {"prefill", "decode"},
    "image_generation": {"denoise"},
}


@pytest.mark.parametrize("task", sorted(CONFIGS))
def test_task_end_to_end_through_the_engine(task: str, tmp_path: Path) -> None:
    config = CONFIGS[task]
    if config.diffusion is not None:  # the tiny pipeline draws at its own size: 512 x 512 takes minutes on a CPU
        tiny = config.diffusion.model_copy(update={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
        config = config.model_copy(update={"diffusion": tiny})
    model = build_model(config.pipeline, tmp_path / "model", size="tiny")
    checked = inspect_model_folder(model, f"tests/{task}", "0" * 64, config)
    dataset = write_dataset(config.pipeline, tmp_path / "data", 3)
    spec = BenchmarkSpec(
        model_id=f"tests/{task}",
        model_dir=model,
        revision="0" * 64,
        task_config=config,
        samples=2,
        repetitions=2,
        warmup_runs=1,
        min_window_s=0.05,
        added_rounds_budget_s=0.0,
        dataset_path=str(dataset),
        request_id="0123456789abcdef",
    )
    result = run_benchmark(spec)

    assert result.task == task and result.config_version == config.config_version
    # The loaded model's parameters; the safetensors header count also holds buffers and tied copies.
    assert result.num_parameters == pytest.approx(checked.num_parameters, rel=0.05)
    assert result.scored_device == "cpu" and result.scored_energy_wh_per_1k > 0
    assert result.outputs.queries >= 1  # one repetition: whole passes over its slice (1 of the 2 samples)
    phases = {f.phase for f in result.energy if f.device == "cpu"} - {"load", "preprocess", "total"}
    assert phases == EXPECTED_PHASES.get(task, {"forward"})
    if config.generation is not None and not config.generation.reasoning:
        assert result.outputs.output_tokens == 10 * result.outputs.queries
    if config.diffusion is not None:
        assert result.outputs.images == result.outputs.queries
    assert {m.device for m in result.unavailable_meters} == {"gpu"}
    assert all(not f.measured for f in result.energy)  # no RAPL and no GPU here: CPU and RAM are estimates
