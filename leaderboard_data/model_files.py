"""Model files: what a model folder (or a Hub repo's file list) says about a model, read without importing or
unpickling anything.

One reader for everything that looks at model files: the local model source, the worker's pre-load checks and the
runner's memory pre-checks. It lists files, reads configs and model cards with size limits, and counts parameters
from safetensors headers, each weight counted once (precision variants such as model.fp16.safetensors beside
model.safetensors hold the same tensors). It decides nothing: whether a model may be benchmarked is
`model_checks`'s job. A file that cannot be read safely is a `ModelCheckError`, since a model whose files cannot
be read is refused whoever reads them.

Example:
    >>> info = describe_folder(Path("models/acme/tiny-gpt2"), "acme/tiny-gpt2", sha="f" * 64)
    >>> info.num_parameters, info.config["architectures"]
    (40, ['GPT2LMHeadModel'])
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from leaderboard_data.errors import ModelCheckError
from leaderboard_data.records import ErrorKind

MAX_CONFIG_BYTES = 1_000_000
"""A config (config.json, model_index.json, *config.json) larger than this is refused unread."""
MAX_SAFETENSORS_HEADER_BYTES = 100_000_000
"""The safetensors format's own limit on its JSON header."""
MAX_CARD_BYTES = 1_000_000

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


@dataclass(frozen=True)
class ModelInfo:
    """What a source knows about one model at one pinned revision.

    Attributes:
        model_id: 'org/name' or 'name'.
        sha: the pinned revision: a Hub commit sha (40 hex) or a local content hash (64 hex).
        private: only visible with a token; such models are refused.
        gated: downloads need accepted conditions; such models are refused.
        pipeline_tag: the Hub's (or the model card's) task tag, e.g. 'text-generation'.
        library_name: 'transformers', 'diffusers', 'sentence-transformers'...
        files: every file of the revision, relative POSIX paths, sorted.
        config: config.json, or model_index.json for a diffusers pipeline; None when there is neither.
        num_parameters: from safetensors metadata; None when unknown.
    """

    model_id: str
    sha: str
    private: bool
    gated: bool
    pipeline_tag: str | None
    library_name: str | None
    files: tuple[str, ...]
    config: dict[str, Any] | None
    num_parameters: int | None


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
    components = diffusers_components(config) if is_pipeline(files) and config is not None else None
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


def diffusers_components(index: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Components of a diffusers pipeline: name -> (library, class); absent ones ([null, null]) are left out."""
    components: dict[str, tuple[str, str]] = {}
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list) or len(value) != 2 or value == [None, None]:
            continue
        library, cls = value
        components[name] = (str(library), str(cls))
    return components


def describe_folder(folder: Path, model_id: str, sha: str, files: tuple[str, ...] | None = None) -> ModelInfo:
    """Everything a local folder tells about its model: files, config, card metadata, parameter count.

    `files` (from `list_model_files`) saves listing the folder again when the caller has it. A local model is
    public and never gated.
    """
    if files is None:
        files = list_model_files(folder)
    config = read_model_config(folder, files, model_id)
    pipeline_tag, library_name = read_card_metadata(folder, files)
    return ModelInfo(
        model_id=model_id,
        sha=sha,
        private=False,
        gated=False,
        pipeline_tag=pipeline_tag,
        library_name=library_name,
        files=files,
        config=config,
        num_parameters=count_folder_parameters(folder, files, config, model_id),
    )


def folder_parameters(folder: Path) -> int | None:
    """Parameters of the model in `folder`, each weight counted once; None without safetensors weights.

    For the runner's memory pre-checks, on a folder the worker has already inspected.
    """
    files = list_model_files(folder)
    return count_folder_parameters(folder, files, read_model_config(folder, files, folder.name), folder.name)
