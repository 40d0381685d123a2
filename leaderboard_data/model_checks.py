"""What a model must be to be benchmarked: accept/refuse policy, decided before anything of the model is loaded.

Two entry points share one set of rules:
- `check_model(info, task_config)` at submission, on what the source reports (Hub metadata or a local folder);
- `inspect_model_folder(folder, ...)` in the worker, on the downloaded files, before any loader touches them.

A model is refused when it is private or gated, needs remote code, has only pickle-based weights, does not fit the
task, has an implausible config, or has no known parameter count. Every refusal is a `ModelCheckError` whose `kind`
(`records.ErrorKind`) goes into the failed request and whose message names the model in a sentence or two.

Files are read by `model_files`; which architectures fit which task comes from the architecture table
(`architectures`), built from optimum and transformers at build time, so these checks import no ML library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from leaderboard_data.architectures import TaskArchitectures, architecture_table
from leaderboard_data.configs import Pipeline, TaskConfig
from leaderboard_data.errors import ModelCheckError, SubmissionError
from leaderboard_data.model_files import (
    DIFFUSERS_INDEX,
    LOADER_CONFIGS,
    PICKLE_WEIGHT_SUFFIXES,
    SAFETENSORS_SUFFIX,
    TRANSFORMERS_CONFIG,
    ModelInfo,
    describe_folder,
    diffusers_components,
    is_pipeline,
    list_model_files,
    read_json_object,
    read_model_config,
)
from leaderboard_data.records import ErrorKind

__all__ = [  # ModelCheckError lives in errors.py; it stays importable from here, where refusals are decided
    "CheckedModel",
    "ModelCheckError",
    "check_model",
    "gated_refusal",
    "implied_parameters",
    "inspect_model_folder",
    "model_architecture",
    "size_class",
    "suggest_pipelines",
    "suggest_task",
]

MAX_IMPLIED_PARAMETERS = 10**12
"""A config whose sizes imply more parameters than this is refused before a model is built from it."""

GB = 10**9
BYTES_PER_PARAMETER = 2  # fp16 weights
MEMORY_OVERHEAD_PERCENT = 20
SIZE_CLASS_LIMITS_GB: tuple[tuple[str, int], ...] = (("A", 24), ("B", 80))
"""Size classes by the memory the model needs: A fits a 24 GB consumer GPU, B one 80 GB GPU, C needs several."""

ALLOWED_COMPONENT_LIBRARIES = frozenset({"diffusers", "transformers"})

_WIDTH_KEYS = ("hidden_size", "d_model", "n_embd", "dim", "embed_dim", "hidden_dim")
_DEPTH_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "depth")
_SEQ2SEQ_DEPTH_KEYS = ("encoder_layers", "decoder_layers")


@dataclass(frozen=True)
class CheckedModel:
    """A model that passed every check, with what the leaderboard needs to know of it."""

    model_id: str
    sha: str
    num_parameters: int
    size_class: str
    architecture: str | None


def size_class(num_parameters: int) -> str:
    """The AI Energy Score size class of a model from the memory it needs to run.

    Reference memory formula: fp16 weights (2 bytes per parameter) plus 20% overhead, in decimal GB. Class "A"
    fits one 24 GB consumer GPU (up to 10 billion parameters), "B" one 80 GB GPU (up to about 33.3 billion),
    "C" needs several GPUs. Integer arithmetic, so the boundaries are exact.

    Example:
        >>> size_class(7_000_000_000), size_class(13_000_000_000), size_class(70_000_000_000)
        ('A', 'B', 'C')
    """
    if num_parameters < 0:
        raise ValueError(f"a parameter count cannot be negative: {num_parameters}")
    needed_bytes_x100 = num_parameters * BYTES_PER_PARAMETER * (100 + MEMORY_OVERHEAD_PERCENT)
    for name, limit_gb in SIZE_CLASS_LIMITS_GB:
        if needed_bytes_x100 <= limit_gb * GB * 100:
            return name
    return "C"


# ---------------------------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------------------------


def check_model(info: ModelInfo, task_config: TaskConfig) -> CheckedModel:
    """Decide from a source's description whether a model can be benchmarked on a task; raises ModelCheckError."""
    model_id, files, config = info.model_id, info.files, info.config
    if info.private:
        raise ModelCheckError(
            ErrorKind.NOT_FOUND,
            f"model {model_id} is private; only public models are benchmarked, so that anyone can check a result.",
        )
    if info.gated:
        raise gated_refusal(model_id)
    _refuse_python_files(model_id, files)
    if config is not None and is_pipeline(files):
        _check_diffusers_code(model_id, config)
    elif config is not None:
        _refuse_auto_map(model_id, config, TRANSFORMERS_CONFIG)
    _check_weights(model_id, files, config)
    architecture = _check_task_fit(info, task_config)
    if config is not None:
        _check_plausible_size(model_id, config, DIFFUSERS_INDEX if is_pipeline(files) else TRANSFORMERS_CONFIG)
    if info.num_parameters is None:
        raise ModelCheckError(
            ErrorKind.UNSAFE_WEIGHTS,
            f"the parameter count of model {model_id} is unknown: its safetensors metadata does not give one, and a "
            "model is only benchmarked with a known size.",
        )
    return CheckedModel(model_id, info.sha, info.num_parameters, size_class(info.num_parameters), architecture)


