"""Text generation: continue a prompt by a fixed number of tokens with a causal language model.

Measured in two phases: prefill (the prompt's forward pass and the first new token) and decode (the remaining
tokens). With `reasoning` on, the prompt goes through the tokenizer's chat template with thinking enabled.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForCausalLM
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from leaderboard_data.configs import Pipeline
from runner.tasks._text_common import GenerativeTextTask, PreparedGeneration, position_limit
from runner.tasks.base import LoadedModelInfo, register_task


@register_task
class TextGenerationTask(GenerativeTextTask):
    """Greedy continuation with `AutoModelForCausalLM`; prompts are shortened so prompt + output fit the context."""

    pipeline = Pipeline.TEXT_GENERATION
    auto_class = AutoModelForCausalLM
    head_classes = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    context: int | None = None
    """Positions the model attends over (prompt + generated), when its config says."""

    def load(self) -> LoadedModelInfo:
        info = super().load()
        self.context = position_limit(self.model_config)
        if self.context is not None:
            # Leave room for the output: all of it for fixed-length runs, at most half the context for long ones.
            reserve = min(self.generation.max_new_tokens, self.context // 2)
            self.max_length = max(1, min(self.max_length, self.context - reserve))
        return LoadedModelInfo(num_parameters=info.num_parameters, max_input_length=self.max_length)

    def _prompt_ids(self, text: str) -> list[int]:
        """Token ids of the prompt, at most `max_length` long."""
        if self.generation.reasoning and getattr(self.tokenizer, "chat_template", None):
            return self._chat_prompt_ids(text)
        ids: list[int] = self.tokenizer(text, truncation=True, max_length=self.max_length)["input_ids"]
        return ids or [self._fallback_token_id()]

    def _chat_prompt_ids(self, text: str) -> list[int]:
        """The chat-formatted prompt with thinking on; the user's text is shortened, never the template."""
        ids = self._render_chat(text)
        excess = len(ids) - self.max_length
        if excess > 0:
            text_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids = self._render_chat(str(self.tokenizer.decode(text_ids[: max(0, len(text_ids) - excess)])))
        return ids[: self.max_length]

    def _render_chat(self, text: str) -> list[int]:
        rendered = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=True, enable_thinking=True, tokenize=False
        )
        ids: list[int] = self.tokenizer(str(rendered), add_special_tokens=False)["input_ids"]
        return ids

    def _fallback_token_id(self) -> int:
        """A start token for an empty prompt: generation needs at least one input token."""
        for candidate in (self.tokenizer.bos_token_id, self.tokenizer.eos_token_id, 0):
            if candidate is not None:
                return int(candidate)
        return 0

    def preprocess(self, sample: dict[str, Any]) -> PreparedGeneration:
        ids = self._prompt_ids(sample["text"])
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)
        room = self.generation.max_new_tokens if self.context is None else self.context - len(ids)
        max_new = max(1, min(self.generation.max_new_tokens, room))
        return PreparedGeneration(
            inputs={"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)},
            input_tokens=len(ids),
            max_new_tokens=max_new,
            min_new_tokens=min(self.generation.min_new_tokens, max_new),
        )

    def _start_length(self, prepared: PreparedGeneration) -> int:
        return prepared.input_tokens
