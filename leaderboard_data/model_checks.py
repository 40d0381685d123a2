"""What a model must be to be benchmarked, checked before anything of it is loaded.

Two entry points share one set of rules:
- `check_model(info, task_config)` at submission, on what the source reports (Hub metadata or a local folder);
- `inspect_model_folder(folder, ...)` in the worker, on the downloaded files, before any loader touches them.

A model is refused when it is private or gated, needs remote code, has only pickle-based weights, does not fit the
task, has an implausible config, or has no known parameter count. Every refusal is a `ModelCheckError` whose `kind`
(`records.ErrorKind`) goes into the failed request and whose message names the model in a sentence or two.

This module also reads model folders (file lists, JSON configs, model cards, safetensors headers) for the local
model source, so that `model_source` imports from here and never the other way round.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml

from leaderboard_data.configs import Pipeline, TaskConfig
from leaderboard_data.errors import SubmissionError
from leaderboard_data.records import ErrorKind

if TYPE_CHECKING:
    from leaderboard_data.model_source import ModelInfo

MAX_CONFIG_BYTES = 1_000_000
"""A config (config.json, model_index.json, *config.json) larger than this is refused unread."""
MAX_SAFETENSORS_HEADER_BYTES = 100_000_000
"""The safetensors format's own limit on its JSON header."""
MAX_IMPLIED_PARAMETERS = 10**12
"""A config whose sizes imply more parameters than this is refused before a model is built from it."""
MAX_CARD_BYTES = 1_000_000

GB = 10**9
BYTES_PER_PARAMETER = 2  # fp16 weights
MEMORY_OVERHEAD_PERCENT = 20
SIZE_CLASS_LIMITS_GB: tuple[tuple[str, int], ...] = (("A", 24), ("B", 80))
"""Size classes by the memory the model needs: A fits a 24 GB consumer GPU, B one 80 GB GPU, C needs several."""

PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
SAFETENSORS_SUFFIX = ".safetensors"
DIFFUSERS_INDEX = "model_index.json"
TRANSFORMERS_CONFIG = "config.json"
LOADER_CONFIGS = frozenset(
    {
        "config.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
        "processor_config.json",
        "video_preprocessor_config.json",
        "generation_config.json",
    }
)
"""Configs transformers reads when loading a model, its tokenizer or its processor: any may carry auto_map."""
ALLOWED_COMPONENT_LIBRARIES = frozenset({"diffusers", "transformers"})

SAFETENSORS_DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}
"""Bits per element of each safetensors dtype: a tensor's byte range must match its shape and dtype."""

_VARIANT = re.compile(r"\.(fp16|bf16|fp32|fp8|int8|ema|non_ema)(?=(-\d+-of-\d+)?\.safetensors$)")
_WIDTH_KEYS = ("hidden_size", "d_model", "n_embd", "dim", "embed_dim", "hidden_dim")
_DEPTH_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "depth")
_SEQ2SEQ_DEPTH_KEYS = ("encoder_layers", "decoder_layers")