def inspect_model_folder(folder: Path, model_id: str, sha: str, task_config: TaskConfig) -> CheckedModel:
    """The same checks on a downloaded folder, before anything in it is loaded, plus the ones only files allow.

    Python files are refused before any file is opened; every config in the folder is size-checked and
    scanned for auto_map; pickle-only weights are refused before any safetensors header is read; the parameter
    count comes from the safetensors headers of the files themselves.
    """
    files = list_model_files(folder)
    _refuse_python_files(model_id, files)
    config = read_model_config(folder, files, model_id)
    _check_all_configs(folder, files, config, model_id)
    _check_weights(model_id, files, config)  # before the headers are read, so a .bin-only model says so
    return check_model(describe_folder(folder, model_id, sha, files), task_config)


def gated_refusal(model_id: str) -> ModelCheckError:
    """The one refusal of gated models, whether metadata said so or a download was denied."""
    return ModelCheckError(
        ErrorKind.GATED,
        f"model {model_id} is gated (users must accept conditions to download it); gated models are not benchmarked.",
    )


def _refuse_python_files(model_id: str, files: Iterable[str]) -> None:
    python = [f for f in files if f.endswith(".py")]
    if python:
        raise ModelCheckError(
            ErrorKind.REMOTE_CODE,
            f"model {model_id} needs remote code (it ships {_some(python)}); models that need trust_remote_code "
            "are not benchmarked.",
        )


def _refuse_auto_map(model_id: str, config: Mapping[str, Any], name: str) -> None:
    """auto_map in a config tells transformers to import the repo's own Python code."""
    if "auto_map" in config:
        raise ModelCheckError(
            ErrorKind.REMOTE_CODE,
            f"model {model_id} needs remote code ({name} has auto_map); models that need trust_remote_code are not "
            "benchmarked.",
        )


def _check_diffusers_code(model_id: str, index: Mapping[str, Any]) -> None:
    """A custom pipeline class, or a component from a library other than diffusers and transformers.

    Old pipelines name diffusers' own pipeline packages as a component's library (`"safety_checker":
    ["stable_diffusion", "StableDiffusionSafetyChecker"]`); the architecture table lists those packages, so the
    answer is the same whether diffusers is installed (a worker) or not (the Space).
    """
    pipeline = index.get("_class_name")
    if "custom_pipeline" in index or not isinstance(pipeline, str):
        raise ModelCheckError(
            ErrorKind.REMOTE_CODE,
            f"model {model_id} needs remote code (model_index.json names a custom pipeline); models that need "
            "custom code are not benchmarked.",
        )
    diffusers_modules = architecture_table().diffusers_pipeline_modules
    for component, (library, _cls) in diffusers_components(index).items():
        if library not in ALLOWED_COMPONENT_LIBRARIES and library not in diffusers_modules:
            raise ModelCheckError(
                ErrorKind.REMOTE_CODE,
                f"model {model_id} needs remote code (component {component!r} comes from {library!r}, not diffusers "
                "or transformers); models that need custom code are not benchmarked.",
            )


