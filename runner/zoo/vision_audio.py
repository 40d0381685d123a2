"""Tiny offline models and datasets for the vision, audio and image-generation tasks.

Models are random-initialised from seeded configs of real architectures (ViT, DETR, Whisper, ViT+GPT-2,
Stable Diffusion) and saved as safetensors with their processor and tokenizer files, so each folder loads with
the same Auto* / DiffusionPipeline calls as a Hub checkout. Random weights cost the same compute as trained
ones, which is all an energy benchmark needs. Datasets are synthetic shapes, tones and prompts written as
parquet with datasets' feature metadata, so `datasets.load_dataset(folder, split="train")` reads them back.

Example:
    >>> build_media_model(Pipeline.IMAGE_CLASSIFICATION, Path("/tmp/vit"), size="tiny")  # doctest: +SKIP
    >>> write_media_dataset(Pipeline.IMAGE_CLASSIFICATION, Path("/tmp/images"), num_rows=8)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import itertools
import tempfile
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from leaderboard_data.configs import Pipeline

SIZES = ("tiny", "small", "medium")
MEDIA_PIPELINES = frozenset(
    {
        Pipeline.IMAGE_CLASSIFICATION,
        Pipeline.OBJECT_DETECTION,
        Pipeline.AUTOMATIC_SPEECH_RECOGNITION,
        Pipeline.IMAGE_GENERATION,
        Pipeline.IMAGE_CAPTIONING,
    }
)

AUDIO_SAMPLING_RATE = 16_000
IMAGE_SIZE = 32
"""Side in pixels of the square inputs the tiny vision encoders take, and of the generated images."""

COLORS = ("red", "green", "blue", "yellow", "purple", "orange", "black", "white")
SHAPES = ("circle", "square", "triangle")
BACKGROUNDS = ("plain", "striped", "dark", "bright", "gradient")
STYLES = ("a photo", "a drawing", "a painting", "a sketch")
WHISPER_SPECIAL_TOKENS = (
    "<|startoftranscript|>",
    "<|en|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
)
END_OF_TEXT = "<|endoftext|>"


@dataclass(frozen=True)
class _Dims:
    """Width and depth of one size class; every architecture here scales with these."""

    hidden: int
    layers: int
    heads: int

    @property
    def ffn(self) -> int:
        return 4 * self.hidden


_DIMS = {"tiny": _Dims(32, 1, 2), "small": _Dims(64, 2, 4), "medium": _Dims(128, 4, 4)}


# --------------------------------------------------------------------------------------------- tokenizers


def _corpus() -> Iterator[str]:
    """Caption-like English sentences: enough for a small BPE vocabulary without any download."""
    for style, color, shape, background in itertools.product(STYLES, COLORS, SHAPES, BACKGROUNDS):
        yield f"{style} of a {color} {shape} on a {background} background."
    yield "the quick brown fox jumps over the lazy dog while a speaker reads the news aloud in a quiet room."


def _train_bpe(folder: Path, *, byte_level: bool, special_tokens: list[str], vocab_size: int = 500) -> None:
    """Train a BPE model on `_corpus()` and save its vocab.json and merges.txt into `folder`.

    Byte-level BPE is GPT-2's and Whisper's scheme; CLIP's splits on whitespace and ends words with `</w>`.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    if byte_level:
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet, special_tokens=special_tokens)
    else:
        tokenizer = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
        tokenizer.normalizer = normalizers.Lowercase()
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens, end_of_word_suffix="</w>")
    tokenizer.train_from_iterator(_corpus(), trainer)
    tokenizer.model.save(str(folder))


def _load_trained(tokenizer_cls: Any, *, byte_level: bool, special_tokens: list[str], **kwargs: Any) -> Any:
    """A transformers tokenizer built from freshly trained files (constructor vocab_file= arguments are ignored)."""
    with tempfile.TemporaryDirectory() as tmp:
        _train_bpe(Path(tmp), byte_level=byte_level, special_tokens=special_tokens)
        return tokenizer_cls.from_pretrained(tmp, **kwargs)


# --------------------------------------------------------------------------------------------- models


