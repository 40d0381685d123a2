"""The per-token view of a text generation result: its per-query figure as tokens x energy per token.

A per-query figure mixes how long a model answers with how efficiently it produces each token; the rank stays per
query (the study's unit), and these figures say which of the two makes a model cost what it does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

# Result columns of the per-token figures (`leaderboard_data.results`), kept in the Space's task frames.
PER_TOKEN_COLUMNS = (
    "output_tokens_per_query",
    "input_tokens_per_query",
    "wh_per_1k_output_tokens",
    "wh_per_1k_output_tokens_ci95_low",
    "wh_per_1k_output_tokens_ci95_high",
    "prefill_wh_per_1k_input_tokens",
    "prefill_wh_per_1k_input_tokens_ci95_low",
    "prefill_wh_per_1k_input_tokens_ci95_high",
)


def _number(row: Mapping[str, Any], name: str) -> float | None:
    value = row.get(name)
    if value is None or value is pd.NA or pd.isna(value):
        return None
    return float(value)


def per_token_text(row: Mapping[str, Any]) -> str:
    """'Per query: 10 output tokens × 0.5 Wh per 1,000 output tokens ...', or '' for a result without them."""
    tokens = _number(row, "output_tokens_per_query")
    per_token = _number(row, "wh_per_1k_output_tokens")
    if tokens is None or per_token is None:
        return ""
    low, high = _number(row, "wh_per_1k_output_tokens_ci95_low"), _number(row, "wh_per_1k_output_tokens_ci95_high")
    text = (
        f"Per query: {tokens:.4g} output tokens × {per_token:.4g} Wh per 1,000 output tokens "
        f"(95% interval {low:.4g} – {high:.4g}) = {tokens * per_token:.4g} Wh per 1,000 queries. "
        "A model that answers at more length spends more per query at the same cost per token; the rank stays "
        "per query."
    )
    prefill = _number(row, "prefill_wh_per_1k_input_tokens")
    prompt = _number(row, "input_tokens_per_query")
    if prefill is not None and prompt is not None:
        p_low = _number(row, "prefill_wh_per_1k_input_tokens_ci95_low")
        p_high = _number(row, "prefill_wh_per_1k_input_tokens_ci95_high")
        text += (
            f" Of that, reading the prompt (prefill): {prompt:.4g} input tokens × {prefill:.4g} Wh per 1,000 input "
            f"tokens (95% interval {p_low:.4g} – {p_high:.4g}) = {prompt * prefill:.4g} Wh per 1,000 queries."
        )
    return text
