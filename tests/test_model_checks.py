"""Model checks on tiny hand-written model folders: every refusal kind, the task table and size classes."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from leaderboard_data.architectures import architecture_table
from leaderboard_data.configs import Pipeline, TaskConfig, load_task_configs
from leaderboard_data.errors import ModelCheckError
from leaderboard_data.model_checks import (
    CheckedModel,
    check_model,
    implied_parameters,
    inspect_model_folder,
    size_class,
)
from leaderboard_data.model_files import ModelInfo, weight_files_to_count
from leaderboard_data.records import ErrorKind

GPT2_CONFIG: dict[str, Any] = {
    "architectures": ["GPT2LMHeadModel"],
    "model_type": "gpt2",
    "n_embd": 8,
    "n_layer": 1,
    "vocab_size": 16,
}


def write_weights(path: Path, shapes: dict[str, tuple[int, ...]]) -> None:
    """A real safetensors file of zero tensors with the given shapes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({name: np.zeros(shape, dtype=np.float32) for name, shape in shapes.items()}, str(path))


def write_model(
    folder: Path,
    config: dict[str, Any] | None = GPT2_CONFIG,
    *,
    weights: dict[str, tuple[int, ...]] | None = None,
    files: dict[str, bytes] | None = None,
) -> Path:
    """A Hub-style model folder: config.json, model.safetensors (default: 4x8 + 8 = 40 parameters), extra files."""
    folder.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    if weights is None:
        weights = {"wte": (4, 8), "bias": (8,)}
    if weights:
        write_weights(folder / "model.safetensors", weights)
    for name, content in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder


def write_pipeline(folder: Path, index_extra: dict[str, Any] | None = None) -> Path:
    """A tiny diffusers-style pipeline: model_index.json plus unet and text_encoder folders of safetensors."""
    index: dict[str, Any] = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": "0.42.0",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "safety_checker": [None, None],
        **(index_extra or {}),
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
    write_weights(folder / "unet" / "diffusion_pytorch_model.safetensors", {"conv": (10, 10)})
    write_weights(folder / "unet" / "diffusion_pytorch_model.fp16.safetensors", {"conv": (10, 10)})
    (folder / "unet" / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel"}), "utf-8")
    write_weights(folder / "text_encoder" / "model.safetensors", {"emb": (5, 2)})
    (folder / "text_encoder" / "config.json").write_text(
        json.dumps({"architectures": ["CLIPTextModel"], "hidden_size": 2, "num_hidden_layers": 1}), "utf-8"
    )
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text("{}", "utf-8")
    return folder


def make_info(**changes: Any) -> ModelInfo:
    """A public transformers model description, as a source would report it."""
    fields: dict[str, Any] = {
        "model_id": "acme/tiny",
        "sha": "a" * 40,
        "private": False,
        "gated": False,
        "pipeline_tag": None,
        "library_name": "transformers",
        "files": ("config.json", "model.safetensors"),
        "config": GPT2_CONFIG,
        "num_parameters": 1234,
    }
    fields.update(changes)
    return ModelInfo(**fields)


@pytest.fixture(scope="module")
def configs() -> dict[str, TaskConfig]:
    return load_task_configs()


def refusal(call: Any, *args: Any) -> ModelCheckError:
    with pytest.raises(ModelCheckError) as caught:
        call(*args)
    return caught.value


# --- size classes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_parameters", "expected"),
    [
        (0, "A"),
        (10_000_000_000, "A"),  # 10e9 * 2 bytes * 1.2 = 24 GB exactly
        (10_000_000_001, "B"),
        (33_333_333_333, "B"),  # 79.9999999992 GB
        (33_333_333_334, "C"),
        (70_000_000_000, "C"),
    ],
)
def test_size_class_boundaries(num_parameters: int, expected: str) -> None:
    assert size_class(num_parameters) == expected


def test_size_class_refuses_negative_counts() -> None:
    with pytest.raises(ValueError):
        size_class(-1)


# --- accepted models ----------------------------------------------------------------------------------------


def test_inspect_accepts_a_tiny_causal_lm_and_counts_its_parameters(tmp_path: Path, configs) -> None:
    folder = write_model(tmp_path / "m")
    checked = inspect_model_folder(folder, "acme/tiny", "f" * 64, configs["text_generation"])
    assert checked == CheckedModel("acme/tiny", "f" * 64, 40, "A", "GPT2LMHeadModel")


def test_reasoning_config_shares_the_text_generation_rules(tmp_path: Path, configs) -> None:
    checked = inspect_model_folder(
        write_model(tmp_path / "m"), "acme/tiny", "f" * 64, configs["text_generation_reasoning"]
    )
    assert checked.architecture == "GPT2LMHeadModel"


