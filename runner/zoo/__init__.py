"""Small models and datasets built offline, for the embedded demo and the tests.

Models are random-initialised from real architectures' configs, scaled down; for dense models with fixed output
lengths random weights cost the same energy as trained ones. Datasets have the real task datasets' columns.
"""

from __future__ import annotations

from pathlib import Path

from leaderboard_data.configs import Pipeline
from runner.zoo.text import build_text_model, write_text_dataset
from runner.zoo.vision_audio import build_media_model, write_media_dataset

TEXT_PIPELINES = frozenset(
    {
        Pipeline.TEXT_GENERATION,
        Pipeline.SUMMARIZATION,
        Pipeline.EXTRACTIVE_QA,
        Pipeline.TEXT_CLASSIFICATION,
        Pipeline.SENTENCE_SIMILARITY,
    }
)


def build_model(pipeline: Pipeline, out_dir: Path, size: str = "tiny", seed: int = 0) -> Path:
    """A model folder laid out as a Hub model repository, for one pipeline, at one of three sizes."""
    if pipeline in TEXT_PIPELINES:
        return build_text_model(pipeline, out_dir, size=size, seed=seed)
    return build_media_model(pipeline, out_dir, size=size, seed=seed)


def write_dataset(pipeline: Pipeline, out_dir: Path, num_rows: int, seed: int = 0) -> Path:
    """A dataset folder `datasets.load_dataset` reads offline, with the real task dataset's columns."""
    if pipeline in TEXT_PIPELINES:
        return write_text_dataset(pipeline, out_dir, num_rows, seed=seed)
    return write_media_dataset(pipeline, out_dir, num_rows, seed=seed)
