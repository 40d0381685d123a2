"""The architecture table: which models each task accepts, read from `architectures.json` beside this module.

The table is data, written at build time by `python -m runner.build_architectures` from optimum's
`TasksManager` and the installed transformers and diffusers (see that script). Reading it imports no ML library,
so the Space checks submissions without torch, transformers or diffusers installed.

Example:
    >>> table = architecture_table()
    >>> "GPT2LMHeadModel" in table.tasks[Pipeline.TEXT_GENERATION].architectures
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from leaderboard_data.configs import Pipeline

TABLE_PATH = Path(__file__).with_name("architectures.json")


@dataclass(frozen=True)
class TaskArchitectures:
    """What one runner task accepts.

    Attributes:
        pipeline_tags: Hub pipeline tags of the task (optimum's task names and their synonyms); a model tagged
            otherwise is for another task, one without a tag is judged by its architecture.
        architectures: class names in config.json `architectures` (or model_index.json `_class_name` for a
            diffusers pipeline) that the runner's loader for the task builds.
        libraries: libraries whose models are accepted whatever their architecture (sentence-transformers).
        diffusers: True when the task takes diffusers pipelines (model_index.json), False for transformers models.
    """

    pipeline_tags: frozenset[str]
    architectures: frozenset[str]
    libraries: frozenset[str]
    diffusers: bool


@dataclass(frozen=True)
class ArchitectureTable:
    """The whole table.

    Attributes:
        tasks: per runner task, what it accepts.
        transformers_architectures: every architecture the transformers the table was built with implements; a
            model naming another one brings its own code.
        diffusers_pipeline_modules: diffusers' own pipeline packages, which old pipelines name as the library of a
            component (e.g. `"safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"]`).
        built_with: versions of optimum, transformers and diffusers the table was built from.
    """

    tasks: dict[Pipeline, TaskArchitectures]
    transformers_architectures: frozenset[str]
    diffusers_pipeline_modules: frozenset[str]
    built_with: dict[str, str]

    def pipelines_tagged(self, pipeline_tag: str) -> list[Pipeline]:
        """The runner tasks a Hub pipeline tag belongs to."""
        return [p for p, fit in self.tasks.items() if pipeline_tag in fit.pipeline_tags]

    def pipelines_for_architecture(self, architecture: str) -> list[Pipeline]:
        """The runner tasks whose loader builds this architecture (transformers class or diffusers pipeline)."""
        return [p for p, fit in self.tasks.items() if architecture in fit.architectures]


@cache
def architecture_table(path: Path = TABLE_PATH) -> ArchitectureTable:
    """Read the table (once per process and path)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    tasks = {
        Pipeline(name): TaskArchitectures(
            pipeline_tags=frozenset(entry["pipeline_tags"]),
            architectures=frozenset(entry["architectures"]),
            libraries=frozenset(entry["libraries"]),
            diffusers=bool(entry["diffusers"]),
        )
        for name, entry in data["tasks"].items()
    }
    return ArchitectureTable(
        tasks=tasks,
        transformers_architectures=frozenset(data["transformers_architectures"]),
        diffusers_pipeline_modules=frozenset(data["diffusers_pipeline_modules"]),
        built_with=dict(data["built_with"]),
    )
