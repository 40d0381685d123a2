"""Build `leaderboard_data/architectures.json`: the model classes each task accepts, as data.

optimum's `TasksManager` knows, for each standard task (the Hub's pipeline tags), its synonyms, the auto classes
that load its models and the diffusers pipelines that perform it; transformers' auto classes know which
architecture each of them loads. This script joins that knowledge with the one thing only this project knows,
which standard task each runner task implements and which loader it uses, and writes the result where the data
layer reads it. The data layer never imports an ML library: the Space runs without torch or transformers.

`./scripts/lock` runs it after resolving the lock anew; run it by hand only after installing other versions of
optimum, transformers or diffusers (a test fails while the table was built with other versions):

    python -m runner.build_architectures          # rewrite the table
    python -m runner.build_architectures --check  # exit status 1 when the table differs from the installed libraries
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from leaderboard_data.architectures import TABLE_PATH
from leaderboard_data.configs import Pipeline


@dataclass(frozen=True)
class TaskSource:
    """Where one runner task's accepted models come from.

    Args:
        optimum_tasks: optimum's names of the standard tasks the runner task performs; with their synonyms they
            are the Hub pipeline tags the task accepts.
        loader: the auto class (transformers) or auto pipeline (diffusers) the runner loads the model with; it
            must be one optimum names for the task.
        libraries: libraries whose models the runner loads whatever their architecture; optimum must name them
            for the task.
        encoders_only: accept only the base classes of encoder models (model types transformers has a masked
            language-model head for), as mean-pooled sentence embeddings need.
    """

    optimum_tasks: tuple[str, ...]
    loader: str
    libraries: tuple[str, ...] = ()
    encoders_only: bool = False


TASK_SOURCES: dict[Pipeline, TaskSource] = {
    Pipeline.TEXT_GENERATION: TaskSource(("text-generation",), "AutoModelForCausalLM"),
    Pipeline.SUMMARIZATION: TaskSource(("text2text-generation",), "AutoModelForSeq2SeqLM"),
    Pipeline.EXTRACTIVE_QA: TaskSource(("question-answering",), "AutoModelForQuestionAnswering"),
    Pipeline.TEXT_CLASSIFICATION: TaskSource(("text-classification",), "AutoModelForSequenceClassification"),
    Pipeline.SENTENCE_SIMILARITY: TaskSource(
        ("feature-extraction",), "AutoModel", libraries=("sentence-transformers",), encoders_only=True
    ),
    Pipeline.IMAGE_CLASSIFICATION: TaskSource(("image-classification",), "AutoModelForImageClassification"),
    Pipeline.OBJECT_DETECTION: TaskSource(("object-detection",), "AutoModelForObjectDetection"),
    Pipeline.AUTOMATIC_SPEECH_RECOGNITION: TaskSource(("automatic-speech-recognition",), "AutoModelForSpeechSeq2Seq"),
    Pipeline.IMAGE_GENERATION: TaskSource(("text-to-image",), "AutoPipelineForText2Image"),
    Pipeline.IMAGE_CAPTIONING: TaskSource(("image-to-text", "image-text-to-text"), "AutoModelForImageTextToText"),
}


def build_table() -> dict[str, Any]:
    """The table as the installed optimum, transformers and diffusers describe it (imports all three)."""
    from optimum.exporters.tasks import TasksManager

    tasks = {pipeline.value: _task_entry(TasksManager, pipeline, source) for pipeline, source in TASK_SOURCES.items()}
    return {
        "about": (
            "Accepted architectures per task. Written by `python -m runner.build_architectures` from optimum's "
            "TasksManager and the installed transformers and diffusers; do not edit by hand."
        ),
        "built_with": installed_versions(),
        "tasks": tasks,
        "transformers_architectures": sorted(_all_transformers_architectures()),
        "diffusers_pipeline_modules": sorted(_diffusers_pipeline_modules()),
    }


BUILT_FROM = ("optimum", "transformers", "diffusers")
"""The libraries the table is derived from; their versions are recorded in it as `built_with`."""


def installed_versions() -> dict[str, str]:
    """The installed versions of the libraries the table is built from."""
    return {name: version(name) for name in BUILT_FROM}


def _task_entry(tasks_manager: Any, pipeline: Pipeline, source: TaskSource) -> dict[str, Any]:
    diffusers = source.loader.startswith("AutoPipeline")
    library = "diffusers" if diffusers else "transformers"
    loaders = tasks_manager._LIBRARY_TO_TASKS_TO_MODEL_LOADER_MAP[library]
    tags: set[str] = set()
    for task in source.optimum_tasks:
        named = loaders.get(task)
        named = (named,) if isinstance(named, str) else tuple(named or ())
        if source.loader not in named:
            raise ValueError(f"optimum loads {task} with {named}, not {source.loader} as the runner's {pipeline} does")
        tags |= {task, *tasks_manager.synonyms_for_task(task)}
    for lib in source.libraries:
        lib_tasks = tasks_manager._LIBRARY_TO_TASKS_TO_MODEL_LOADER_MAP.get(lib.replace("-", "_"), {})
        if not any(task in lib_tasks for task in source.optimum_tasks):
            raise ValueError(f"optimum does not name {lib} for {source.optimum_tasks}")
    if diffusers:
        mapping = tasks_manager._DIFFUSERS_TASKS_TO_MODEL_MAPPINGS[source.optimum_tasks[0]]
        architectures = set(mapping.values())
    else:
        architectures = _loader_architectures(source.loader, source.encoders_only)
    return {
        "optimum_tasks": list(source.optimum_tasks),
        "loader": source.loader,
        "pipeline_tags": sorted(tags),
        "libraries": list(source.libraries),
        "diffusers": diffusers,
        "architectures": sorted(architectures),
    }


def loader_mapping(loader: str) -> dict[str, str | tuple[str, ...]]:
    """model type -> architecture name(s) of a transformers auto class, as transformers itself lists them."""
    import transformers

    mapping = getattr(transformers, loader)._model_mapping._model_mapping
    return dict(mapping)


def _names(mapping: dict[str, Any]) -> set[str]:
    return {name for value in mapping.values() for name in ((value,) if isinstance(value, str) else value)}


def _loader_architectures(loader: str, encoders_only: bool) -> set[str]:
    mapping = loader_mapping(loader)
    if encoders_only:
        from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

        mapping = {k: v for k, v in mapping.items() if k in MODEL_FOR_MASKED_LM_MAPPING_NAMES}
    return _names(mapping)


def _all_transformers_architectures() -> set[str]:
    """Every architecture some transformers auto class loads: a name outside it is not transformers' own."""
    from transformers.models.auto import modeling_auto

    names: set[str] = set()
    for attr, value in vars(modeling_auto).items():
        if attr.endswith("_MAPPING_NAMES") and isinstance(value, dict):
            names |= _names(value)
    return names


def _diffusers_pipeline_modules() -> set[str]:
    """diffusers' own pipeline packages, which old pipelines name as a component's library ('stable_diffusion')."""
    import diffusers.pipelines

    root = Path(diffusers.pipelines.__file__).parent
    return {p.name for p in root.iterdir() if (p / "__init__.py").is_file() and not p.name.startswith("_")}


def render(table: dict[str, Any]) -> str:
    """The table's file content: stable key order, one list item per line, so upgrades show as small diffs."""
    return json.dumps(table, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the table is out of date")
    parser.add_argument("--output", type=Path, default=TABLE_PATH, help=f"default: {TABLE_PATH}")
    args = parser.parse_args(argv)
    content = render(build_table())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
        if current != content:
            print(f"{args.output} is out of date: run python -m runner.build_architectures", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(content, encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
