"""Vision, audio and image-generation tasks run end to end on tiny offline models and synthetic datasets."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from leaderboard_data.configs import Pipeline, TaskConfig, load_task_configs
from leaderboard_data.records import ErrorKind
from runner.errors import BenchmarkFailure
from runner.tasks._media_common import PhaseStreamer, decode_audio, resample
from runner.tasks.automatic_speech_recognition import SpeechRecognitionTask
from runner.tasks.base import BenchmarkTask
from runner.tasks.image_captioning import ImageCaptioningTask
from runner.tasks.image_classification import ImageClassificationTask
from runner.tasks.image_generation import ImageGenerationTask
from runner.tasks.object_detection import ObjectDetectionTask
from runner.zoo.vision_audio import IMAGE_SIZE, SIZES, build_media_model, wav_bytes, write_media_dataset

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
TASKS: dict[Pipeline, type[BenchmarkTask]] = {
    Pipeline.IMAGE_CLASSIFICATION: ImageClassificationTask,
    Pipeline.OBJECT_DETECTION: ObjectDetectionTask,
    Pipeline.AUTOMATIC_SPEECH_RECOGNITION: SpeechRecognitionTask,
    Pipeline.IMAGE_GENERATION: ImageGenerationTask,
    Pipeline.IMAGE_CAPTIONING: ImageCaptioningTask,
}
TWO_PHASE = (Pipeline.AUTOMATIC_SPEECH_RECOGNITION, Pipeline.IMAGE_CAPTIONING)
ONE_PHASE = (Pipeline.IMAGE_CLASSIFICATION, Pipeline.OBJECT_DETECTION, Pipeline.IMAGE_GENERATION)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Two OpenMP threads on a shared two-core machine spin against each other and slow convolutions 20-fold."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def configs() -> dict[Pipeline, TaskConfig]:
    """The real configs; image generation draws at the tiny zoo pipeline's size instead of the config's 512 x 512,
    which takes minutes per image on a CPU."""
    configs = {config.pipeline: config for config in load_task_configs(CONFIG_DIR).values()}
    return {**configs, Pipeline.IMAGE_GENERATION: at_zoo_resolution(configs[Pipeline.IMAGE_GENERATION])}


def at_zoo_resolution(config: TaskConfig) -> TaskConfig:
    assert config.diffusion is not None
    diffusion = config.diffusion.model_copy(update={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    return config.model_copy(update={"diffusion": diffusion})


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[Pipeline, tuple[Path, Path]]:
    """(model folder, dataset folder) per pipeline, built once for the module."""
    root = tmp_path_factory.mktemp("media-zoo")
    return {
        pipeline: (
            build_media_model(pipeline, root / f"model-{pipeline.value}"),
            write_media_dataset(pipeline, root / f"data-{pipeline.value}", 3),
        )
        for pipeline in TASKS
    }


def _task(pipeline: Pipeline, model_dir: Path, configs: dict[Pipeline, TaskConfig]) -> BenchmarkTask:
    return TASKS[pipeline](configs[pipeline], model_dir, "cpu", "float32")


def _parameters_on_disk(model_dir: Path) -> int:
    """Distinct parameters in a folder's safetensors files (tied weights are stored once)."""
    return sum(t.numel() for f in model_dir.rglob("*.safetensors") for t in load_file(str(f)).values())


@pytest.mark.parametrize("pipeline", ONE_PHASE, ids=lambda p: p.value)
def test_single_phase_task_runs_each_sample(pipeline: Pipeline, zoo, configs) -> None:
    model_dir, data_dir = zoo[pipeline]
    task = _task(pipeline, model_dir, configs)
    info = task.load()
    on_disk = _parameters_on_disk(model_dir)  # also holds buffers, e.g. DETR's frozen batch-norm statistics
    assert 0.95 * on_disk <= info.num_parameters <= on_disk
    samples = task.load_samples(str(data_dir), 2)
    assert len(samples) == 2
    for sample in samples:
        marks: list[str] = []
        output = task.run(task.preprocess(sample), marks.append)
        assert marks == []
        if pipeline == Pipeline.IMAGE_GENERATION:
            assert output.images == configs[pipeline].diffusion.num_images_per_prompt
            assert 0 < output.input_tokens <= info.max_input_length == 77
        else:
            assert (output.images, output.output_tokens) == (0, 0)
    with pytest.raises(NotImplementedError):
        task.run_first_phase_only(task.preprocess(samples[0]))


