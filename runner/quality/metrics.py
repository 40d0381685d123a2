"""The quality metrics, each as per-sample statistics and a vectorized aggregate over resamples.

A metric turns (predictions, references) into one row of statistics per sample; its aggregate turns a stack of
resampled rows, shape (resamples, samples, statistics), into one figure per resample. The point estimate is the
aggregate of the rows as they are, and the bootstrap interval the aggregate of resampled rows, so corpus-level
metrics (WER, Spearman) are resampled as what they are, not as means of per-sample scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from runner.quality.squad import best_over_truths

Rows = np.ndarray
Aggregate = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """A metric: per-sample statistics, their aggregate, and point-only extras (e.g. macro-F1 beside accuracy)."""

    name: str
    rows: Callable[[Sequence[Any], Sequence[dict[str, Any]]], Rows]
    aggregate: Aggregate
    extras: dict[str, Callable[[Sequence[Any], Sequence[dict[str, Any]]], float]] = field(default_factory=dict)

    def value(self, rows: Rows) -> float:
        return float(self.aggregate(rows[np.newaxis])[0])


def _column_mean(column: int) -> Aggregate:
    def mean(stack: np.ndarray) -> np.ndarray:
        result: np.ndarray = stack[..., column].mean(axis=-1)
        return result

    return mean


def normalize_label(name: object) -> str:
    """Label names compared by name: case, separators and surrounding space do not count."""
    return " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())


# --- classification ---------------------------------------------------------------------------------------------


def _matches(predictions: Sequence[Any], references: Sequence[dict[str, Any]]) -> Rows:
    return np.array(
        [
            [float(normalize_label(p) == normalize_label(r["label"]))]
            for p, r in zip(predictions, references, strict=True)
        ]
    )


def _macro_f1(predictions: Sequence[Any], references: Sequence[dict[str, Any]]) -> float:
    """scikit-learn's macro-F1 over the dataset's labels (a label the model never predicts scores 0)."""
    from sklearn.metrics import f1_score

    truth = [normalize_label(r["label"]) for r in references]
    return float(
        f1_score(
            truth,
            [normalize_label(p) for p in predictions],
            labels=sorted(set(truth)),
            average="macro",
            zero_division=0,
        )
    )


ACCURACY = Metric("accuracy", _matches, _column_mean(0), {"macro_f1": _macro_f1})


# --- sentence similarity ----------------------------------------------------------------------------------------


def _pairs(predictions: Sequence[Any], references: Sequence[dict[str, Any]]) -> Rows:
    return np.array([[float(p), float(r["score"])] for p, r in zip(predictions, references, strict=True)])


def _spearman(stack: np.ndarray) -> np.ndarray:
    """Spearman's rho per resample: Pearson's r of average ranks (scipy's definition, ties averaged).

    A resample with constant predictions or gold scores carries no ranking: its rho is 0."""
    ranks = rankdata(stack, axis=-2)
    centered = ranks - ranks.mean(axis=-2, keepdims=True)
    covariance = (centered[..., 0] * centered[..., 1]).sum(axis=-1)
    spread = np.sqrt((centered[..., 0] ** 2).sum(axis=-1) * (centered[..., 1] ** 2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(spread > 0, covariance / np.where(spread > 0, spread, 1.0), 0.0)
    result: np.ndarray = rho
    return result


SPEARMAN = Metric("spearman", _pairs, _spearman)


# --- extractive QA ----------------------------------------------------------------------------------------------


def _answers(reference: dict[str, Any]) -> list[str]:
    """The accepted answers: SQuAD's {"text": [...]} struct, a list, or one string."""
    answers = reference["answers"]
    if isinstance(answers, dict):
        answers = answers.get("text", [])
    if isinstance(answers, str):
        return [answers]
    return [str(a) for a in answers]


def _squad(predictions: Sequence[Any], references: Sequence[dict[str, Any]]) -> Rows:
    return np.array(
        [
            [best_over_truths("f1", str(p), _answers(r)), best_over_truths("exact_match", str(p), _answers(r))]
            for p, r in zip(predictions, references, strict=True)
        ]
    )


def _exact_match(predictions: Sequence[Any], references: Sequence[dict[str, Any]]) -> float:
    return float(_squad(predictions, references)[:, 1].mean())


SQUAD_F1 = Metric("squad_f1", _squad, _column_mean(0), {"exact_match": _exact_match})


# --- generated text ---------------------------------------------------------------------------------------------


def _rouge_l(predictions: Sequence[Any], references: Sequence[dict[str, Any]]) -> Rows:
    """ROUGE-L F-measure per sample (Google's rouge-score, Porter stemming as in the ROUGE-1.5.5 setup)."""
    from rouge_score.rouge_scorer import RougeScorer

    scorer = RougeScorer(["rougeL"], use_stemmer=True)
    return np.array(
        [
            [scorer.score(str(r["reference"]), str(p))["rougeL"].fmeasure]
            for p, r in zip(predictions, references, strict=True)
        ]
    )


ROUGE_L = Metric("rouge_l", _rouge_l, _column_mean(0))


def _word_errors(predictions: Sequence[Any], references: Sequence[dict[str, Any]]) -> Rows:
    """Per sample: word edits (substitutions + deletions + insertions) and reference words, with jiwer's default
    transformation (split on spaces, strip). Corpus WER is their ratio of sums, as `jiwer.wer` over lists gives."""
    import jiwer

    rows = []
    for prediction, reference in zip(predictions, references, strict=True):
        truth = str(reference["transcript"])
        if not truth.strip():
            rows.append([float(len(str(prediction).split())), 0.0])
            continue
        out = jiwer.process_words(truth, str(prediction))
        rows.append(
            [
                float(out.substitutions + out.deletions + out.insertions),
                float(out.hits + out.substitutions + out.deletions),
            ]
        )
    return np.array(rows)


def _error_rate(stack: np.ndarray) -> np.ndarray:
    words = stack[..., 1].sum(axis=-1)
    result: np.ndarray = stack[..., 0].sum(axis=-1) / np.where(words > 0, words, 1.0)
    return result


WER = Metric("wer", _word_errors, _error_rate)


def _chrf(predictions: Sequence[Any], references: Sequence[dict[str, Any]]) -> Rows:
    """sacrebleu's sentence chrF (0..1) against every reference caption of the sample."""
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    rows = []
    for prediction, reference in zip(predictions, references, strict=True):
        captions = reference["captions"]
        truths = [captions] if isinstance(captions, str) else [str(c) for c in captions]
        rows.append([chrf.sentence_score(str(prediction), truths).score / 100.0])
    return np.array(rows)


CHRF = Metric("chrf", _chrf, _column_mean(0))

METRICS: dict[str, Metric] = {
    "accuracy": ACCURACY,
    "top1_accuracy": Metric("top1_accuracy", _matches, _column_mean(0)),
    "spearman": SPEARMAN,
    "squad_f1": SQUAD_F1,
    "rouge_l": ROUGE_L,
    "wer": WER,
    "chrf": CHRF,
}


def bootstrap_interval(metric: Metric, rows: Rows, resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap over samples: resample the rows with replacement, aggregate, take the quantiles."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(rows), size=(resamples, len(rows)))
    figures = metric.aggregate(rows[picks])
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(figures, [tail, 1.0 - tail])
    return float(low), float(high)
