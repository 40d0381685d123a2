"""Helpers shared by the vision, audio and image-generation tasks: safe model loading with classified failures,
dataset rows by role, image and audio decoding, and a streamer that marks the prefill/decode boundary.
"""

from __future__ import annotations

import io
import json
import wave
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers.generation.streamers import BaseStreamer

from leaderboard_data.configs import Device, GenerationArgs, TaskConfig
from leaderboard_data.records import ErrorKind
from runner.errors import BenchmarkFailure
from runner.tasks.base import BenchmarkTask, LoadedModelInfo, PhaseMarker, count_parameters

# --------------------------------------------------------------------------------------------- model loading


def torch_dtype(precision: str) -> torch.dtype:
    """The torch dtype named by a precision string such as "float32"."""
    dtype = getattr(torch, precision, None)
    if not isinstance(dtype, torch.dtype):
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"unknown precision '{precision}'")
    return dtype


def require_safetensors(folder: Path) -> None:
    """Refuse a folder without .safetensors weights: only those are loaded, and pickled weights can run code."""
    if not any(folder.glob("*.safetensors")):
        pickled = sorted(p.name for p in folder.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".ckpt", ".pkl"})
        found = f" (found {', '.join(pickled)})" if pickled else ""
        raise BenchmarkFailure(ErrorKind.UNSAFE_WEIGHTS, f"{folder.name}: no .safetensors weights{found}")


def load_auto_config(model_dir: Path) -> Any:
    """Read config.json into a transformers config, refusing remote code and architectures transformers lacks."""
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    config_path = model_dir / "config.json"
    if not config_path.is_file():
        if (model_dir / "model_index.json").is_file():
            raise BenchmarkFailure(ErrorKind.WRONG_TASK, "a diffusers pipeline, not a transformers model")
        raise BenchmarkFailure(ErrorKind.UNSUPPORTED_ARCHITECTURE, "the model folder has no config.json")
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BenchmarkFailure(ErrorKind.UNSUPPORTED_ARCHITECTURE, f"config.json is not valid JSON: {exc}") from exc
    model_type = raw.get("model_type")
    if model_type not in CONFIG_MAPPING:
        if "auto_map" in raw:
            raise BenchmarkFailure(ErrorKind.REMOTE_CODE, f"model type '{model_type}' needs the repository's own code")
        raise BenchmarkFailure(ErrorKind.UNSUPPORTED_ARCHITECTURE, f"model type '{model_type}' is unknown here")
    return AutoConfig.from_pretrained(model_dir, trust_remote_code=False)


def _mapped_class_names(auto_cls: Any, config: Any) -> set[str]:
    """Names of the model classes an Auto* class builds for this config; empty when the config does not fit."""
    mapping = auto_cls._model_mapping
    if type(config) not in mapping:
        return set()
    mapped = mapping[type(config)]
    classes = mapped if isinstance(mapped, tuple | list) else (mapped,)
    return {cls.__name__ for cls in classes}


def check_task_fit(auto_cls: Any, config: Any, task_title: str) -> None:
    """WRONG_TASK unless `auto_cls` has a head for this config and the checkpoint declares that head."""
    names = _mapped_class_names(auto_cls, config)
    if not names:
        raise BenchmarkFailure(ErrorKind.WRONG_TASK, f"a '{config.model_type}' model cannot do {task_title}")
    declared = set(getattr(config, "architectures", None) or [])
    if declared and not declared & names:
        raise BenchmarkFailure(
            ErrorKind.WRONG_TASK,
            f"the checkpoint is a {', '.join(sorted(declared))}; {task_title} needs {', '.join(sorted(names))}",
        )


def load_transformers_model(auto_cls: Any, model_dir: Path, task_title: str, device: Device, precision: str) -> Any:
    """Load a transformers model for one task: safetensors only, no remote code, on the device, in eval mode."""
    config = load_auto_config(model_dir)
    check_task_fit(auto_cls, config, task_title)
    require_safetensors(model_dir)
    with classified_load_errors("the model"):
        model = auto_cls.from_pretrained(
            model_dir, use_safetensors=True, trust_remote_code=False, dtype=torch_dtype(precision)
        )
        return model.to(device).eval()


@contextmanager
def classified_load_errors(what: str) -> Iterator[None]:
    """Turn out-of-memory and missing optional libraries (timm, sentencepiece...) while loading into failures."""
    try:
        yield
    except torch.OutOfMemoryError as exc:
        raise BenchmarkFailure(ErrorKind.OUT_OF_MEMORY, f"loading {what}: {exc}") from exc
    except ImportError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise BenchmarkFailure(
            ErrorKind.UNSUPPORTED_ARCHITECTURE, f"{what} needs a library this runner lacks: {reason}"
        ) from exc


