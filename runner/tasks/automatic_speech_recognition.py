"""Automatic speech recognition: a speech-to-text seq2seq model (Whisper) transcribes each clip in exactly the
configured number of new tokens; prefill is the audio encoder plus the first token, decode the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from leaderboard_data.configs import Pipeline
from leaderboard_data.records import ErrorKind
from runner.errors import BenchmarkFailure
from runner.tasks._media_common import (
    decode_audio,
    first_token_only,
    generate_with_phases,
    generation_args,
    load_rows,
    load_transformers_model,
    resample,
    to_device,
    torch_dtype,
)
from runner.tasks.base import BenchmarkTask, LoadedModelInfo, PhaseMarker, QueryOutput, count_parameters, register_task

LANGUAGE = "en"
"""Multilingual models transcribe in this language, so no query spends an extra pass on language detection."""


@dataclass
class SpeechInput:
    """Feature-extractor output on the device and the length of the audio it covers."""

    inputs: dict[str, torch.Tensor]
    audio_seconds: float


@register_task
class SpeechRecognitionTask(BenchmarkTask):
    """Transcribe audio with `AutoModelForSpeechSeq2Seq`; audio is decoded and resampled here, not by datasets."""

    pipeline = Pipeline.AUTOMATIC_SPEECH_RECOGNITION
    phases = ("prefill", "decode")

    def load(self) -> LoadedModelInfo:
        from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor, AutoTokenizer

        self.model = load_transformers_model(
            AutoModelForSpeechSeq2Seq, self.model_dir, "speech recognition", self.device, self.precision
        )
        processor = AutoProcessor.from_pretrained(self.model_dir)
        self.feature_extractor = getattr(processor, "feature_extractor", processor)
        self.tokenizer = getattr(processor, "tokenizer", None) or AutoTokenizer.from_pretrained(self.model_dir)
        sampling_rate = getattr(self.feature_extractor, "sampling_rate", None)
        if not isinstance(sampling_rate, int):
            raise BenchmarkFailure(
                ErrorKind.UNSUPPORTED_ARCHITECTURE, f"{type(processor).__name__} is not an audio feature extractor"
            )
        self.sampling_rate: int = sampling_rate
        self.max_samples: int | None = getattr(self.feature_extractor, "n_samples", None)
        self.generate_extra = self._language_arguments()
        frames = getattr(self.model.config, "max_source_positions", 0) * 2 or self.config.max_input_length
        return LoadedModelInfo(num_parameters=count_parameters(self.model), max_input_length=frames)

    def _language_arguments(self) -> dict[str, str]:
        """Fix language and task for multilingual Whisper-style models; English-only ones take neither."""
        generation_config = self.model.generation_config
        lang_to_id = getattr(generation_config, "lang_to_id", None) or {}
        if getattr(generation_config, "is_multilingual", False) and f"<|{LANGUAGE}|>" in lang_to_id:
            return {"language": LANGUAGE, "task": "transcribe"}
        return {}

    def load_samples(self, dataset_path: str, num_samples: int) -> list[dict[str, Any]]:
        return load_rows(self.config, dataset_path, num_samples, ("audio",))

    def preprocess(self, sample: dict[str, Any]) -> SpeechInput:
        samples, rate = decode_audio(sample["audio"])
        samples = resample(samples, rate, self.sampling_rate)
        if self.max_samples:
            samples = samples[: self.max_samples]  # one window: longer clips would switch Whisper to long-form
        batch = self.feature_extractor(samples, sampling_rate=self.sampling_rate, return_tensors="pt")
        inputs = to_device(batch, self.device, torch_dtype(self.precision))
        return SpeechInput(inputs=inputs, audio_seconds=samples.size / self.sampling_rate)

    def run(self, prepared: SpeechInput, mark: PhaseMarker) -> QueryOutput:
        args = generation_args(self.config)
        streamer = generate_with_phases(self.model, prepared.inputs, args, mark, **self.generate_extra)
        output = self._output(prepared, streamer.prompt_tokens, streamer.new_tokens)
        output.prediction = streamer.sequence
        return output

    def decode_prediction(self, prediction: Any) -> Any:
        return str(self.tokenizer.decode(prediction, skip_special_tokens=True)).strip()

    def run_first_phase_only(self, prepared: SpeechInput) -> QueryOutput:
        args = first_token_only(generation_args(self.config))
        streamer = generate_with_phases(self.model, prepared.inputs, args, None, **self.generate_extra)
        return self._output(prepared, streamer.prompt_tokens, streamer.new_tokens)

    @staticmethod
    def _output(prepared: SpeechInput, prompt_tokens: int, new_tokens: int) -> QueryOutput:
        return QueryOutput(input_tokens=prompt_tokens, output_tokens=new_tokens, audio_seconds=prepared.audio_seconds)