class ModelCheckError(SubmissionError):
    """A model that cannot be benchmarked; `kind` says why for the request record, the message says it in words."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class CheckedModel:
    """A model that passed every check, with what the leaderboard needs to know of it."""

    model_id: str
    sha: str
    num_parameters: int
    size_class: str
    architecture: str | None


@dataclass(frozen=True)
class TaskFit:
    """What one pipeline accepts.

    Args:
        pipeline_tags: Hub pipeline tags accepted; a model without a tag is judged by its architecture alone.
        architectures: fnmatch patterns (case-sensitive) on the class named in config.json `architectures`, or on
            model_index.json `_class_name` for diffusers pipelines.
        libraries: libraries whose models are accepted whatever their architecture (sentence-transformers).
        diffusers: True when the task takes diffusers pipelines (model_index.json), False for transformers models.
    """

    pipeline_tags: frozenset[str]
    architectures: tuple[str, ...]
    libraries: frozenset[str] = frozenset()
    diffusers: bool = False


_SEQ2SEQ_TEXT = (
    "*BartForConditionalGeneration",  # Bart, MBart, PLBart
    "*T5ForConditionalGeneration",  # T5, MT5, UMT5, LongT5
    "Pegasus*ForConditionalGeneration",
    "BigBirdPegasusForConditionalGeneration",
    "LEDForConditionalGeneration",
    "ProphetNetForConditionalGeneration",
    "Blenderbot*ForConditionalGeneration",
    "M2M100ForConditionalGeneration",
    "NllbMoeForConditionalGeneration",
    "SwitchTransformersForConditionalGeneration",
    "FSMTForConditionalGeneration",
    "T5GemmaForConditionalGeneration",
    "MarianMTModel",
)

TASK_FITS: dict[Pipeline, TaskFit] = {
    Pipeline.TEXT_GENERATION: TaskFit(frozenset({"text-generation"}), ("*ForCausalLM", "*LMHeadModel")),
    Pipeline.SUMMARIZATION: TaskFit(frozenset({"summarization", "text2text-generation", "translation"}), _SEQ2SEQ_TEXT),
    Pipeline.EXTRACTIVE_QA: TaskFit(frozenset({"question-answering"}), ("*ForQuestionAnswering",)),
    Pipeline.TEXT_CLASSIFICATION: TaskFit(
        frozenset({"text-classification", "zero-shot-classification"}), ("*ForSequenceClassification",)
    ),
    Pipeline.SENTENCE_SIMILARITY: TaskFit(
        frozenset({"sentence-similarity", "feature-extraction"}),
        ("*BertModel", "*RobertaModel", "MPNetModel", "ElectraModel", "Deberta*Model", "T5EncoderModel"),
        libraries=frozenset({"sentence-transformers"}),
    ),
    Pipeline.IMAGE_CLASSIFICATION: TaskFit(frozenset({"image-classification"}), ("*ForImageClassification*",)),
    Pipeline.OBJECT_DETECTION: TaskFit(frozenset({"object-detection"}), ("*ForObjectDetection",)),
    Pipeline.AUTOMATIC_SPEECH_RECOGNITION: TaskFit(
        frozenset({"automatic-speech-recognition"}),
        (
            "*ForSpeechSeq2Seq",
            "WhisperForConditionalGeneration",
            "Speech2Text*ForConditionalGeneration",
            "MoonshineForConditionalGeneration",
            "SpeechEncoderDecoderModel",
            "*ForCTC",
        ),
    ),
    Pipeline.IMAGE_GENERATION: TaskFit(frozenset({"text-to-image"}), ("*Pipeline",), diffusers=True),
    Pipeline.IMAGE_CAPTIONING: TaskFit(
        frozenset({"image-to-text", "image-text-to-text"}),
        (
            "VisionEncoderDecoderModel",
            "Blip*ForConditionalGeneration",
            "InstructBlip*ForConditionalGeneration",
            "GitForCausalLM",
            "Pix2StructForConditionalGeneration",
            "Kosmos2*ForConditionalGeneration",
            "Llava*ForConditionalGeneration",
            "PaliGemmaForConditionalGeneration",
            "Idefics*ForConditionalGeneration",
            "Florence2ForConditionalGeneration",
            "*ForImageTextToText",
        ),
    ),
}


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
# Reading model folders (never imports or unpickles anything)
# ---------------------------------------------------------------------------------------------------------------


def list_model_files(folder: Path) -> tuple[str, ...]:
    """Relative POSIX paths of every file in a model folder, sorted; paths with a part starting with '.' are
    skipped (.git, .gitattributes, the Hub client's .cache), so they neither count nor change a content hash."""
    found: list[str] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        base = Path(root).relative_to(folder)
        found.extend((base / name).as_posix() for name in names if not name.startswith("."))
    return tuple(sorted(found))


def is_hidden(path: str) -> bool:
    """A path with a part starting with '.' (.gitattributes, .cache/...): never part of a model."""
    return any(part.startswith(".") for part in path.split("/"))


def check_config_size(size: int, name: str, model_id: str) -> None:
    """Refuse a config file over 1 MB before reading it: no real config comes close."""
    if size > MAX_CONFIG_BYTES:
        raise ModelCheckError(
            ErrorKind.UNSUPPORTED_ARCHITECTURE,
            f"{name} of model {model_id} is larger than {MAX_CONFIG_BYTES // 1_000_000} MB; refusing to read it.",
        )


def parse_json_object(data: bytes, name: str, model_id: str) -> dict[str, Any]:
    """Parse a config file's bytes; anything but a JSON object of at most 1 MB is UNSUPPORTED_ARCHITECTURE."""
    check_config_size(len(data), name, model_id)
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ModelCheckError(
            ErrorKind.UNSUPPORTED_ARCHITECTURE, f"{name} of model {model_id} is not valid JSON ({exc})."
        ) from exc
    if not isinstance(value, dict):
        raise ModelCheckError(
            ErrorKind.UNSUPPORTED_ARCHITECTURE,
            f"{name} of model {model_id} must hold a JSON object, not {type(value).__name__}.",
        )
    return value


def read_json_object(path: Path, name: str, model_id: str) -> dict[str, Any]:
    """Read a config file from disk, checking its size before reading it."""
    check_config_size(path.stat().st_size, name, model_id)
    return parse_json_object(path.read_bytes(), name, model_id)


def read_model_config(folder: Path, files: Iterable[str], model_id: str) -> dict[str, Any] | None:
    """model_index.json for a diffusers pipeline, else config.json, else None."""
    present = set(files)
    for name in (DIFFUSERS_INDEX, TRANSFORMERS_CONFIG):
        if name in present:
            return read_json_object(folder / name, name, model_id)
    return None


def read_card_metadata(folder: Path, files: Iterable[str]) -> tuple[str | None, str | None]:
    """(pipeline_tag, library_name) from README.md's YAML front matter, the way the Hub reads a model card;
    the library falls back to what the files show, as the Hub infers it."""
    present = set(files)
    card: dict[str, Any] = {}
    readme = folder / "README.md"
    if "README.md" in present and readme.stat().st_size <= MAX_CARD_BYTES:
        card = _front_matter(readme.read_text(encoding="utf-8", errors="replace"))
    tag = card.get("pipeline_tag")
    library = card.get("library_name")
    return (tag if isinstance(tag, str) else None, library if isinstance(library, str) else _infer_library(present))


def _front_matter(text: str) -> dict[str, Any]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    end = next((i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---"), None)
    if end is None:
        return {}
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _infer_library(files: set[str]) -> str | None:
    if DIFFUSERS_INDEX in files:
        return "diffusers"
    if "modules.json" in files or "config_sentence_transformers.json" in files:
        return "sentence-transformers"
    return "transformers" if TRANSFORMERS_CONFIG in files else None


def weight_files_to_count(files: Iterable[str], config: Mapping[str, Any] | None) -> list[str]:
    """The safetensors files whose tensors make up the model, each counted once.

    A transformers model's weights are the root-level files; a diffusers pipeline's are in the folders of the
    components model_index.json names. Precision variants of one file (model.fp16.safetensors beside
    model.safetensors) hold the same tensors, so only one of them counts, the plain one if present.
    """
    files = sorted(files)
    components = _diffusers_components(config) if is_pipeline(files) and config is not None else None
    chosen: dict[str, str] = {}
    for path in files:
        pure = PurePosixPath(path)
        if pure.suffix != SAFETENSORS_SUFFIX or not _in_weight_folder(pure, components):
            continue
        key = _VARIANT.sub("", path)
        if key not in chosen or path == key:
            chosen[key] = path
    return sorted(chosen.values())


def _in_weight_folder(path: PurePosixPath, components: Mapping[str, Any] | None) -> bool:
    if components is not None:
        return len(path.parts) == 2 and path.parts[0] in components
    return len(path.parts) == 1


def is_pipeline(files: Iterable[str]) -> bool:
    """A diffusers pipeline is a repo with model_index.json at its root; its config is that file."""
    return DIFFUSERS_INDEX in files


def read_safetensors_parameters(path: Path, name: str, model_id: str) -> int:
    """Parameters in one safetensors file, from its JSON header only: the tensors are never read."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        header_len = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if header_len < 2 or header_len > min(MAX_SAFETENSORS_HEADER_BYTES, size - 8):
            raise _bad_safetensors(name, model_id, "its header length is out of range")
        raw = handle.read(header_len)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _bad_safetensors(name, model_id, "its header is not JSON") from exc
    if not isinstance(header, dict):
        raise _bad_safetensors(name, model_id, "its header is not a JSON object")
    return _count_header(header, size - 8 - header_len, name, model_id)


def _count_header(header: dict[str, Any], data_bytes: int, name: str, model_id: str) -> int:
    total = 0
    for tensor, entry in header.items():
        if tensor == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not _valid_shape(shape) or not _valid_offsets(offsets, data_bytes):
            raise _bad_safetensors(name, model_id, f"tensor {tensor[:80]!r} has an invalid shape or offsets")
        count = math.prod(shape)  # type: ignore[arg-type]
        dtype = entry.get("dtype")
        bits = SAFETENSORS_DTYPE_BITS.get(dtype) if isinstance(dtype, str) else None
        if bits is None or count * bits != 8 * (offsets[1] - offsets[0]):  # type: ignore[index]
            # A header that lies about sizes would misstate the parameter count, and so the size class.
            raise _bad_safetensors(
                name, model_id, f"tensor {tensor[:80]!r} has a byte length that does not match its shape and dtype"
            )
        total += count
    return total


def _valid_shape(shape: object) -> bool:
    return isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)


def _valid_offsets(offsets: object, data_bytes: int) -> bool:
    return (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        and 0 <= offsets[0] <= offsets[1] <= data_bytes
    )


def _bad_safetensors(name: str, model_id: str, why: str) -> ModelCheckError:
    return ModelCheckError(
        ErrorKind.UNSAFE_WEIGHTS, f"{name} of model {model_id} is not a valid safetensors file: {why}."
    )


def count_folder_parameters(
    folder: Path, files: Iterable[str], config: Mapping[str, Any] | None, model_id: str
) -> int | None:
    """Parameters of a local model from its safetensors headers; None when it has no safetensors weights."""
    weights = weight_files_to_count(files, config)
    if not weights:
        return None
    return sum(read_safetensors_parameters(folder / name, name, model_id) for name in weights)


# ---------------------------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------------------------


def check_model(info: ModelInfo, task_config: TaskConfig) -> CheckedModel:
    """Decide from a source's description whether a model can be benchmarked on a task; raises ModelCheckError."""
    return _check(
        info.model_id,
        info.sha,
        task_config,
        private=info.private,
        gated=info.gated,
        pipeline_tag=info.pipeline_tag,
        library_name=info.library_name,
        files=info.files,
        config=info.config,
        num_parameters=info.num_parameters,
    )


def inspect_model_folder(folder: Path, model_id: str, sha: str, task_config: TaskConfig) -> CheckedModel:
    """The same checks on a downloaded folder, before anything in it is loaded, plus the ones only files allow.

    Python files are refused before any file is opened; every config in the folder is size-checked and
    scanned for auto_map; the parameter count comes from the safetensors headers of the files themselves.
    """
    files = list_model_files(folder)
    _refuse_python_files(model_id, files)
    config = read_model_config(folder, files, model_id)
    _check_all_configs(folder, files, config, model_id)
    pipeline_tag, library_name = read_card_metadata(folder, files)
    _check_weights(model_id, files, config)  # before the headers are read, so a .bin-only model says so
    return _check(
        model_id,
        sha,
        task_config,
        private=False,
        gated=False,
        pipeline_tag=pipeline_tag,
        library_name=library_name,
        files=files,
        config=config,
        num_parameters=count_folder_parameters(folder, files, config, model_id),
    )


def _check(
    model_id: str,
    sha: str,
    task_config: TaskConfig,
    *,
    private: bool,
    gated: bool,
    pipeline_tag: str | None,
    library_name: str | None,
    files: tuple[str, ...],
    config: dict[str, Any] | None,
    num_parameters: int | None,
) -> CheckedModel:
    if private:
        raise ModelCheckError(
            ErrorKind.NOT_FOUND,
            f"model {model_id} is private; only public models are benchmarked, so that anyone can check a result.",
        )
    if gated:
        raise gated_refusal(model_id)
    _refuse_python_files(model_id, files)
    if config is not None and is_pipeline(files):
        _check_diffusers_code(model_id, config)
    elif config is not None:
        _refuse_auto_map(model_id, config, TRANSFORMERS_CONFIG)
    _check_weights(model_id, files, config)
    architecture = _check_task_fit(model_id, task_config, pipeline_tag, library_name, files, config)
    if config is not None:
        _check_plausible_size(model_id, config, DIFFUSERS_INDEX if is_pipeline(files) else TRANSFORMERS_CONFIG)
    if num_parameters is None:
        raise ModelCheckError(
            ErrorKind.UNSAFE_WEIGHTS,
            f"the parameter count of model {model_id} is unknown: its safetensors metadata does not give one, and a "
            "model is only benchmarked with a known size.",
        )
    return CheckedModel(model_id, sha, num_parameters, size_class(num_parameters), architecture)


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
    """A custom pipeline class, or a component from a library other than diffusers and transformers."""
    pipeline = index.get("_class_name")
    if "custom_pipeline" in index or not isinstance(pipeline, str):
        raise ModelCheckError(
            ErrorKind.REMOTE_CODE,
            f"model {model_id} needs remote code (model_index.json names a custom pipeline); models that need "
            "custom code are not benchmarked.",
        )
    for component, (library, _cls) in _diffusers_components(index).items():
        if library not in ALLOWED_COMPONENT_LIBRARIES and not _is_diffusers_pipeline_module(library):
            raise ModelCheckError(
                ErrorKind.REMOTE_CODE,
                f"model {model_id} needs remote code (component {component!r} comes from {library!r}, not diffusers "
                "or transformers); models that need custom code are not benchmarked.",
            )


def _diffusers_components(index: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Components of a diffusers pipeline: name -> (library, class); absent ones ([null, null]) are left out."""
    components: dict[str, tuple[str, str]] = {}
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or len(value) != 2 or value == [None, None]:
            continue
        library, cls = value
        components[name] = (str(library), str(cls))
    return components


@cache
def _is_diffusers_pipeline_module(library: str) -> bool:
    """Old pipelines name diffusers' own pipeline modules (e.g. 'stable_diffusion'); look on disk, import nothing."""
    if not re.fullmatch(r"[a-z0-9_]+", library):
        return False
    spec = importlib.util.find_spec("diffusers")
    locations = spec.submodule_search_locations if spec else None
    return any((Path(location) / "pipelines" / library).is_dir() for location in locations or ())


def _check_weights(model_id: str, files: tuple[str, ...], config: Mapping[str, Any] | None) -> None:
    """Refuse a model whose weights (or a component's weights) exist only in pickle-based formats."""
    if config is not None and is_pipeline(files):
        for component in _diffusers_components(config):
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


def _check_task_fit(
    model_id: str,
    task_config: TaskConfig,
    pipeline_tag: str | None,
    library_name: str | None,
    files: tuple[str, ...],
    config: Mapping[str, Any] | None,
) -> str | None:
    """The model's architecture if it fits the task; WRONG_TASK or UNSUPPORTED_ARCHITECTURE otherwise."""
    fit = TASK_FITS[task_config.pipeline]
    task = task_config.task
    if config is None:
        raise ModelCheckError(
            ErrorKind.UNSUPPORTED_ARCHITECTURE,
            f"model {model_id} has neither config.json nor model_index.json, so its architecture is unknown.",
        )
    if pipeline_tag is not None and pipeline_tag not in fit.pipeline_tags:
        raise ModelCheckError(
            ErrorKind.WRONG_TASK,
            f"model {model_id} is tagged {pipeline_tag!r}; task {task} takes models tagged "
            f"{' or '.join(sorted(fit.pipeline_tags))}.",
        )
    if is_pipeline(files) != fit.diffusers:
        kind = "a diffusers pipeline (model_index.json)" if fit.diffusers else "a transformers model (config.json)"
        raise ModelCheckError(ErrorKind.WRONG_TASK, f"task {task} takes {kind}, which model {model_id} is not.")
    if fit.diffusers:
        return _diffusers_architecture(model_id, task, fit, config)
    return _transformers_architecture(model_id, task, fit, library_name, config)


def _diffusers_architecture(model_id: str, task: str, fit: TaskFit, index: Mapping[str, Any]) -> str:
    name = str(index.get("_class_name"))
    if not _matches(name, fit.architectures):
        raise ModelCheckError(
            ErrorKind.WRONG_TASK,
            f"model {model_id} is a {name}; task {task} needs a diffusers pipeline like {_patterns(fit)}.",
        )
    return name


def _transformers_architecture(
    model_id: str, task: str, fit: TaskFit, library_name: str | None, config: Mapping[str, Any]
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
    fitting = [n for n in names if _matches(n, fit.architectures)]
    if not fitting and not by_library:
        raise ModelCheckError(
            ErrorKind.WRONG_TASK,
            f"model {model_id} is a {names[0]}; task {task} needs an architecture like {_patterns(fit)}.",
        )
    architecture = (fitting or names)[0]
    if architecture not in _transformers_names():
        raise ModelCheckError(
            ErrorKind.UNSUPPORTED_ARCHITECTURE,
            f"model {model_id} is a {architecture}, which the installed transformers does not implement; models "
            "that bring their own code are not benchmarked.",
        )
    return architecture


@cache
def _transformers_names() -> frozenset[str]:
    """Every name transformers exports, listed without importing torch or any model code."""
    import transformers

    return frozenset(dir(transformers))


def _check_all_configs(folder: Path, files: tuple[str, ...], config: Mapping[str, Any] | None, model_id: str) -> None:
    """Size-check every config a transformers loader reads, at the root or in a pipeline component's folder, and
    scan it for auto_map and implausible sizes."""
    components = _diffusers_components(config) if config is not None and is_pipeline(files) else {}
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


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


def _patterns(fit: TaskFit) -> str:
    return ", ".join(fit.architectures[:4]) + (", ..." if len(fit.architectures) > 4 else "")


def _some(paths: list[str], shown: int = 3) -> str:
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more