def test_image_tasks_feed_tensors_on_the_device(zoo, configs) -> None:
    model_dir, data_dir = zoo[Pipeline.IMAGE_CLASSIFICATION]
    task = _task(Pipeline.IMAGE_CLASSIFICATION, model_dir, configs)
    task.load()
    prepared = task.preprocess(task.load_samples(str(data_dir), 1)[0])
    assert prepared["pixel_values"].shape == (1, 3, 32, 32)
    assert prepared["pixel_values"].device.type == "cpu" and prepared["pixel_values"].dtype == torch.float32


def test_object_detection_post_processes_boxes(zoo, configs) -> None:
    model_dir, data_dir = zoo[Pipeline.OBJECT_DETECTION]
    task = ObjectDetectionTask(configs[Pipeline.OBJECT_DETECTION], model_dir, "cpu", "float32")
    task.load()
    sample = task.load_samples(str(data_dir), 1)[0]
    prepared = task.preprocess(sample)
    assert prepared.target_size == (sample["image"].height, sample["image"].width)
    task.run(prepared, lambda phase: None)
    assert 0 <= task.last_detections <= task.model.config.num_queries


@pytest.mark.parametrize("pipeline", TWO_PHASE, ids=lambda p: p.value)
def test_generative_task_marks_decode_once_and_emits_ten_tokens(pipeline: Pipeline, zoo, configs) -> None:
    model_dir, data_dir = zoo[pipeline]
    task = _task(pipeline, model_dir, configs)
    task.load()
    assert task.phases == ("prefill", "decode")
    for sample in task.load_samples(str(data_dir), 2):
        prepared = task.preprocess(sample)
        marks: list[str] = []
        output = task.run(prepared, marks.append)
        assert marks == ["decode"]
        assert output.output_tokens == 10 and output.input_tokens >= 1
        first = task.run_first_phase_only(prepared)
        assert first.output_tokens == 1 and first.input_tokens == output.input_tokens
        if pipeline == Pipeline.AUTOMATIC_SPEECH_RECOGNITION:
            assert 1.0 <= output.audio_seconds <= 2.0 and first.audio_seconds == output.audio_seconds


def test_speech_task_accepts_decoded_arrays_at_other_rates(zoo, configs) -> None:
    model_dir, _ = zoo[Pipeline.AUTOMATIC_SPEECH_RECOGNITION]
    task = _task(Pipeline.AUTOMATIC_SPEECH_RECOGNITION, model_dir, configs)
    task.load()
    tone = np.sin(np.arange(8000 * 1.5) / 8000 * 2 * np.pi * 220).astype(np.float32)
    prepared = task.preprocess({"audio": {"array": tone, "sampling_rate": 8000}})
    assert prepared.audio_seconds == pytest.approx(1.5)
    assert prepared.inputs["input_features"].shape == (1, 80, 3000)
    assert task.run(prepared, lambda phase: None).output_tokens == 10


def test_streamer_marks_decode_after_the_first_new_token() -> None:
    marks: list[str] = []
    streamer = PhaseStreamer(marks.append)
    streamer.put(torch.tensor([[5, 6, 7]]))
    assert marks == [] and streamer.prompt_tokens == 3
    streamer.put(torch.tensor([9]))
    assert marks == ["decode"]
    streamer.put(torch.tensor([9]))
    streamer.end()
    assert marks == ["decode"] and streamer.new_tokens == 2


def _build_blip(out_dir: Path) -> Path:
    """A tiny BLIP captioner: its joint processor is the other path through the captioning task's loader."""
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "red", "circle"]
    vocab_dir = out_dir.parent / "blip-vocab"
    vocab_dir.mkdir()
    (vocab_dir / "vocab.txt").write_text("\n".join(vocab))
    tokenizer = BertTokenizer.from_pretrained(str(vocab_dir))
    layer = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
    text = {**layer, "vocab_size": len(vocab), "encoder_hidden_size": 32, "bos_token_id": 2, "sep_token_id": 3}
    config = BlipConfig(
        text_config={**text, "pad_token_id": 0, "eos_token_id": 3},
        vision_config={**layer, "image_size": 32, "patch_size": 8},
        projection_dim=32,
    )
    torch.manual_seed(0)
    BlipForConditionalGeneration(config).save_pretrained(out_dir)
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer)
    processor.save_pretrained(out_dir)
    return out_dir


