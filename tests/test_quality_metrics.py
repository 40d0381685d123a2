"""Each quality metric scores known outputs as its reference library or original script does."""

from __future__ import annotations

import jiwer
import numpy as np
import pytest
from rouge_score.rouge_scorer import RougeScorer
from sacrebleu.metrics import CHRF
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, f1_score

from leaderboard_data.configs import QualityFloor, QualitySpec
from runner.quality.labels import unmapped_labels
from runner.quality.metrics import METRICS, bootstrap_interval
from runner.quality.scoring import floor_value, score_quality
from runner.quality.squad import best_over_truths, exact_match, normalize_answer, token_f1


def _value(metric: str, predictions: list[object], references: list[dict[str, object]]) -> float:
    chosen = METRICS[metric]
    return chosen.value(chosen.rows(predictions, references))


def test_accuracy_and_macro_f1_match_scikit_learn() -> None:
    truth = ["pos", "neg", "neg", "neg", "neutral", "pos"]
    predicted = ["POS", "pos", "neg", "NEG", "neg", "pos"]
    references = [{"label": t} for t in truth]
    lowered = [p.lower() for p in predicted]
    assert _value("accuracy", predicted, references) == pytest.approx(accuracy_score(truth, lowered)) == 4 / 6
    macro = METRICS["accuracy"].extras["macro_f1"](predicted, references)
    assert macro == pytest.approx(f1_score(truth, lowered, average="macro", zero_division=0))
    assert _value("top1_accuracy", ["red circle"], [{"label": "Red_Circle"}]) == 1.0


def test_spearman_matches_scipy_with_ties() -> None:
    # scipy's documented example: spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) = 0.8207826816681233
    rows = METRICS["spearman"].rows([1, 2, 3, 4, 5], [{"score": s} for s in [5, 6, 7, 8, 7]])
    assert METRICS["spearman"].value(rows) == pytest.approx(0.8207826816681233)
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 6, 50).astype(float), rng.integers(0, 6, 50).astype(float)
    rows = METRICS["spearman"].rows(list(x), [{"score": v} for v in y])
    assert METRICS["spearman"].value(rows) == pytest.approx(spearmanr(x, y).statistic)
    constant = METRICS["spearman"].rows([0.5] * 4, [{"score": s} for s in [1, 2, 3, 4]])
    assert METRICS["spearman"].value(constant) == 0.0


def test_squad_matches_the_official_script() -> None:
    # evaluate-v1.1.py: normalize_answer lowers, drops punctuation and articles, collapses whitespace
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert exact_match("denver broncos", "The Denver Broncos") == 1.0
    assert token_f1("the Broncos", "Denver Broncos") == pytest.approx(2 / 3)
    assert token_f1("Carolina Panthers", "Denver Broncos") == 0.0
    # the script's quirk: "a" normalizes to nothing, so it matches an empty answer exactly with an F1 of 0
    assert exact_match("", "a") == 1.0 and token_f1("", "a") == 0.0
    assert best_over_truths("f1", "Broncos", ["Denver Broncos", "Broncos"]) == 1.0
    references = [{"answers": {"text": ["Denver Broncos", "The Broncos"], "answer_start": [0, 0]}}, {"answers": "x"}]
    chosen = METRICS["squad_f1"]
    assert chosen.value(chosen.rows(["broncos", ""], references)) == pytest.approx(0.5)
    assert chosen.extras["exact_match"](["broncos", ""], references) == pytest.approx(0.5)


def test_wer_matches_jiwer_over_the_corpus() -> None:
    truth = ["hello world", "i like monty python", "what a day"]
    heard = ["hello duck", "i like python", "what a day it is"]
    rows = METRICS["wer"].rows(heard, [{"transcript": t} for t in truth])
    assert METRICS["wer"].value(rows) == pytest.approx(jiwer.wer(truth, heard))
    assert _value("wer", ["hello duck"], [{"transcript": "hello world"}]) == 0.5
    assert _value("wer", [""], [{"transcript": "hello world"}]) == 1.0


def test_rouge_l_matches_rouge_score() -> None:
    # rouge-score's README example: rougeL precision 0.625, recall 0.5556 -> F 0.5882
    target, prediction = "The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log."
    expected = RougeScorer(["rougeL"], use_stemmer=True).score(target, prediction)["rougeL"].fmeasure
    assert _value("rouge_l", [prediction], [{"reference": target}]) == pytest.approx(expected)
    assert _value("rouge_l", [prediction], [{"reference": target}]) == pytest.approx(0.5882, abs=1e-4)


def test_chrf_matches_sacrebleu() -> None:
    captions = ["a dog runs on the grass", "a brown dog running"]
    expected = CHRF().sentence_score("a dog is running on grass", captions).score / 100
    assert _value("chrf", ["a dog is running on grass"], [{"captions": captions}]) == pytest.approx(expected)


def test_bootstrap_interval_is_seeded_and_brackets_the_value() -> None:
    chosen = METRICS["accuracy"]
    rows = chosen.rows(["a"] * 70 + ["b"] * 30, [{"label": "a"}] * 100)
    low, high = bootstrap_interval(chosen, rows, 1000, 0.95, seed=0)
    assert low < 0.7 < high
    assert (low, high) == bootstrap_interval(chosen, rows, 1000, 0.95, seed=0)
    # a 95 % interval of a proportion of 0.7 over 100 samples is about +-0.09
    assert 0.05 < (high - low) / 2 < 0.13


def test_labels_map_by_name_or_not_at_all() -> None:
    assert unmapped_labels(["NEGATIVE", "POSITIVE"], ["negative", "positive"]) is None
    reason = unmapped_labels(["LABEL_0", "LABEL_1"], ["negative", "positive"])
    assert reason is not None and "label 0" in reason and "negative" in reason


def _spec(**changes: object) -> QualitySpec:
    base: dict[str, object] = {
        "metric": "accuracy",
        "columns": {"label": "label"},
        "floor": QualityFloor(baseline="majority_class", margin=0.05, why="majority"),
    }
    return QualitySpec.model_validate({**base, **changes})


def test_floor_and_score_of_a_run() -> None:
    references = [{"label": "pos"}] * 6 + [{"label": "neg"}] * 4
    assert floor_value(_spec().floor, "higher", references) == pytest.approx(0.65)  # type: ignore[arg-type]
    always_pos = score_quality(_spec(), ["pos"] * 10, references, ["neg", "pos"])
    assert always_pos.value == pytest.approx(0.6) and always_pos.floor_passed is False
    right = score_quality(_spec(), [r["label"] for r in references], references, ["neg", "pos"])
    assert right.value == 1.0 and right.floor_passed is True and right.ci_low == right.ci_high == 1.0
    unmapped = score_quality(_spec(), ["LABEL_1"] * 10, references, ["LABEL_0", "LABEL_1"])
    assert unmapped.value is None and unmapped.note is not None and "do not name" in unmapped.note
    lower = QualityFloor(baseline="constant", value=1.0, margin=0.1, why="empty")
    assert floor_value(lower, "lower", references) == pytest.approx(0.9)
    none = score_quality(QualitySpec(metric="none", reason="no references"), [], [])
    assert none.value is None and none.note == "no references"
