"""Task implementations, registered into TASK_REGISTRY by importing their modules here."""

from runner.tasks import (
    automatic_speech_recognition,
    extractive_qa,
    image_captioning,
    image_classification,
    image_generation,
    object_detection,
    sentence_similarity,
    summarization,
    text_classification,
    text_generation,
)
from runner.tasks.base import TASK_REGISTRY, BenchmarkTask, register_task

__all__ = [
    "TASK_REGISTRY",
    "BenchmarkTask",
    "automatic_speech_recognition",
    "extractive_qa",
    "image_captioning",
    "image_classification",
    "image_generation",
    "object_detection",
    "register_task",
    "sentence_similarity",
    "summarization",
    "text_classification",
    "text_generation",
]
