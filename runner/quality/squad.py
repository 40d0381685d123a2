"""SQuAD v1.1 answer comparison, as in the official evaluation script (`evaluate-v1.1.py`).

No maintained library scores one answer without downloading its metric script (Hugging Face `evaluate`), so the
script's normalization, exact match and token F1 are written here and tested against the script's values.
"""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and the articles a/an/the, collapse whitespace (the script's order)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def token_f1(prediction: str, truth: str) -> float:
    """Harmonic mean of token precision and recall over the normalized answers (0 when nothing is shared)."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = Counter(predicted) & Counter(expected)
    shared = sum(common.values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted), shared / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_over_truths(metric: str, prediction: str, truths: list[str]) -> float:
    """The script's `metric_max_over_ground_truths`: the best score against any of the accepted answers."""
    score = exact_match if metric == "exact_match" else token_f1
    return max((score(prediction, truth) for truth in truths), default=0.0)