def config_int(config: Any, names: tuple[str, ...], default: int) -> int:
    """The first of `names` that `config` (or its vision/encoder sub-config) sets to a positive int, else default."""
    for holder in (config, getattr(config, "vision_config", None), getattr(config, "encoder", None)):
        for name in names:
            value = getattr(holder, name, None)
            if isinstance(value, list | tuple) and value:
                value = max(value)
            if isinstance(value, int) and value > 0:
                return value
    return default


def to_device(batch: Mapping[str, Any], device: Device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Move a processor's output to the device; floating tensors take the model's dtype, integer ones keep theirs."""
    moved = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            moved[key] = value.to(device, dtype=dtype) if value.is_floating_point() else value.to(device)
    return moved


# --------------------------------------------------------------------------------------------- dataset rows


def load_rows(config: TaskConfig, dataset_path: str, num_samples: int, roles: tuple[str, ...]) -> list[dict[str, Any]]:
    """The first `num_samples` rows, keyed by role (e.g. "image"); audio columns are left undecoded.

    Audio is read as stored bytes because datasets decodes Audio with torchcodec, which may be missing; the tasks
    decode it themselves (`decode_audio`).
    """
    import datasets

    unnamed = [role for role in roles if role not in config.dataset.columns]
    if unnamed:
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"config {config.task}: dataset.columns lacks {', '.join(unnamed)}")
    columns = {role: config.dataset.columns[role] for role in roles}
    try:
        table = datasets.load_dataset(dataset_path, config.dataset.name, split=config.dataset.split)
    except Exception as exc:  # datasets raises many unrelated types for a missing or unreachable dataset
        message = f"cannot read dataset {dataset_path} ({config.dataset.split}): {exc}"
        raise BenchmarkFailure(ErrorKind.DATASET_UNAVAILABLE, message) from exc
    missing = sorted({c for c in columns.values() if c not in table.column_names})
    if missing:
        raise BenchmarkFailure(
            ErrorKind.INTERNAL,
            f"dataset {dataset_path} has no column {', '.join(missing)} (columns: {', '.join(table.column_names)})",
        )
    for column in columns.values():
        if isinstance(table.features[column], datasets.Audio):
            table = table.cast_column(column, datasets.Audio(decode=False))
    table = table.select(range(min(num_samples, len(table))))
    return [{role: row[column] for role, column in columns.items()} for row in table]


# --------------------------------------------------------------------------------------------- images


def to_rgb_image(value: Any) -> Image.Image:
    """An RGB PIL image from a decoded image, an undecoded {bytes, path} cell, or an HxWxC array."""
    if isinstance(value, Image.Image):
        image = value
    elif isinstance(value, Mapping) and value.get("bytes"):
        image = Image.open(io.BytesIO(value["bytes"]))
    elif isinstance(value, Mapping) and value.get("path"):
        image = Image.open(value["path"])
    elif isinstance(value, np.ndarray):
        image = Image.fromarray(value)
    else:
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"cannot read an image from a {type(value).__name__}")
    return image if image.mode == "RGB" else image.convert("RGB")


class ImageInputTask(BenchmarkTask):
    """A task whose query is one image of the dataset's `image` column, fed through the model's image processor:
    classification, detection and captioning read rows, process images and report their input size alike."""

    model: Any
    processor: Any

    def load_samples(self, dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
        return load_rows(self.config, dataset_path, num_samples, ("image",))

    def image_inputs(self, image: Image.Image) -> dict[str, torch.Tensor]:
        """The processor's tensors for one image, on the device; floating ones in the model's dtype."""
        batch = self.processor(images=image, return_tensors="pt")
        return to_device(batch, self.device, torch_dtype(self.precision))

    def image_model_info(self) -> LoadedModelInfo:
        """The loaded model's size, and as input length the image side its config declares (else the config's)."""
        size = config_int(self.model.config, ("image_size",), self.config.max_input_length)
        return LoadedModelInfo(num_parameters=count_parameters(self.model), max_input_length=size)


# --------------------------------------------------------------------------------------------- audio


def _pcm_to_float(frames: bytes, sample_width: int) -> np.ndarray:
    """Little-endian PCM frames as float32 in [-1, 1]; WAV stores 8-bit unsigned and wider widths signed."""
    if sample_width == 1:
        return (np.frombuffer(frames, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if sample_width == 3:
        raw = np.frombuffer(frames, dtype=np.uint8).reshape(-1, 3)
        padded = np.zeros((raw.shape[0], 4), dtype=np.uint8)
        padded[:, 1:] = raw
        return padded.view("<i4").reshape(-1).astype(np.float32) / 2.0**31
    dtype = {2: "<i2", 4: "<i4"}.get(sample_width)
    if dtype is None:
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"unsupported WAV sample width {sample_width} bytes")
    return np.frombuffer(frames, dtype=dtype).astype(np.float32) / float(2 ** (8 * sample_width - 1))


def _decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            channels, width, rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise BenchmarkFailure(
            ErrorKind.INTERNAL, f"cannot decode audio ({exc}); only PCM WAV is readable without soundfile"
        ) from exc
    samples = _pcm_to_float(frames, width).reshape(-1, channels)
    return samples.mean(axis=1), rate


def _decode_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Decode an audio file's bytes to mono float32: soundfile (FLAC, MP3, OGG, WAV) when installed, else WAV."""
    try:
        import soundfile
    except ImportError:
        return _decode_wav(data)
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except RuntimeError as exc:  # soundfile.LibsndfileError
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"cannot decode audio: {exc}") from exc
    return samples.mean(axis=1), int(rate)