def _encoder_decoder_dims(dims: _Dims) -> dict[str, Any]:
    """Width, depth, heads and feed-forward size of both halves of an encoder-decoder, in the BART-style config
    keywords DETR and Whisper share, so the two scale with a size class in the same way."""
    return {
        "d_model": dims.hidden,
        "encoder_layers": dims.layers,
        "decoder_layers": dims.layers,
        "encoder_attention_heads": dims.heads,
        "decoder_attention_heads": dims.heads,
        "encoder_ffn_dim": dims.ffn,
        "decoder_ffn_dim": dims.ffn,
    }


def _vit_config(dims: _Dims, **extra: Any) -> Any:
    from transformers import ViTConfig

    return ViTConfig(
        image_size=IMAGE_SIZE,
        patch_size=8,
        hidden_size=dims.hidden,
        num_hidden_layers=dims.layers,
        num_attention_heads=dims.heads,
        intermediate_size=dims.ffn,
        **extra,
    )


def _vit_processor() -> Any:
    from transformers import ViTImageProcessor

    return ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})


def _build_image_classifier(out_dir: Path, dims: _Dims) -> None:
    from transformers import ViTForImageClassification

    labels = {i: f"{color} {shape}" for i, (color, shape) in enumerate(itertools.product(COLORS, SHAPES))}
    config = _vit_config(dims, id2label=labels, label2id={name: i for i, name in labels.items()})
    ViTForImageClassification(config).save_pretrained(out_dir, safe_serialization=True)
    _vit_processor().save_pretrained(out_dir)


