"""Task implementations, one module each, registered into TASK_REGISTRY when their module is imported.

Importing this package imports none of them (they pull in torch, transformers and diffusers); the engine calls
`load_task_registry()` inside the benchmark process, so a worker that only queues and supervises stays light.
"""

from __future__ import annotations

import importlib

from leaderboard_data.configs import Pipeline
from runner.tasks.base import TASK_REGISTRY, BenchmarkTask

TASK_MODULES = (
    "automatic_speech_recognition",
    "extractive_qa",
    "image_captioning",
    "image_classification",
    "image_generation",
    "object_detection",
    "sentence_similarity",
    "summarization",
    "text_classification",
    "text_generation",
)


def load_task_registry() -> dict[Pipeline, type[BenchmarkTask]]:
    """Import every task module (registering its implementation) and return the registry."""
    for name in TASK_MODULES:
        importlib.import_module(f"runner.tasks.{name}")
    return TASK_REGISTRY