def decode_audio(value: Any) -> tuple[np.ndarray, int]:
    """Mono float32 samples and their rate from an {array, sampling_rate} cell or an undecoded {bytes, path} cell."""
    if not isinstance(value, Mapping):
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"cannot read audio from a {type(value).__name__}")
    if value.get("array") is not None:
        samples = np.asarray(value["array"], dtype=np.float32)
        return (samples if samples.ndim == 1 else samples.mean(axis=0)), int(value["sampling_rate"])
    if value.get("bytes"):
        return _decode_bytes(value["bytes"])
    if value.get("path"):
        return _decode_bytes(Path(value["path"]).read_bytes())
    raise BenchmarkFailure(ErrorKind.INTERNAL, "an audio cell with neither samples, bytes nor a path")


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Linear-interpolation resampling: cheap and good enough for the benchmark, where only the work counts."""
    if rate == target_rate or samples.size == 0:
        return samples
    length = max(1, round(samples.size * target_rate / rate))
    positions = np.arange(length, dtype=np.float64) * (rate / target_rate)
    return np.interp(positions, np.arange(samples.size), samples).astype(np.float32)


# --------------------------------------------------------------------------------------------- generation


class PhaseStreamer(BaseStreamer):
    """A `generate` streamer that calls `mark("decode")` right after the first new token and counts tokens.

    `generate` first puts the prompt ids, then each step's new token ids (one per sequence in the batch).
    """

    def __init__(self, mark: PhaseMarker | None) -> None:
        self._mark = mark
        self._seen_prompt = False
        self.prompt_tokens = 0
        self.new_tokens = 0
        self.sequence: torch.Tensor | None = None
        """The first sequence `generate` returned, set after it (the output to score for quality)."""

    def put(self, value: torch.Tensor) -> None:
        if not self._seen_prompt:
            self._seen_prompt = True
            self.prompt_tokens = int(value.shape[-1])
            return
        first = self.new_tokens == 0
        self.new_tokens += value.numel()
        if first and self._mark is not None:
            self._mark("decode")

    def end(self) -> None:
        """Nothing to flush: the streamer only counts."""


def generate_with_phases(
    model: Any, inputs: Mapping[str, Any], args: GenerationArgs, mark: PhaseMarker | None, **extra: Any
) -> PhaseStreamer:
    """Greedy `generate` of exactly `args.max_new_tokens` (min = max in the configs), marking decode on the way."""
    streamer = PhaseStreamer(mark)
    with torch.inference_mode():
        output = model.generate(
            **inputs,
            max_new_tokens=args.max_new_tokens,
            min_new_tokens=args.min_new_tokens,
            do_sample=args.do_sample,
            num_beams=args.num_beams,
            use_cache=args.use_cache,
            streamer=streamer,
            **extra,
        )
    sequences = output if isinstance(output, torch.Tensor) else getattr(output, "sequences", None)
    if isinstance(sequences, torch.Tensor) and streamer.new_tokens:
        streamer.sequence = sequences[0, -streamer.new_tokens :]
    return streamer


def first_token_only(args: GenerationArgs) -> GenerationArgs:
    """The same generation cut to its prefill: one new token."""
    return args.model_copy(update={"max_new_tokens": 1, "min_new_tokens": 1})


def generation_args(config: TaskConfig) -> GenerationArgs:
    if config.generation is None:
        raise BenchmarkFailure(ErrorKind.INTERNAL, f"config {config.task} has no 'generation' section")
    return config.generation
