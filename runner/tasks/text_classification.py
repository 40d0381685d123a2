"""Text classification: assign a label to a text in one forward pass."""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForSequenceClassification
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

from leaderboard_data.configs import Pipeline
from runner.tasks._text_common import PreparedForward, TransformersTextTask, prepare_forward
from runner.tasks.base import PhaseMarker, QueryOutput, register_task


@register_task
class TextClassificationTask(TransformersTextTask):
    """`AutoModelForSequenceClassification` over a text truncated to the model's limit."""

    pipeline = Pipeline.TEXT_CLASSIFICATION
    phases = ("forward",)
    auto_class = AutoModelForSequenceClassification
    head_classes = MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

    last_label: str = ""
    """The label predicted by the latest query: the cheap proof that the model ran end to end."""

    def preprocess(self, sample: dict[str, Any]) -> PreparedForward:
        encoding = self.tokenizer(sample["text"], truncation=True, max_length=self.max_length, return_tensors="pt")
        return prepare_forward(self.model, encoding, self.device)

    def run(self, prepared: PreparedForward, mark: PhaseMarker) -> QueryOutput:
        with torch.inference_mode():
            logits = self.model(**prepared.inputs).logits
        label_id = int(logits[0].argmax())
        names: dict[Any, Any] = dict(self.model.config.id2label or {})
        self.last_label = str(names.get(label_id, label_id))
        return QueryOutput(input_tokens=prepared.input_tokens, prediction=self.last_label)

    def label_names(self) -> list[str] | None:
        return [str(name) for name in (self.model.config.id2label or {}).values()]