def test_blip_captioner_runs_with_its_processor(zoo, configs, tmp_path: Path) -> None:
    task = _task(Pipeline.IMAGE_CAPTIONING, _build_blip(tmp_path / "blip"), configs)
    task.load()
    prepared = task.preprocess(task.load_samples(str(zoo[Pipeline.IMAGE_CAPTIONING][1]), 1)[0])
    marks: list[str] = []
    assert task.run(prepared, marks.append).output_tokens == 10
    assert marks == ["decode"]


def test_image_generation_draws_at_the_configured_resolution(zoo, configs) -> None:
    """The config's fixed resolution is what the pipeline draws (48 x 48 here, not the zoo pipeline's native 32),
    and a pipeline that draws another size is refused rather than measured."""
    model_dir, data_dir = zoo[Pipeline.IMAGE_GENERATION]
    config = configs[Pipeline.IMAGE_GENERATION]
    assert config.diffusion is not None
    fixed = config.model_copy(update={"diffusion": config.diffusion.model_copy(update={"height": 48, "width": 48})})
    task = ImageGenerationTask(fixed, model_dir, "cpu", "float32")
    task.load()
    prepared = task.preprocess(task.load_samples(str(data_dir), 1)[0])
    real, drawn = task.pipe, []

    def recording(**kwargs):  # the real pipeline, with what it drew noted
        result = real(**kwargs)
        drawn.extend(image.size for image in result.images)
        return result

    task.pipe = recording
    assert task.run(prepared, lambda _: None).images == 1
    assert drawn == [(48, 48)]

    def ignoring_the_size(**kwargs):  # a pipeline that draws its native size whatever it is asked
        return real(**{**kwargs, "height": None, "width": None})

    task.pipe = ignoring_the_size
    with pytest.raises(BenchmarkFailure, match="config fixes 48x48"):
        task.run(prepared, lambda _: None)


@pytest.mark.parametrize("pipeline", [Pipeline.IMAGE_GENERATION, Pipeline.IMAGE_CAPTIONING], ids=lambda p: p.value)
def test_classifier_given_to_another_task_is_wrong_task(pipeline: Pipeline, zoo, configs) -> None:
    classifier_dir, _ = zoo[Pipeline.IMAGE_CLASSIFICATION]
    with pytest.raises(BenchmarkFailure) as failure:
        _task(pipeline, classifier_dir, configs).load()
    assert failure.value.kind == ErrorKind.WRONG_TASK


def test_diffusion_pipeline_given_to_classification_is_wrong_task(zoo, configs) -> None:
    with pytest.raises(BenchmarkFailure) as failure:
        _task(Pipeline.IMAGE_CLASSIFICATION, zoo[Pipeline.IMAGE_GENERATION][0], configs).load()
    assert failure.value.kind == ErrorKind.WRONG_TASK


def test_captioner_given_to_speech_recognition_is_wrong_task(zoo, configs) -> None:
    with pytest.raises(BenchmarkFailure) as failure:
        _task(Pipeline.AUTOMATIC_SPEECH_RECOGNITION, zoo[Pipeline.IMAGE_CAPTIONING][0], configs).load()
    assert failure.value.kind == ErrorKind.WRONG_TASK


