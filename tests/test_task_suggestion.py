"""A submission without a task gets one from the model's Hub pipeline tag or architecture, or a clear refusal:
through the data layer, the fake Hub (real huggingface_hub client) and the `energy-score submit` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.errors import SubmissionError
from leaderboard_data.model_checks import suggest_task
from leaderboard_data.model_source import HubModelSource
from leaderboard_data.stores import LocalStore, Stores
from leaderboard_data.submission import submit_model
from tests.helpers_deployment import energy_score, make_deployment
from tests.hub_server import FakeHub
from tests.test_model_checks import make_info, write_model, write_pipeline


@pytest.fixture(scope="module")
def configs() -> dict[str, TaskConfig]:
    return load_task_configs()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"pipeline_tag": "text-generation"}, "text_generation"),  # not text_generation_reasoning
        (
            {"pipeline_tag": "summarization", "config": {"architectures": ["BartForConditionalGeneration"]}},
            "summarization",
        ),
        ({"config": {"architectures": ["DistilBertForSequenceClassification"]}}, "text_classification"),
        ({"config": {"architectures": ["WhisperForConditionalGeneration"]}}, "automatic_speech_recognition"),
        ({"library_name": "sentence-transformers", "config": {"architectures": ["Qwen2Model"]}}, "sentence_similarity"),
        ({"files": ("model_index.json",), "config": {"_class_name": "StableDiffusionPipeline"}}, "image_generation"),
    ],
)
def test_the_task_is_told_from_tag_architecture_or_library(
    changes: dict[str, Any], expected: str, configs: dict[str, TaskConfig]
) -> None:
    assert suggest_task(make_info(**changes), configs) == expected


@pytest.mark.parametrize(
    "changes",
    [
        {"config": {"architectures": ["BertForMaskedLM"]}},  # no leaderboard task runs it
        {"config": {"architectures": ["MadeUpForCausalLM"]}},
        {"config": {}},
        {"pipeline_tag": "text-generation", "config": {"architectures": ["BertForSequenceClassification"]}},
    ],
)
def test_no_single_task_is_a_refusal_that_lists_the_tasks(changes: dict[str, Any], configs) -> None:
    with pytest.raises(SubmissionError) as refused:
        suggest_task(make_info(**changes), configs)
    assert "no task given" in str(refused.value) and "text_classification" in str(refused.value)


def test_a_hub_submission_without_a_task_uses_the_hubs_pipeline_tag(tmp_path: Path, configs) -> None:
    model = write_model(tmp_path / "m")
    pipeline = write_pipeline(tmp_path / "sd")
    with FakeHub() as hub:
        hub.add_model_repo("acme/tagged", folder=model, pipeline_tag="text-generation")
        hub.add_model_repo("acme/sd", folder=pipeline, pipeline_tag="text-to-image", library_name="diffusers")
        source = HubModelSource(endpoint=hub.url, token=hub.token, cache_dir=tmp_path / "cache")
        stores = Stores(
            "test", LocalStore(tmp_path / "requests"), LocalStore(tmp_path / "results"), source, is_hub=False
        )
        tagged = submit_model(stores, configs, "acme/tagged", task=None, revision=None, precision=None, submitter="a")
        sd = submit_model(stores, configs, "acme/sd", task="", revision=None, precision=None, submitter="a")
    assert tagged.task_suggested and tagged.request.task == "text_generation"
    assert sd.task_suggested and sd.request.task == "image_generation"
    assert sd.checked.architecture == "StableDiffusionPipeline"


def test_cli_submit_without_task(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path / "store")
    deployment.add_model("acme/classifier", "text_classification")
    run = energy_score("submit", "acme/classifier", "--store", deployment.spec)
    assert run.returncode == 0, run.stderr
    assert "no --task given: text_classification" in run.stderr
    listed = json.loads(energy_score("queue", "--store", deployment.spec, "--format", "json").stdout)
    assert [(r["model_id"], r["task"]) for r in listed] == [("acme/classifier", "text_classification")]
