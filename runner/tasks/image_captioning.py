"""Image captioning: an image-to-text model (BLIP, BLIP-2, ViT+GPT-2...) describes each image in exactly the
configured number of new tokens; prefill is the image encoder plus the first token, decode the rest.
"""

from __future__ import annotations

from typing import Any

import torch

from leaderboard_data.configs import Pipeline
from runner.tasks._media_common import (
    ImageInputTask,
    first_token_only,
    generate_with_phases,
    generation_args,
    load_transformers_model,
    to_rgb_image,
)
from runner.tasks.base import LoadedModelInfo, PhaseMarker, QueryOutput, register_task


@register_task
class ImageCaptioningTask(ImageInputTask):
    """Caption images with `AutoModelForImageTextToText`, from the image alone (no text prompt)."""

    pipeline = Pipeline.IMAGE_CAPTIONING
    phases = ("prefill", "decode")

    def load(self) -> LoadedModelInfo:
        from transformers import (
            AutoImageProcessor,
            AutoModelForImageTextToText,
            AutoProcessor,
            AutoTokenizer,
            ProcessorMixin,
        )

        self.model = load_transformers_model(
            AutoModelForImageTextToText, self.model_dir, "image captioning", self.device, self.precision
        )
        # A joint processor (BLIP) adds what its model needs beside pixels; an encoder-decoder folder has
        # only a tokenizer and an image processor, and AutoProcessor would return the tokenizer.
        processor = AutoProcessor.from_pretrained(self.model_dir)
        self.processor = (
            processor if isinstance(processor, ProcessorMixin) else AutoImageProcessor.from_pretrained(self.model_dir)
        )
        tokenizer = getattr(self.processor, "tokenizer", None)
        self.tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(self.model_dir)
        return self.image_model_info()

    def preprocess(self, sample: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.image_inputs(to_rgb_image(sample["image"]))

    def run(self, prepared: dict[str, torch.Tensor], mark: PhaseMarker) -> QueryOutput:
        streamer = generate_with_phases(self.model, prepared, generation_args(self.config), mark)
        return QueryOutput(
            input_tokens=streamer.prompt_tokens, output_tokens=streamer.new_tokens, prediction=streamer.sequence
        )

    def decode_prediction(self, prediction: Any) -> Any:
        return str(self.tokenizer.decode(prediction, skip_special_tokens=True)).strip()

    def run_first_phase_only(self, prepared: dict[str, torch.Tensor]) -> QueryOutput:
        streamer = generate_with_phases(self.model, prepared, first_token_only(generation_args(self.config)), None)
        return QueryOutput(input_tokens=streamer.prompt_tokens, output_tokens=streamer.new_tokens)
