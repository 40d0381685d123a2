"""Task implementations, registered into TASK_REGISTRY by importing their modules here."""

import runner.tasks.automatic_speech_recognition
import runner.tasks.extractive_qa
import runner.tasks.image_captioning
import runner.tasks.image_classification
import runner.tasks.image_generation
import runner.tasks.object_detection
import runner.tasks.sentence_similarity
import runner.tasks.summarization
import runner.tasks.text_classification
import runner.tasks.text_generation  # noqa: F401
from runner.tasks.base import TASK_REGISTRY, BenchmarkTask, register_task

__all__ = ["TASK_REGISTRY", "BenchmarkTask", "register_task"]
