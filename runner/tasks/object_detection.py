"""Object detection: a detector's forward pass plus the box post-processing that turns it into detections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from leaderboard_data.configs import Pipeline
from leaderboard_data.records import ErrorKind
from runner.errors import BenchmarkFailure
from runner.tasks._media_common import ImageInputTask, load_transformers_model, to_rgb_image
from runner.tasks.base import LoadedModelInfo, PhaseMarker, QueryOutput, register_task

SCORE_THRESHOLD = 0.5
"""Detections scoring below this are dropped, as transformers' object-detection pipeline does by default."""


@dataclass
class DetectionInput:
    """Model inputs on the device and the original (height, width), which boxes are scaled back to."""

    inputs: dict[str, torch.Tensor]
    target_size: tuple[int, int]


@register_task
class ObjectDetectionTask(ImageInputTask):
    """Detect objects with `AutoModelForObjectDetection` (DETR, YOLOS, RT-DETR...) and post-process the boxes."""

    pipeline = Pipeline.OBJECT_DETECTION
    phases = ("forward",)

    last_detections: int = 0
    """How many objects the last query found (QueryOutput has no field for it; kept for inspection)."""

    def load(self) -> LoadedModelInfo:
        from transformers import AutoImageProcessor, AutoModelForObjectDetection

        self.model = load_transformers_model(
            AutoModelForObjectDetection, self.model_dir, "object detection", self.device, self.precision
        )
        self.processor = AutoImageProcessor.from_pretrained(self.model_dir)
        if not hasattr(self.processor, "post_process_object_detection"):
            raise BenchmarkFailure(
                ErrorKind.UNSUPPORTED_ARCHITECTURE,
                f"{type(self.processor).__name__} cannot post-process object detections",
            )
        return self.image_model_info()

    def preprocess(self, sample: dict[str, Any]) -> DetectionInput:
        image = to_rgb_image(sample["image"])
        return DetectionInput(inputs=self.image_inputs(image), target_size=(image.height, image.width))

    def run(self, prepared: DetectionInput, mark: PhaseMarker) -> QueryOutput:
        with torch.inference_mode():
            outputs = self.model(**prepared.inputs)
            detections = self.processor.post_process_object_detection(
                outputs, threshold=SCORE_THRESHOLD, target_sizes=[prepared.target_size]
            )
        self.last_detections = len(detections[0]["scores"])
        return QueryOutput()