def _check_weights(model_id: str, files: tuple[str, ...], config: Mapping[str, Any] | None) -> None:
    """Refuse a model whose weights (or a component's weights) exist only in pickle-based formats."""
    if config is not None and is_pipeline(files):
        for component in diffusers_components(config):
            inside = [f for f in files if f.startswith(f"{component}/")]
            _require_safetensors(model_id, inside, f" (component {component!r})")
    _require_safetensors(model_id, files, "")


def _require_safetensors(model_id: str, files: list[str] | tuple[str, ...], where: str) -> None:
    if any(f.endswith(SAFETENSORS_SUFFIX) for f in files):
        return
    pickled = [f for f in files if f.endswith(PICKLE_WEIGHT_SUFFIXES)]
    if pickled:
        raise ModelCheckError(
            ErrorKind.UNSAFE_WEIGHTS,
            f"model {model_id}{where} has no safetensors weights, only {_some(pickled)}; pickle-based weights can "
            "run code when loaded, so they are not benchmarked.",
        )
    if not where:
        raise ModelCheckError(
            ErrorKind.UNSAFE_WEIGHTS, f"model {model_id} has no safetensors weights (no *.safetensors file)."
        )


def model_architecture(info: ModelInfo) -> str | None:
    """The class a model's config names: model_index.json `_class_name` for a pipeline, else the first of
    config.json `architectures`; None when it names none."""
    if info.config is None:
        return None
    if is_pipeline(info.files):
        name = info.config.get("_class_name")
        return name if isinstance(name, str) else None
    names = [a for a in info.config.get("architectures") or [] if isinstance(a, str)]
    return names[0] if names else None


def suggest_pipelines(info: ModelInfo) -> list[Pipeline]:
    """The runner tasks a model looks made for, from its Hub pipeline tag and its architecture (or its library,
    for libraries a task loads whatever the architecture: sentence-transformers).

    Where both speak they must agree; a model for no task, or for several, gets no single answer.
    """
    table = architecture_table()
    architecture = model_architecture(info)
    by_tag = table.pipelines_tagged(info.pipeline_tag) if info.pipeline_tag else None
    by_library = [p for p, fit in table.tasks.items() if info.library_name in fit.libraries] or None
    by_architecture = table.pipelines_for_architecture(architecture) if architecture else None
    candidates: list[Pipeline] | None = by_tag
    found = by_library or by_architecture
    if found is not None:
        candidates = found if candidates is None else [p for p in candidates if p in found]
    return candidates or []


def suggest_task(info: ModelInfo, task_configs: Mapping[str, TaskConfig]) -> str:
    """The task to benchmark a model on when the submitter named none; SubmissionError when the model's tag and
    architecture do not point to exactly one task. Among configs sharing a runner task, the one named after it
    (text_generation, not text_generation_reasoning)."""
    pipelines = suggest_pipelines(info)
    if len(pipelines) == 1:
        sharing = sorted(name for name, config in task_configs.items() if config.pipeline == pipelines[0])
        if sharing:
            return pipelines[0].value if pipelines[0].value in sharing else sharing[0]
    architecture = model_architecture(info)
    said = [f"tag {info.pipeline_tag[:64]!r}"] if info.pipeline_tag else []
    said += [f"architecture {architecture[:100]!r}"] if architecture else []
    raise SubmissionError(
        f"no task given, and model {info.model_id} ({', '.join(said) or 'no pipeline tag, no architecture'}) does "
        f"not point to one task; choose one of: {', '.join(sorted(task_configs))}"
    )


def _check_task_fit(info: ModelInfo, task_config: TaskConfig) -> str | None:
    """The model's architecture if it fits the task; WRONG_TASK or UNSUPPORTED_ARCHITECTURE otherwise."""
    fit = architecture_table().tasks[task_config.pipeline]
    model_id, task, config = info.model_id, task_config.task, info.config
    if config is None:
        raise ModelCheckError(
            ErrorKind.UNSUPPORTED_ARCHITECTURE,
            f"model {model_id} has neither config.json nor model_index.json, so its architecture is unknown.",
        )
    if info.pipeline_tag is not None and info.pipeline_tag not in fit.pipeline_tags:
        raise ModelCheckError(
            ErrorKind.WRONG_TASK,
            f"model {model_id} is tagged {info.pipeline_tag!r}; task {task} takes models tagged "
            f"{' or '.join(sorted(fit.pipeline_tags))}.",
        )
    if is_pipeline(info.files) != fit.diffusers:
        kind = "a diffusers pipeline (model_index.json)" if fit.diffusers else "a transformers model (config.json)"
        raise ModelCheckError(ErrorKind.WRONG_TASK, f"task {task} takes {kind}, which model {model_id} is not.")
    if fit.diffusers:
        return _diffusers_architecture(model_id, task, fit, config)
    return _transformers_architecture(model_id, task, fit, info.library_name, config)


