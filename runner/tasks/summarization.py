"""Summarization: an encoder-decoder model writes a fixed number of summary tokens for a document.

Measured in two phases: prefill (the encoder pass and the first decoder step) and decode (the remaining tokens).
"""

from __future__ import annotations

from typing import Any

from transformers import AutoModelForSeq2SeqLM
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

from leaderboard_data.configs import Pipeline
from runner.tasks._text_common import GenerativeTextTask, PreparedGeneration, accepted_inputs
from runner.tasks.base import register_task


@register_task
class SummarizationTask(GenerativeTextTask):
    """Greedy summary with `AutoModelForSeq2SeqLM`; documents are truncated to the encoder's limit."""

    pipeline = Pipeline.SUMMARIZATION
    auto_class = AutoModelForSeq2SeqLM
    head_classes = MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

    def preprocess(self, sample: dict[str, Any]) -> PreparedGeneration:
        encoding = self.tokenizer(sample["text"], truncation=True, max_length=self.max_length, return_tensors="pt")
        inputs = accepted_inputs(self.model, encoding, self.device)
        return PreparedGeneration(
            inputs=inputs,
            input_tokens=int(inputs["input_ids"].shape[-1]),
            max_new_tokens=self.generation.max_new_tokens,
            min_new_tokens=self.generation.min_new_tokens,
        )

    def _start_length(self, prepared: PreparedGeneration) -> int:
        return 1  # the decoder start token
