"""The task configs: all eleven load and validate; a broken one is an error naming the file and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from leaderboard_data.configs import Pipeline, get_task_config, load_task_config, load_task_configs
from leaderboard_data.errors import ConfigError

ELEVEN_TASKS = {
    "text_generation",
    "text_generation_reasoning",
    "summarization",
    "extractive_qa",
    "text_classification",
    "sentence_similarity",
    "image_classification",
    "object_detection",
    "automatic_speech_recognition",
    "image_generation",
    "image_captioning",
}


def test_all_eleven_tasks_load_with_the_standard_protocol() -> None:
    configs = load_task_configs()
    assert set(configs) == ELEVEN_TASKS
    for config in configs.values():
        assert config.num_samples == (50 if config.task == "text_generation_reasoning" else 1000)
        assert config.batch_size == 1
        assert config.repetitions >= 3
        assert config.min_window_s.cuda >= 10
        assert config.config_version.count(".") == 1


def test_generation_lengths_are_fixed_where_the_reference_fixes_them() -> None:
    configs = load_task_configs()
    for task in ("text_generation", "summarization", "image_captioning", "automatic_speech_recognition"):
        generation = configs[task].generation
        assert generation is not None
        assert generation.min_new_tokens == generation.max_new_tokens == 10
    reasoning = configs["text_generation_reasoning"]
    assert reasoning.pipeline == Pipeline.TEXT_GENERATION
    assert reasoning.generation is not None and reasoning.generation.reasoning
    assert reasoning.generation.max_new_tokens == 8192
    assert configs["image_generation"].diffusion is not None
    assert configs["image_generation"].diffusion.num_inference_steps == 30
    assert (configs["image_generation"].diffusion.height, configs["image_generation"].diffusion.width) == (512, 512)
    assert configs["text_generation"].precision.cuda == "float16"


def test_each_config_shows_its_largest_models_fit_the_timeout() -> None:
    """Every config carries the time-budget arithmetic in comments: each 'total ~N s of T s' line names the
    config's own timeout T, with N below it; size-class tasks have one line per class they run."""
    for config in load_task_configs().values():
        text = (Path(__file__).parent.parent / "configs" / f"{config.task}.yaml").read_text()
        totals = [(float(n), float(t)) for n, t in re.findall(r"^#.*total ~(\d+) s of (\d+) s$", text, re.M)]
        assert len(totals) == (2 if config.rate_by_size_class else 1), config.task
        assert all(t == config.timeout_s and n < t for n, t in totals), (config.task, totals)
        assert "disjoint subsets" in text


def _write(folder: Path, name: str, data: object) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def _valid(task: str = "text_classification") -> dict[str, object]:
    raw = yaml.safe_load((Path(__file__).parent.parent / "configs" / "text_classification.yaml").read_text())
    raw["task"] = task
    return raw


def test_unknown_key_is_rejected_naming_file_and_field(tmp_path: Path) -> None:
    data = _valid()
    data["batchsize"] = 4
    path = _write(tmp_path, "text_classification", data)
    with pytest.raises(ConfigError, match=r"text_classification\.yaml.*batchsize"):
        load_task_config(path)


def test_wrong_type_names_the_nested_field(tmp_path: Path) -> None:
    data = _valid()
    data["min_window_s"] = {"cpu": "soon", "cuda": 10}
    with pytest.raises(ConfigError, match=r"min_window_s\.cpu"):
        load_task_config(_write(tmp_path, "text_classification", data))


def test_generation_section_must_fit_the_pipeline(tmp_path: Path) -> None:
    data = _valid()
    data["generation"] = {"max_new_tokens": 10, "min_new_tokens": 10}
    with pytest.raises(ConfigError, match="takes no 'generation'"):
        load_task_config(_write(tmp_path, "text_classification", data))


def test_task_name_must_match_file_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must equal the file name"):
        load_task_config(_write(tmp_path, "other_name", _valid()))


@pytest.mark.parametrize("text", ["task: [unclosed", "- just\n- a list\n", ""])
def test_malformed_yaml_is_a_clear_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match=r"text_classification\.yaml"):
        load_task_config(_write(tmp_path, "text_classification", text))


def test_unknown_task_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown task .poetry.*text_generation"):
        get_task_config("poetry")


def test_empty_config_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no task configs"):
        load_task_configs(tmp_path)


def test_batch_size_other_than_one_is_refused(tmp_path: Path) -> None:
    data = _valid()
    data["batch_size"] = 8  # nothing batches queries: a config must not claim it
    with pytest.raises(ConfigError, match=r"field 'batch_size'"):
        load_task_config(_write(tmp_path, "text_classification", data))


def test_every_config_states_its_settle_time_and_checks() -> None:
    for path in sorted((Path(__file__).parent.parent / "configs").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        assert set(raw["idle_settle_s"]) == {"cpu", "cuda"}, path
        assert {"foreign_cpu_share_max", "quiet_wait_s"} <= set(raw["checks"])
        assert {"base", "max_relative_half_width", "added_rounds_budget_s"} <= set(raw["rounds"])
        config = load_task_config(path)
        assert config.idle_settle_s.cuda >= 1.0
        assert config.rounds.base >= 2 and 0 < config.rounds.max_relative_half_width <= 0.1