def _diffusers_architecture(model_id: str, task: str, fit: TaskArchitectures, index: Mapping[str, Any]) -> str:
    name = str(index.get("_class_name"))
    if name not in fit.architectures:
        raise ModelCheckError(
            ErrorKind.WRONG_TASK,
            f"model {model_id} is a {name[:100]}, which {_runs(name)}, not {task}; {task} takes text-to-image "
            "pipelines such as StableDiffusionPipeline.",
        )
    return name


def _transformers_architecture(
    model_id: str, task: str, fit: TaskArchitectures, library_name: str | None, config: Mapping[str, Any]
) -> str | None:
    names = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    by_library = library_name in fit.libraries
    if not names:
        if by_library:
            return None
        raise ModelCheckError(
            ErrorKind.UNSUPPORTED_ARCHITECTURE,
            f"config.json of model {model_id} names no architecture ('architectures' is missing or empty).",
        )
    known = architecture_table().transformers_architectures
    fitting = [n for n in names if n in fit.architectures]
    architecture = (fitting or names)[0]
    if architecture not in known:
        raise ModelCheckError(
            ErrorKind.UNSUPPORTED_ARCHITECTURE,
            f"model {model_id} is a {architecture[:100]}, which transformers does not implement; models that bring "
            "their own code are not benchmarked.",
        )
    if not fitting and not by_library:
        raise ModelCheckError(
            ErrorKind.WRONG_TASK,
            f"model {model_id} is a {architecture[:100]}, which {_runs(architecture)}, not {task}.",
        )
    return architecture


def _runs(architecture: str) -> str:
    """Which tasks an architecture runs, in words."""
    tasks = architecture_table().pipelines_for_architecture(architecture)
    return f"runs {' or '.join(tasks)}" if tasks else "runs none of the leaderboard's tasks"


def _check_all_configs(folder: Path, files: tuple[str, ...], config: Mapping[str, Any] | None, model_id: str) -> None:
    """Size-check every config a transformers loader reads, at the root or in a pipeline component's folder, and
    scan it for auto_map and implausible sizes."""
    components = diffusers_components(config) if config is not None and is_pipeline(files) else {}
    for name in files:
        parts = PurePosixPath(name).parts
        in_scope = len(parts) == 1 or (len(parts) == 2 and parts[0] in components)
        if in_scope and parts[-1] in LOADER_CONFIGS:
            extra = read_json_object(folder / name, name, model_id)
            _refuse_auto_map(model_id, extra, name)
            _check_plausible_size(model_id, extra, name)


def _check_plausible_size(model_id: str, config: Mapping[str, Any], name: str) -> None:
    implied = implied_parameters(config)
    if implied > MAX_IMPLIED_PARAMETERS:
        raise ModelCheckError(
            ErrorKind.UNSUPPORTED_ARCHITECTURE,
            f"{name} of model {model_id} describes an implausibly large model (about {implied:.2e} parameters from "
            "its layer sizes); refusing to build it.",
        )


def implied_parameters(config: Mapping[str, Any]) -> int:
    """A rough parameter count from a config's sizes: 12 * width^2 per layer plus the embeddings, summed over
    nested sub-configs (text_config, vision_config...). Only used to refuse absurd configs."""
    width = _largest(config, _WIDTH_KEYS)
    depth = max(_largest(config, _DEPTH_KEYS), sum(_largest(config, (k,)) for k in _SEQ2SEQ_DEPTH_KEYS))
    vocab = _largest(config, ("vocab_size",))
    own = 12 * width * width * depth + vocab * width
    return own + sum(implied_parameters(v) for v in config.values() if isinstance(v, dict))


def _largest(config: Mapping[str, Any], keys: tuple[str, ...]) -> int:
    values = [config.get(k) for k in keys]
    return max((v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0), default=0)


def _some(paths: list[str], shown: int = 3) -> str:
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more