def test_inspect_accepts_a_pipeline_and_counts_each_variant_once(tmp_path: Path, configs) -> None:
    folder = write_pipeline(tmp_path / "sd")
    checked = inspect_model_folder(folder, "acme/sd", "f" * 64, configs["image_generation"])
    assert checked.architecture == "StableDiffusionPipeline"
    assert checked.num_parameters == 10 * 10 + 5 * 2


def test_old_pipelines_may_name_diffusers_pipeline_modules(tmp_path: Path, configs) -> None:
    extra = {"safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"]}
    checked = inspect_model_folder(
        write_pipeline(tmp_path / "sd", extra), "acme/sd", "f" * 64, configs["image_generation"]
    )
    assert checked.architecture == "StableDiffusionPipeline"


def test_weight_files_counted_are_root_files_or_pipeline_components() -> None:
    files = ["config.json", "model.safetensors", "model.fp16.safetensors", "onnx/model.safetensors"]
    assert weight_files_to_count(files, GPT2_CONFIG) == ["model.safetensors"]
    sharded = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert weight_files_to_count(sharded, GPT2_CONFIG) == sharded
    sharded_variant = ["model.fp16-00001-of-00002.safetensors", "model.fp16-00002-of-00002.safetensors"]
    assert weight_files_to_count(sharded + sharded_variant, GPT2_CONFIG) == sharded
    assert weight_files_to_count(sharded_variant, GPT2_CONFIG) == sharded_variant
    only_variant = ["model_index.json", "unet/diffusion_pytorch_model.fp16.safetensors", "vae/x.safetensors"]
    index = {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}
    assert weight_files_to_count(only_variant, index) == ["unet/diffusion_pytorch_model.fp16.safetensors"]


def test_sentence_transformers_library_is_accepted_whatever_the_encoder(tmp_path: Path, configs) -> None:
    qwen = {"architectures": ["Qwen2Model"], "model_type": "qwen2", "hidden_size": 8, "num_hidden_layers": 1}
    card = b"---\nlibrary_name: sentence-transformers\npipeline_tag: sentence-similarity\n---\n# card\n"
    folder = write_model(tmp_path / "st", qwen, files={"README.md": card})
    assert (
        inspect_model_folder(folder, "acme/st", "f" * 64, configs["sentence_similarity"]).architecture == "Qwen2Model"
    )
    plain = write_model(tmp_path / "plain", qwen)
    assert refusal(inspect_model_folder, plain, "acme/plain", "f", configs["sentence_similarity"]).kind == (
        ErrorKind.WRONG_TASK
    )


def test_every_pipeline_has_an_entry_in_the_architecture_table() -> None:
    assert set(architecture_table().tasks) == set(Pipeline)


@pytest.mark.parametrize(
    ("task", "architecture"),
    [
        ("text_generation", "LlamaForCausalLM"),
        ("summarization", "BartForConditionalGeneration"),
        ("summarization", "T5ForConditionalGeneration"),
        ("summarization", "PegasusForConditionalGeneration"),
        ("summarization", "MBartForConditionalGeneration"),
        ("extractive_qa", "ElectraForQuestionAnswering"),
        ("text_classification", "DistilBertForSequenceClassification"),
        ("sentence_similarity", "MPNetModel"),
        ("sentence_similarity", "BertModel"),
        ("image_classification", "ViTForImageClassification"),
        ("object_detection", "DetrForObjectDetection"),
        ("automatic_speech_recognition", "WhisperForConditionalGeneration"),
        ("image_captioning", "Blip2ForConditionalGeneration"),
        ("image_captioning", "VisionEncoderDecoderModel"),
    ],
)
def test_architectures_that_fit_their_task(task: str, architecture: str, configs) -> None:
    info = make_info(config={"architectures": [architecture]})
    assert check_model(info, configs[task]).architecture == architecture


@pytest.mark.parametrize(
    ("task", "architecture"),
    [
        ("text_generation", "BartForConditionalGeneration"),
        ("summarization", "WhisperForConditionalGeneration"),
        ("summarization", "LlamaForCausalLM"),
        ("extractive_qa", "BertForSequenceClassification"),
        ("text_classification", "GPT2LMHeadModel"),
        ("image_classification", "DetrForObjectDetection"),
        ("object_detection", "ViTForImageClassification"),
        ("automatic_speech_recognition", "T5ForConditionalGeneration"),
        # The runner loads speech models with AutoModelForSpeechSeq2Seq, which cannot build a CTC model.
        ("automatic_speech_recognition", "Wav2Vec2ForCTC"),
        ("image_captioning", "LlamaForCausalLM"),
        ("sentence_similarity", "GPT2LMHeadModel"),
    ],
)
def test_architectures_that_do_not_fit_are_wrong_task(task: str, architecture: str, configs) -> None:
    error = refusal(check_model, make_info(config={"architectures": [architecture]}), configs[task])
    assert error.kind == ErrorKind.WRONG_TASK
    assert "acme/tiny" in str(error) and architecture in str(error)