def test_pickled_weights_are_refused(zoo, configs, tmp_path: Path) -> None:
    model_dir = shutil.copytree(zoo[Pipeline.IMAGE_CLASSIFICATION][0], tmp_path / "pickled")
    (model_dir / "model.safetensors").unlink()
    (model_dir / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(BenchmarkFailure) as failure:
        _task(Pipeline.IMAGE_CLASSIFICATION, model_dir, configs).load()
    assert failure.value.kind == ErrorKind.UNSAFE_WEIGHTS
    assert "pytorch_model.bin" in failure.value.message


@pytest.mark.parametrize(
    ("extra", "kind"),
    [({}, ErrorKind.UNSUPPORTED_ARCHITECTURE), ({"auto_map": {"AutoModel": "m.M"}}, ErrorKind.REMOTE_CODE)],
)
def test_unknown_architecture(extra: dict, kind: ErrorKind, configs, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-model", **extra}))
    with pytest.raises(BenchmarkFailure) as failure:
        _task(Pipeline.IMAGE_CLASSIFICATION, tmp_path, configs).load()
    assert failure.value.kind == kind


def test_model_needing_a_missing_library_is_unsupported(configs, tmp_path: Path) -> None:
    if importlib.util.find_spec("timm") is not None:
        pytest.skip("timm is installed, so a timm backbone loads")
    detr = {"model_type": "detr", "architectures": ["DetrForObjectDetection"], "d_model": 32}
    (tmp_path / "config.json").write_text(json.dumps({**detr, "use_timm_backbone": True, "backbone": "resnet50"}))
    save_file({"unused": torch.zeros(1)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(BenchmarkFailure) as failure:
        _task(Pipeline.OBJECT_DETECTION, tmp_path, configs).load()
    assert failure.value.kind == ErrorKind.UNSUPPORTED_ARCHITECTURE and "timm" in failure.value.message


def test_diffusion_pipeline_with_code_is_refused(zoo, configs, tmp_path: Path) -> None:
    model_dir = shutil.copytree(zoo[Pipeline.IMAGE_GENERATION][0], tmp_path / "custom")
    (model_dir / "pipeline.py").write_text("raise SystemExit\n")
    with pytest.raises(BenchmarkFailure) as failure:
        _task(Pipeline.IMAGE_GENERATION, model_dir, configs).load()
    assert failure.value.kind == ErrorKind.REMOTE_CODE


@pytest.mark.parametrize(
    ("class_name", "kind"),
    [("MyOwnPipeline", ErrorKind.REMOTE_CODE), ("DDPMPipeline", ErrorKind.WRONG_TASK)],
)
def test_diffusion_pipeline_class_is_checked(class_name: str, kind: ErrorKind, zoo, configs, tmp_path: Path) -> None:
    model_dir = shutil.copytree(zoo[Pipeline.IMAGE_GENERATION][0], tmp_path / "renamed")
    index_path = model_dir / "model_index.json"
    index_path.write_text(json.dumps({**json.loads(index_path.read_text()), "_class_name": class_name}))
    with pytest.raises(BenchmarkFailure) as failure:
        _task(Pipeline.IMAGE_GENERATION, model_dir, configs).load()
    assert failure.value.kind == kind


def test_diffusion_index_of_a_hub_checkout_loads_and_foreign_components_do_not(zoo, configs, tmp_path: Path) -> None:
    model_dir = shutil.copytree(zoo[Pipeline.IMAGE_GENERATION][0], tmp_path / "hub-style")
    index_path = model_dir / "model_index.json"
    index = json.loads(index_path.read_text())
    # Stable Diffusion 1.x repositories name the safety checker's module, not its library.
    index_path.write_text(json.dumps({**index, "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"]}))
    assert _task(Pipeline.IMAGE_GENERATION, model_dir, configs).load().num_parameters > 0
    index_path.write_text(json.dumps({**index, "scheduler": ["my_schedulers", "FastScheduler"]}))
    with pytest.raises(BenchmarkFailure) as failure:
        _task(Pipeline.IMAGE_GENERATION, model_dir, configs).load()
    assert failure.value.kind == ErrorKind.REMOTE_CODE


def test_diffusion_component_with_pickled_weights_is_refused(zoo, configs, tmp_path: Path) -> None:
    model_dir = shutil.copytree(zoo[Pipeline.IMAGE_GENERATION][0], tmp_path / "pickled")
    (model_dir / "vae" / "diffusion_pytorch_model.safetensors").rename(
        model_dir / "vae" / "diffusion_pytorch_model.bin"
    )
    with pytest.raises(BenchmarkFailure) as failure:
        _task(Pipeline.IMAGE_GENERATION, model_dir, configs).load()
    assert failure.value.kind == ErrorKind.UNSAFE_WEIGHTS


def test_missing_dataset_column_is_named(zoo, configs) -> None:
    config = configs[Pipeline.IMAGE_CLASSIFICATION]
    renamed = config.model_copy(update={"dataset": config.dataset.model_copy(update={"columns": {"image": "photo"}})})
    task = ImageClassificationTask(renamed, zoo[Pipeline.IMAGE_CLASSIFICATION][0], "cpu", "float32")
    with pytest.raises(BenchmarkFailure, match="no column photo"):
        task.load_samples(str(zoo[Pipeline.IMAGE_CLASSIFICATION][1]), 2)


def _wav(samples: np.ndarray, rate: int, width: int, channels: int = 1) -> bytes:
    """PCM WAV bytes at any sample width, written independently of the code under test."""
    scale = 2 ** (8 * width - 1) - 1
    ints = np.repeat(np.round(samples * scale).astype(np.int64), channels)
    if width == 1:
        raw = (ints + 128).astype(np.uint8).tobytes()
    else:
        raw = b"".join(int(v).to_bytes(width, "little", signed=True) for v in ints)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(raw)
    return buffer.getvalue()


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_wav_of_any_pcm_width_decodes(width: int) -> None:
    samples = np.array([0.0, 0.5, -0.5, 0.25, -1.0 + 1 / 127])
    decoded, rate = decode_audio({"bytes": _wav(samples, 8000, width, channels=2), "path": None})
    assert rate == 8000
    np.testing.assert_allclose(decoded, samples, atol=1.5 / 127)


def test_audio_from_path_and_resampling(tmp_path: Path) -> None:
    path = tmp_path / "clip.wav"
    path.write_bytes(wav_bytes(np.linspace(-0.5, 0.5, 8000), 8000))
    decoded, rate = decode_audio({"bytes": None, "path": str(path)})
    upsampled = resample(decoded, rate, 16000)
    assert upsampled.size == 16000
    np.testing.assert_allclose(upsampled[::2], decoded, atol=1e-6)
    with pytest.raises(BenchmarkFailure):
        decode_audio({"bytes": b"fLaC not a wav", "path": None})


def test_datasets_keep_feature_types_and_are_seeded(tmp_path: Path) -> None:
    audio_dir = write_media_dataset(Pipeline.AUTOMATIC_SPEECH_RECOGNITION, tmp_path / "audio", 2)
    assert isinstance(datasets.load_dataset(str(audio_dir), split="train").features["audio"], datasets.Audio)
    images = [write_media_dataset(Pipeline.IMAGE_CAPTIONING, tmp_path / f"images{i}", 2, seed=7) for i in range(2)]
    first, second = (datasets.load_dataset(str(d), split="train") for d in images)
    assert isinstance(first.features["image"], datasets.Image)
    assert [np.asarray(r["image"]).tolist() for r in first] == [np.asarray(r["image"]).tolist() for r in second]
    prompts = datasets.load_dataset(
        str(write_media_dataset(Pipeline.IMAGE_GENERATION, tmp_path / "p", 3)), split="train"
    )
    assert len(prompts) == 3 and all(isinstance(p, str) and p for p in prompts["prompt"])


@pytest.mark.parametrize("pipeline", list(TASKS), ids=lambda p: p.value)
def test_sizes_grow_and_seed_fixes_weights(pipeline: Pipeline, tmp_path: Path) -> None:
    counts = [_parameters_on_disk(build_media_model(pipeline, tmp_path / size, size=size)) for size in SIZES]
    assert counts[0] * 2 < counts[1] and counts[1] * 2 < counts[2]
    tiny, again, other = (
        _main_weights(build_media_model(pipeline, tmp_path / name, size="tiny", seed=seed))
        for name, seed in (("tiny", 0), ("again", 0), ("other", 1))
    )
    assert all(torch.equal(tiny[name], again[name]) for name in tiny)
    assert not all(torch.equal(tiny[name], other[name]) for name in tiny)


def _main_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    unet = model_dir / "unet" / "diffusion_pytorch_model.safetensors"
    return load_file(str(unet if unet.is_file() else model_dir / "model.safetensors"))
