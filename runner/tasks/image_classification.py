"""Image classification: one forward pass of an image classifier per image (ViT, ResNet, ConvNeXt...)."""

from __future__ import annotations

from typing import Any

import torch

from leaderboard_data.configs import Pipeline
from runner.tasks._media_common import (
    config_int,
    count_parameters,
    load_rows,
    load_transformers_model,
    to_device,
    to_rgb_image,
    torch_dtype,
)
from runner.tasks.base import BenchmarkTask, LoadedModelInfo, PhaseMarker, QueryOutput, register_task


@register_task
class ImageClassificationTask(BenchmarkTask):
    """Classify each image with `AutoModelForImageClassification`; the image processor runs in preprocess."""

    pipeline = Pipeline.IMAGE_CLASSIFICATION
    phases = ("forward",)

    def load(self) -> LoadedModelInfo:
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        self.model = load_transformers_model(
            AutoModelForImageClassification, self.model_dir, "image classification", self.device, self.precision
        )
        self.processor = AutoImageProcessor.from_pretrained(self.model_dir)
        size = config_int(self.model.config, ("image_size",), self.config.max_input_length)
        return LoadedModelInfo(num_parameters=count_parameters(self.model), max_input_length=size)

    def load_samples(self, dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
        return load_rows(self.config, dataset_path, num_samples, ("image",))

    def preprocess(self, sample: dict[str, Any]) -> dict[str, torch.Tensor]:
        batch = self.processor(images=to_rgb_image(sample["image"]), return_tensors="pt")
        return to_device(batch, self.device, torch_dtype(self.precision))

    def run(self, prepared: dict[str, torch.Tensor], mark: PhaseMarker) -> QueryOutput:
        with torch.inference_mode():
            self.model(**prepared)
        return QueryOutput()