# --- refusals -----------------------------------------------------------------------------------------------


def test_private_models_are_not_found_and_the_message_says_why(configs) -> None:
    error = refusal(check_model, make_info(private=True), configs["text_generation"])
    assert error.kind == ErrorKind.NOT_FOUND
    assert "acme/tiny" in str(error) and "public" in str(error)


def test_gated_models_are_refused(configs) -> None:
    error = refusal(check_model, make_info(gated=True), configs["text_generation"])
    assert error.kind == ErrorKind.GATED and "gated" in str(error)


def test_auto_map_needs_remote_code(tmp_path: Path, configs) -> None:
    config = {**GPT2_CONFIG, "auto_map": {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}}
    error = refusal(
        inspect_model_folder, write_model(tmp_path / "m", config), "acme/x", "f", configs["text_generation"]
    )
    assert error.kind == ErrorKind.REMOTE_CODE
    assert str(error).startswith("model acme/x needs remote code (config.json has auto_map)")
    assert refusal(check_model, make_info(config=config), configs["text_generation"]).kind == ErrorKind.REMOTE_CODE


def test_auto_map_in_the_tokenizer_config_needs_remote_code(tmp_path: Path, configs) -> None:
    tokenizer = json.dumps({"auto_map": {"AutoTokenizer": ["tok.XTokenizer", None]}}).encode()
    folder = write_model(tmp_path / "m", files={"tokenizer_config.json": tokenizer})
    error = refusal(inspect_model_folder, folder, "acme/x", "f", configs["text_generation"])
    assert error.kind == ErrorKind.REMOTE_CODE and "tokenizer_config.json" in str(error)


def test_python_files_are_refused_and_never_imported(tmp_path: Path, configs) -> None:
    marker = tmp_path / "imported.marker"
    code = f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n".encode()
    folder = write_model(tmp_path / "m", files={"modeling_x.py": code})
    error = refusal(inspect_model_folder, folder, "acme/x", "f", configs["text_generation"])
    assert error.kind == ErrorKind.REMOTE_CODE and "modeling_x.py" in str(error)
    info = make_info(files=("config.json", "model.safetensors", "modeling_x.py"))
    assert refusal(check_model, info, configs["text_generation"]).kind == ErrorKind.REMOTE_CODE
    assert not marker.exists()


@pytest.mark.parametrize(
    "index_extra",
    [
        {"custom_pipeline": "my_pipeline"},
        {"_class_name": ["my_module", "MyPipeline"]},
        {"unet": ["my_library", "MyUNet"]},
    ],
    ids=["custom_pipeline", "class_from_module", "foreign_component"],
)
def test_pipelines_needing_custom_code_are_refused(index_extra: dict[str, Any], tmp_path: Path, configs) -> None:
    folder = write_pipeline(tmp_path / "sd", index_extra)
    error = refusal(inspect_model_folder, folder, "acme/sd", "f", configs["image_generation"])
    assert error.kind == ErrorKind.REMOTE_CODE and "acme/sd" in str(error)


def test_pickle_only_weights_are_unsafe(tmp_path: Path, configs) -> None:
    folder = write_model(tmp_path / "m", weights={}, files={"pytorch_model.bin": b"not really a pickle"})
    error = refusal(inspect_model_folder, folder, "acme/x", "f", configs["text_generation"])
    assert error.kind == ErrorKind.UNSAFE_WEIGHTS and "pytorch_model.bin" in str(error)
    info = make_info(files=("config.json", "pytorch_model.bin"), num_parameters=None)
    assert refusal(check_model, info, configs["text_generation"]).kind == ErrorKind.UNSAFE_WEIGHTS


def test_a_model_without_weights_is_refused(tmp_path: Path, configs) -> None:
    folder = write_model(tmp_path / "m", weights={})
    assert refusal(inspect_model_folder, folder, "acme/x", "f", configs["text_generation"]).kind == (
        ErrorKind.UNSAFE_WEIGHTS
    )


def test_a_pipeline_component_with_pickle_weights_only_is_unsafe(tmp_path: Path, configs) -> None:
    folder = write_pipeline(tmp_path / "sd")
    for path in (folder / "unet").glob("*.safetensors"):
        path.unlink()
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"pickle")
    error = refusal(inspect_model_folder, folder, "acme/sd", "f", configs["image_generation"])
    assert error.kind == ErrorKind.UNSAFE_WEIGHTS and "'unet'" in str(error)