def _build_object_detector(out_dir: Path, dims: _Dims) -> None:
    """DETR with a transformers ResNet backbone: the detr-resnet-50 design, no timm needed."""
    from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor, ResNetConfig

    backbone = ResNetConfig(
        embedding_size=dims.hidden // 4,
        hidden_sizes=[dims.hidden // 4, dims.hidden // 2],
        depths=[1, max(1, dims.layers // 2)],
        layer_type="basic",
    )
    labels = dict(enumerate(SHAPES))
    config = DetrConfig(
        backbone_config=backbone,
        **_encoder_decoder_dims(dims),
        num_queries=10 * dims.layers,
        id2label=labels,
        label2id={name: i for i, name in labels.items()},
    )
    DetrForObjectDetection(config).save_pretrained(out_dir, safe_serialization=True)
    DetrImageProcessor(size={"shortest_edge": 2 * IMAGE_SIZE, "longest_edge": 3 * IMAGE_SIZE}).save_pretrained(out_dir)


def _build_speech_recognizer(out_dir: Path, dims: _Dims) -> None:
    """Whisper with its special tokens and a generation config that fixes language, task and no timestamps."""
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    tokenizer = _load_trained(WhisperTokenizer, byte_level=True, special_tokens=[END_OF_TEXT])
    tokenizer.add_special_tokens({"additional_special_tokens": list(WHISPER_SPECIAL_TOKENS)})
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in (END_OF_TEXT, *WHISPER_SPECIAL_TOKENS)}
    eos, start = ids[END_OF_TEXT], ids["<|startoftranscript|>"]
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        **_encoder_decoder_dims(dims),
        max_source_positions=1500,  # Whisper's 30 s window: 3000 mel frames
        max_target_positions=64,
        pad_token_id=eos,
        bos_token_id=eos,
        eos_token_id=eos,
        decoder_start_token_id=start,
        begin_suppress_tokens=[eos],
        suppress_tokens=[],
    )
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=start,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=eos,
        max_length=config.max_target_positions,
        is_multilingual=True,
        lang_to_id={"<|en|>": ids["<|en|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"],
        prev_sot_token_id=ids["<|startofprev|>"],
        begin_suppress_tokens=[eos],
        suppress_tokens=[],
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    feature_extractor = WhisperFeatureExtractor(feature_size=80, sampling_rate=AUDIO_SAMPLING_RATE)
    WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(out_dir)


def _build_image_captioner(out_dir: Path, dims: _Dims) -> None:
    """A ViT encoder with a GPT-2 decoder cross-attending to it (the vit-gpt2 captioning design)."""
    from transformers import GenerationConfig, GPT2Config, GPT2Tokenizer, VisionEncoderDecoderConfig
    from transformers import VisionEncoderDecoderModel as Captioner

    tokenizer = _load_trained(GPT2Tokenizer, byte_level=True, special_tokens=[END_OF_TEXT])
    eos = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    decoder = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=64,
        n_embd=dims.hidden,
        n_layer=dims.layers,
        n_head=dims.heads,
        add_cross_attention=True,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(_vit_config(dims), decoder)
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = eos
    model = Captioner(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=eos, bos_token_id=eos, eos_token_id=eos, pad_token_id=eos
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    _vit_processor().save_pretrained(out_dir)


def _unet_blocks(dims: _Dims) -> tuple[tuple[int, ...], tuple[str, ...], tuple[str, ...]]:
    """Channels and block types of the UNet: two resolution levels, three for the medium size."""
    channels = (dims.hidden, 2 * dims.hidden) if dims.layers < 4 else (dims.hidden // 2, dims.hidden, 2 * dims.hidden)
    down = ("CrossAttnDownBlock2D",) * (len(channels) - 1) + ("DownBlock2D",)
    up = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (len(channels) - 1)
    return channels, down, up


def _build_image_generator(out_dir: Path, dims: _Dims) -> None:
    """Stable Diffusion: CLIP text encoder, conditional UNet, KL autoencoder, DDIM; 32x32 images."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tokenizer = _load_trained(
        CLIPTokenizer, byte_level=False, special_tokens=["<|startoftext|>", END_OF_TEXT], model_max_length=77
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=dims.hidden,
            intermediate_size=dims.ffn,
            num_hidden_layers=dims.layers,
            num_attention_heads=dims.heads,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    channels, down, up = _unet_blocks(dims)
    unet = UNet2DConditionModel(
        sample_size=IMAGE_SIZE // 2,
        block_out_channels=channels,
        down_block_types=down,
        up_block_types=up,
        layers_per_block=1,
        cross_attention_dim=dims.hidden,
        attention_head_dim=8,
        norm_num_groups=16,
    )
    vae = AutoencoderKL(
        block_out_channels=(16, 32),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=16,
        sample_size=IMAGE_SIZE,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, steps_offset=1
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out_dir, safe_serialization=True)  # type: ignore[attr-defined]


_MODEL_BUILDERS: dict[Pipeline, Callable[[Path, _Dims], None]] = {
    Pipeline.IMAGE_CLASSIFICATION: _build_image_classifier,
    Pipeline.OBJECT_DETECTION: _build_object_detector,
    Pipeline.AUTOMATIC_SPEECH_RECOGNITION: _build_speech_recognizer,
    Pipeline.IMAGE_GENERATION: _build_image_generator,
    Pipeline.IMAGE_CAPTIONING: _build_image_captioner,
}


def build_media_model(pipeline: Pipeline, out_dir: Path, *, size: str = "tiny", seed: int = 0) -> Path:
    """Write a random-init model for `pipeline` into `out_dir`, laid out like a Hub checkout; returns `out_dir`.

    Same (pipeline, size, seed) gives the same weights. Sizes grow width and depth together.
    """
    if pipeline not in _MODEL_BUILDERS:
        raise ValueError(f"no media model for pipeline {pipeline.value}; known: {', '.join(sorted(_MODEL_BUILDERS))}")
    if size not in _DIMS:
        raise ValueError(f"unknown size '{size}'; choose one of {', '.join(SIZES)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    _MODEL_BUILDERS[pipeline](out_dir, _DIMS[size])
    return out_dir


# --------------------------------------------------------------------------------------------- datasets


def _synthetic_image(rng: np.random.Generator) -> Image.Image:
    """A gradient background with one to three coloured shapes, 24 to 64 pixels a side."""
    width, height = (int(v) for v in rng.integers(24, 65, size=2))
    start, stop = rng.integers(0, 256, size=(2, 3))
    ramp = np.linspace(0.0, 1.0, width)[None, :, None]
    pixels = np.broadcast_to(start + (stop - start) * ramp, (height, width, 3)).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(pixels), mode="RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):
        x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
        x1, y1 = x0 + int(rng.integers(6, width // 2 + 1)), y0 + int(rng.integers(6, height // 2 + 1))
        fill = tuple(int(c) for c in rng.integers(0, 256, size=3))
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        if shape == "circle":
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif shape == "square":
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        else:
            draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=fill)
    return image


def _labelled_image(rng: np.random.Generator) -> tuple[Image.Image, str]:
    """A synthetic image with one large shape in a named colour on top; its label names it ("red circle"), as the
    demo classifiers' id2label do (demo data: the label follows from how the image was drawn)."""
    image = _synthetic_image(rng)
    color, shape = COLORS[int(rng.integers(len(COLORS)))], SHAPES[int(rng.integers(len(SHAPES)))]
    width, height = image.size
    box = (width // 4, height // 4, 3 * width // 4, 3 * height // 4)
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse(box, fill=color)
    elif shape == "square":
        draw.rectangle(box, fill=color)
    else:
        draw.polygon([(box[0], box[3]), ((box[0] + box[2]) // 2, box[1]), (box[2], box[3])], fill=color)
    return image, f"{color} {shape}"


def wav_bytes(samples: np.ndarray, sampling_rate: int) -> bytes:
    """Mono float samples in [-1, 1] as a 16-bit PCM WAV file."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sampling_rate)
        writer.writeframes(pcm.tobytes())
    return buffer.getvalue()


def _synthetic_audio(rng: np.random.Generator) -> bytes:
    """One to two seconds of one to three tones under a fade envelope, with a little noise, at 16 kHz."""
    seconds = float(rng.uniform(1.0, 2.0))
    t = np.arange(int(seconds * AUDIO_SAMPLING_RATE)) / AUDIO_SAMPLING_RATE
    tones = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(100.0, 1000.0, size=int(rng.integers(1, 4))))
    envelope = np.minimum(1.0, np.minimum(t, seconds - t) * 10)
    samples = 0.3 * tones * envelope + 0.02 * rng.standard_normal(t.size)
    return wav_bytes(samples, AUDIO_SAMPLING_RATE)


def _synthetic_prompt(rng: np.random.Generator) -> str:
    pick = [options[int(rng.integers(len(options)))] for options in (STYLES, COLORS, SHAPES, BACKGROUNDS)]
    return f"{pick[0]} of a {pick[1]} {pick[2]} on a {pick[3]} background"


def _dataset(pipeline: Pipeline, num_rows: int, rng: np.random.Generator) -> Any:
    """The rows as a `datasets.Dataset` whose features carry the Image/Audio types."""
    import datasets

    if pipeline == Pipeline.AUTOMATIC_SPEECH_RECOGNITION:
        # Audio.encode_example needs torchcodec; casting stored {bytes, path} structs does not.
        cells = [{"bytes": _synthetic_audio(rng), "path": None} for _ in range(num_rows)]
        features = datasets.Features({"audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}})
        table = datasets.Dataset.from_dict({"audio": cells}, features=features)
        return table.cast_column("audio", datasets.Audio(sampling_rate=AUDIO_SAMPLING_RATE))
    if pipeline == Pipeline.IMAGE_GENERATION:
        return datasets.Dataset.from_dict({"prompt": [_synthetic_prompt(rng) for _ in range(num_rows)]})
    if pipeline == Pipeline.IMAGE_CLASSIFICATION:
        labelled = [_labelled_image(rng) for _ in range(num_rows)]
        features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("string")})
        columns = {"image": [image for image, _ in labelled], "label": [label for _, label in labelled]}
        return datasets.Dataset.from_dict(columns, features=features)
    images = [_synthetic_image(rng) for _ in range(num_rows)]
    return datasets.Dataset.from_dict({"image": images}, features=datasets.Features({"image": datasets.Image()}))


def write_media_dataset(pipeline: Pipeline, out_dir: Path, num_rows: int, *, seed: int = 0) -> Path:
    """Write `num_rows` synthetic rows for `pipeline` as `out_dir/data/train-00000-of-00001.parquet`.

    Columns match the task configs: `image` (classification, detection, captioning), `audio` (speech
    recognition, 16 kHz WAV bytes) or `prompt` (image generation). Returns `out_dir`.
    """
    if pipeline not in MEDIA_PIPELINES:
        raise ValueError(f"no media dataset for pipeline {pipeline.value}")
    if num_rows <= 0:
        raise ValueError("num_rows must be positive")
    data_dir = out_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    table = _dataset(pipeline, num_rows, np.random.default_rng(seed))
    table.to_parquet(str(data_dir / "train-00000-of-00001.parquet"))
    return out_dir
