"""Extractive question answering: find the answer span to a question in a context, in one forward pass."""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForQuestionAnswering
from transformers.models.auto.modeling_auto import MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES

from leaderboard_data.configs import Pipeline
from runner.tasks._text_common import PreparedForward, TransformersTextTask, prepare_forward
from runner.tasks.base import PhaseMarker, QueryOutput, register_task


@register_task
class ExtractiveQATask(TransformersTextTask):
    """`AutoModelForQuestionAnswering` over question + context, the context truncated to the model's limit."""

    pipeline = Pipeline.EXTRACTIVE_QA
    phases = ("forward",)
    auto_class = AutoModelForQuestionAnswering
    head_classes = MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES

    last_answer: str = ""
    """The span found by the latest query, decoded: the cheap proof that the model ran end to end."""

    def preprocess(self, sample: dict[str, Any]) -> PreparedForward:
        question, context = sample["question"], sample["context"]
        # Only the context is shortened, unless the question alone is already too long for the model.
        question_tokens = len(self.tokenizer(question)["input_ids"])
        truncation = "only_second" if question_tokens < self.max_length - 2 else "longest_first"
        encoding = self.tokenizer(
            question, context, truncation=truncation, max_length=self.max_length, return_tensors="pt"
        )
        return prepare_forward(self.model, encoding, self.device)

    def run(self, prepared: PreparedForward, mark: PhaseMarker) -> QueryOutput:
        with torch.inference_mode():
            outputs = self.model(**prepared.inputs)
            start = int(outputs.start_logits[0].argmax())
            end = start + int(outputs.end_logits[0, start:].argmax())
        span = prepared.inputs["input_ids"][0, start : end + 1]
        self.last_answer = str(self.tokenizer.decode(span, skip_special_tokens=True))
        return QueryOutput(input_tokens=prepared.input_tokens, prediction=self.last_answer)