def test_a_corrupt_safetensors_header_is_refused(tmp_path: Path, configs) -> None:
    folder = write_model(tmp_path / "m", weights={})
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", 10**12) + b"{}")
    error = refusal(inspect_model_folder, folder, "acme/x", "f", configs["text_generation"])
    assert error.kind == ErrorKind.UNSAFE_WEIGHTS and "model.safetensors" in str(error)


def test_a_tensor_pointing_past_the_file_is_refused(tmp_path: Path, configs) -> None:
    folder = write_model(tmp_path / "m", weights={})
    header = json.dumps({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    assert refusal(inspect_model_folder, folder, "acme/x", "f", configs["text_generation"]).kind == (
        ErrorKind.UNSAFE_WEIGHTS
    )


def test_an_unknown_parameter_count_is_refused(configs) -> None:
    error = refusal(check_model, make_info(num_parameters=None), configs["text_generation"])
    assert "parameter count" in str(error) and "acme/tiny" in str(error)


def test_an_enormous_config_is_refused_before_anything_is_built(tmp_path: Path, configs) -> None:
    huge = {**GPT2_CONFIG, "n_embd": 1_000_000, "n_layer": 1_000}
    error = refusal(inspect_model_folder, write_model(tmp_path / "m", huge), "acme/x", "f", configs["text_generation"])
    assert error.kind == ErrorKind.UNSUPPORTED_ARCHITECTURE and "implausibly large" in str(error)
    nested = {
        "architectures": ["LlavaForConditionalGeneration"],
        "text_config": {"hidden_size": 10**7, "num_layers": 10**4},
    }
    assert implied_parameters(nested) > 10**12


def test_a_config_over_one_megabyte_is_refused(tmp_path: Path, configs) -> None:
    big = {**GPT2_CONFIG, "padding": "x" * 1_100_000}
    error = refusal(inspect_model_folder, write_model(tmp_path / "m", big), "acme/x", "f", configs["text_generation"])
    assert error.kind == ErrorKind.UNSUPPORTED_ARCHITECTURE and "1 MB" in str(error)


@pytest.mark.parametrize("content", [b"[1, 2]", b"{not json", b"[" * 100_000 + b"]" * 100_000])
def test_a_config_that_is_not_a_json_object_is_refused(content: bytes, tmp_path: Path, configs) -> None:
    folder = write_model(tmp_path / "m", None, files={"config.json": content})
    error = refusal(inspect_model_folder, folder, "acme/x", "f", configs["text_generation"])
    assert error.kind == ErrorKind.UNSUPPORTED_ARCHITECTURE and "config.json" in str(error)


def test_no_config_and_no_model_index_is_unsupported(tmp_path: Path, configs) -> None:
    folder = write_model(tmp_path / "m", None)
    error = refusal(inspect_model_folder, folder, "acme/x", "f", configs["text_generation"])
    assert error.kind == ErrorKind.UNSUPPORTED_ARCHITECTURE and "neither config.json nor model_index.json" in str(error)


def test_an_architecture_transformers_does_not_know_is_unsupported(configs) -> None:
    info = make_info(config={"architectures": ["MadeUpForCausalLM"]})
    assert refusal(check_model, info, configs["text_generation"]).kind == ErrorKind.UNSUPPORTED_ARCHITECTURE
    missing = make_info(config={"model_type": "gpt2"})
    assert refusal(check_model, missing, configs["text_generation"]).kind == ErrorKind.UNSUPPORTED_ARCHITECTURE


def test_a_pipeline_tag_for_another_task_is_wrong_task(tmp_path: Path, configs) -> None:
    card = b"---\npipeline_tag: text-classification\n---\n"
    folder = write_model(tmp_path / "m", files={"README.md": card})
    error = refusal(inspect_model_folder, folder, "acme/x", "f", configs["text_generation"])
    assert error.kind == ErrorKind.WRONG_TASK and "'text-classification'" in str(error)


def test_pipelines_and_transformers_models_do_not_cross_tasks(tmp_path: Path, configs) -> None:
    pipeline = write_pipeline(tmp_path / "sd")
    assert refusal(inspect_model_folder, pipeline, "acme/sd", "f", configs["text_generation"]).kind == (
        ErrorKind.WRONG_TASK
    )
    model = write_model(tmp_path / "m")
    assert refusal(inspect_model_folder, model, "acme/x", "f", configs["image_generation"]).kind == (
        ErrorKind.WRONG_TASK
    )
