"""Image generation: a diffusers text-to-image pipeline draws the configured number of images per prompt in a
fixed number of denoising steps, at the config's fixed resolution (energy grows with pixels, so every model draws
the same size, whatever its native one). Prompt encoding, denoising and VAE decoding all belong to the one phase.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from leaderboard_data.configs import DiffusionArgs, Pipeline
from leaderboard_data.records import ErrorKind
from runner.errors import BenchmarkFailure
from runner.tasks._media_common import (
    classified_load_errors,
    load_rows,
    require_safetensors,
    torch_dtype,
)
from runner.tasks.base import BenchmarkTask, LoadedModelInfo, PhaseMarker, QueryOutput, count_parameters, register_task

SEED = 0
"""Every query starts from the same noise, so runs are repeatable."""

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl")
COMPONENT_LIBRARIES = frozenset({"diffusers", "transformers"})
SKIPPED_COMPONENTS = frozenset({"safety_checker"})
"""Components `load` replaces with None, so their files are never read."""


@dataclass
class PromptInput:
    """The prompt stays text: encoding it is part of the measured query. `num_tokens` is counted after truncation."""

    prompt: str
    num_tokens: int


def _read_model_index(model_dir: Path) -> dict[str, Any]:
    index_path = model_dir / "model_index.json"
    if not index_path.is_file():
        if (model_dir / "config.json").is_file():
            raise BenchmarkFailure(ErrorKind.WRONG_TASK, "a transformers model, not a diffusers pipeline")
        raise BenchmarkFailure(ErrorKind.UNSUPPORTED_ARCHITECTURE, "the model folder has no model_index.json")
    index: dict[str, Any] = json.loads(index_path.read_text(encoding="utf-8"))
    return index


def _is_known_library(library: str) -> bool:
    """diffusers, transformers, or a diffusers pipeline module (model indexes name e.g. "stable_diffusion")."""
    if library in COMPONENT_LIBRARIES:
        return True
    return library.isidentifier() and importlib.util.find_spec(f"diffusers.pipelines.{library}") is not None


def check_pipeline_folder(model_dir: Path) -> dict[str, Any]:
    """The folder's model index, once it is known not to ship code, to name a diffusers text-to-image pipeline,
    and to keep the weights of every component that is loaded in safetensors files.
    """
    import diffusers
    from diffusers.pipelines.auto_pipeline import AUTO_TEXT2IMAGE_PIPELINES_MAPPING

    index = _read_model_index(model_dir)
    code_files = sorted(str(p.relative_to(model_dir)) for p in model_dir.rglob("*.py"))
    if code_files:
        raise BenchmarkFailure(ErrorKind.REMOTE_CODE, f"the pipeline ships code: {', '.join(code_files)}")
    class_name = index.get("_class_name")
    pipeline_class = getattr(diffusers, class_name, None) if isinstance(class_name, str) else None
    if pipeline_class is None or "_custom_pipeline" in index:
        raise BenchmarkFailure(ErrorKind.REMOTE_CODE, f"'{class_name}' is not a diffusers pipeline class")
    if pipeline_class not in AUTO_TEXT2IMAGE_PIPELINES_MAPPING.values():
        raise BenchmarkFailure(ErrorKind.WRONG_TASK, f"{class_name} does not generate images from text")
    for name, entry in index.items():
        if name.startswith("_") or name in SKIPPED_COMPONENTS or not isinstance(entry, list) or entry[0] is None:
            continue
        if not _is_known_library(entry[0]):
            raise BenchmarkFailure(ErrorKind.REMOTE_CODE, f"component '{name}' comes from '{entry[0]}'")
        folder = model_dir / name
        if folder.is_dir() and any(p.suffix in WEIGHT_SUFFIXES for p in folder.iterdir()):
            require_safetensors(folder)
    return index


@register_task
class ImageGenerationTask(BenchmarkTask):
    """Generate images from prompts with a diffusers pipeline (Stable Diffusion and the other text-to-image ones)."""

    pipeline = Pipeline.IMAGE_GENERATION
    phases = ("denoise",)

    def load(self) -> LoadedModelInfo:
        from diffusers import DiffusionPipeline

        index = check_pipeline_folder(self.model_dir)
        skipped = {name: None for name in SKIPPED_COMPONENTS if name in index}
        with classified_load_errors("the pipeline"):
            pipe = DiffusionPipeline.from_pretrained(
                self.model_dir, use_safetensors=True, dtype=torch_dtype(self.precision), **skipped
            )
            self.pipe = pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        modules = [c for c in self.pipe.components.values() if isinstance(c, torch.nn.Module)]
        tokenizer = getattr(self.pipe, "tokenizer", None)
        max_length = getattr(tokenizer, "model_max_length", None)
        if not isinstance(max_length, int) or max_length > 1_000_000:  # unset: transformers uses a huge sentinel
            max_length = self.config.max_input_length
        self.max_prompt_tokens = max_length
        return LoadedModelInfo(num_parameters=sum(count_parameters(m) for m in modules), max_input_length=max_length)

    @property
    def diffusion(self) -> DiffusionArgs:
        if self.config.diffusion is None:
            raise BenchmarkFailure(ErrorKind.INTERNAL, f"config {self.config.task} has no 'diffusion' section")
        return self.config.diffusion

    def load_samples(self, dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
        return load_rows(self.config, dataset_path, num_samples, ("prompt",))

    def preprocess(self, sample: dict[str, Any]) -> PromptInput:
        prompt = str(sample["prompt"])
        tokenizer = getattr(self.pipe, "tokenizer", None)
        num_tokens = len(tokenizer(prompt).input_ids) if tokenizer is not None else 0
        return PromptInput(prompt=prompt, num_tokens=min(num_tokens, self.max_prompt_tokens))

    def run(self, prepared: PromptInput, mark: PhaseMarker) -> QueryOutput:
        args = self.diffusion
        generator = torch.Generator(device=self.device).manual_seed(SEED)
        with torch.inference_mode():
            result = self.pipe(
                prompt=prepared.prompt,
                num_inference_steps=args.num_inference_steps,
                num_images_per_prompt=args.num_images_per_prompt,
                guidance_scale=args.guidance_scale,
                height=args.height,
                width=args.width,
                generator=generator,
                output_type="pil",
            )
        wanted = (args.width, args.height)
        drawn = {image.size for image in result.images}
        if None not in wanted and drawn != {wanted}:
            raise BenchmarkFailure(
                ErrorKind.UNSUPPORTED_ARCHITECTURE,
                f"the pipeline drew {sorted(drawn)} images where the config fixes {wanted[0]}x{wanted[1]}",
            )
        return QueryOutput(input_tokens=prepared.num_tokens, images=len(result.images))
