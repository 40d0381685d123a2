"""Image classification: one forward pass of an image classifier per image (ViT, ResNet, ConvNeXt...)."""

from __future__ import annotations

from typing import Any

import torch

from leaderboard_data.configs import Pipeline
from runner.tasks._media_common import ImageInputTask, load_transformers_model, to_rgb_image
from runner.tasks.base import LoadedModelInfo, PhaseMarker, QueryOutput, register_task


@register_task
class ImageClassificationTask(ImageInputTask):
    """Classify each image with `AutoModelForImageClassification`; the image processor runs in preprocess."""

    pipeline = Pipeline.IMAGE_CLASSIFICATION
    phases = ("forward",)

    def load(self) -> LoadedModelInfo:
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        self.model = load_transformers_model(
            AutoModelForImageClassification, self.model_dir, "image classification", self.device, self.precision
        )
        self.processor = AutoImageProcessor.from_pretrained(self.model_dir)
        return self.image_model_info()

    def preprocess(self, sample: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.image_inputs(to_rgb_image(sample["image"]))

    def run(self, prepared: dict[str, torch.Tensor], mark: PhaseMarker) -> QueryOutput:
        with torch.inference_mode():
            logits = self.model(**prepared).logits
        return QueryOutput(prediction=int(logits[0].argmax()))

    def decode_prediction(self, prediction: Any) -> Any:
        names: dict[Any, Any] = dict(self.model.config.id2label or {})
        return str(names.get(prediction, prediction))

    def label_names(self) -> list[str] | None:
        return [str(name) for name in (self.model.config.id2label or {}).values()]
