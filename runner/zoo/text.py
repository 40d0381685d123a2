"""Tiny random-init text models and small text datasets that build offline and deterministically.

The benchmark only needs a model's architecture to do the same work as the trained model, so tests, the demo and
CPU runs use these folders in place of Hub downloads. Every folder loads with `AutoTokenizer` and the task's
`AutoModelFor*` (or `SentenceTransformer`) exactly like a Hub repository.

Example:
    >>> from leaderboard_data.configs import Pipeline
    >>> model_dir = build_text_model(Pipeline.TEXT_GENERATION, tmp / "gpt2", size="tiny")
    >>> data_dir = write_text_dataset(Pipeline.TEXT_GENERATION, tmp / "data", num_rows=20)
"""

from __future__ import annotations

import json
import math
import random
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    BertConfig,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertModel,
    DistilBertConfig,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

from leaderboard_data.configs import Pipeline

MAX_POSITIONS = 256
"""Position limit of every zoo model (and its tokenizer's `model_max_length`)."""

VOCAB_SIZE = 1000
"""Target vocabulary of the trained byte-level BPE tokenizers; the real size depends on the corpus."""


@dataclass(frozen=True)
class _Size:
    layers: int
    width: int
    heads: int

    @property
    def ffn(self) -> int:
        return 4 * self.width


SIZES: dict[str, _Size] = {
    "tiny": _Size(layers=2, width=32, heads=2),
    "small": _Size(layers=4, width=64, heads=4),
    "medium": _Size(layers=6, width=128, heads=4),
}

TEXT_ARCHITECTURES: dict[Pipeline, list[str]] = {
    Pipeline.TEXT_GENERATION: ["gpt2", "llama"],
    Pipeline.SUMMARIZATION: ["bart", "t5"],
    Pipeline.EXTRACTIVE_QA: ["bert", "distilbert"],
    Pipeline.TEXT_CLASSIFICATION: ["bert", "distilbert"],
    Pipeline.SENTENCE_SIMILARITY: ["sentence-transformers-bert", "bert"],
}
"""Architectures `build_text_model` offers per pipeline; the first is the default."""

# A Qwen3-style chat template: thinking is on unless `enable_thinking=False` inserts an empty think block.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)

# ---------------------------------------------------------------------------------------------------------------
# English-like sentences
# ---------------------------------------------------------------------------------------------------------------


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


_ADJECTIVES = _words(
    "quiet old small bright careful young heavy green ancient curious tired famous silver gentle busy hidden "
    "narrow warm cold distant rusty clever"
)
_NOUNS = _words(
    "river farmer engineer city garden teacher train library mountain robot village painter ship market "
    "student forest bridge museum doctor harbor kitchen storm"
)
_VERBS = _words(
    "visited repaired painted crossed described followed built measured opened watched carried cleaned "
    "studied found moved protected"
)
_PLACES = _words(
    "near the station|after the long winter|before sunrise|in the northern valley|during the festival|"
    "beside the old wall|on a rainy afternoon|at the edge of town|in 1987|for three hours",
    sep="|",
)
_POSITIVE = _words("wonderful delightful excellent charming reliable brilliant")
_NEGATIVE = _words("terrible disappointing awful clumsy broken boring")


def _noun_phrase(rng: random.Random) -> str:
    return f"the {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"


def _sentence(rng: random.Random) -> str:
    """One declarative sentence of 5 to about 20 words."""
    words = f"{_noun_phrase(rng)} {rng.choice(_VERBS)} {_noun_phrase(rng)}"
    if rng.random() < 0.6:
        words += f" {rng.choice(_PLACES)}"
    if rng.random() < 0.3:
        words += f", and {_noun_phrase(rng)} {rng.choice(_VERBS)} it again"
    return words[0].upper() + words[1:] + "."


def _paragraph(rng: random.Random, low: int, high: int) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(low, high)))


def _generation_row(rng: random.Random) -> dict[str, str]:
    if rng.random() < 0.3:
        return {"text": f"Tell me a short story about {_noun_phrase(rng)} and {_noun_phrase(rng)}."}
    return {"text": _paragraph(rng, 1, 3)}


def _summarization_row(rng: random.Random) -> dict[str, str]:
    text = _paragraph(rng, 3, 8)
    return {"text": text, "summary": text.split(". ")[0].rstrip(".") + "."}


def _classification_row(rng: random.Random) -> dict[str, str]:
    """A review whose last sentence carries the opinion; `label` names it as the demo classifiers' id2label do."""
    positive = rng.random() < 0.5
    opinion = rng.choice(_POSITIVE if positive else _NEGATIVE)
    text = f"{_paragraph(rng, 0, 2)} Honestly, it was {opinion} from start to finish.".strip()
    return {"text": text, "label": "POSITIVE" if positive else "NEGATIVE"}


def _qa_row(rng: random.Random) -> dict[str, Any]:
    subject, verb, obj = _noun_phrase(rng), rng.choice(_VERBS), _noun_phrase(rng)
    fact = f"{subject[0].upper()}{subject[1:]} {verb} {obj}."
    sentences = [_sentence(rng) for _ in range(rng.randint(1, 4))]
    sentences.insert(rng.randint(0, len(sentences)), fact)
    context = " ".join(sentences)
    start = context.index(fact) + len(fact) - len(obj) - 1
    return {
        "question": f"What was {verb} by {subject}?",
        "context": context,
        "answers": {"text": [obj], "answer_start": [start]},
    }


# Meaning-preserving word swaps: a paraphrase shares almost no word with its sentence, while a distractor shares
# the template and the adjectives but means something else, so word overlap ranks the pairs the wrong way round
# and only an encoder that models meaning ranks them right.
_SYNONYMS = {
    **dict(
        zip(
            _words("quiet old small bright careful young heavy"),
            _words("silent aged little shiny cautious youthful weighty"),
            strict=True,
        )
    ),
    **dict(
        zip(
            _words("river farmer engineer city garden teacher train library"),
            _words("stream grower technician town yard instructor locomotive bookstore"),
            strict=True,
        )
    ),
    **dict(
        zip(
            _words("repaired built cleaned studied found moved"),
            _words("fixed constructed washed examined discovered relocated"),
            strict=True,
        )
    ),
}
_SIMILAR_ADJECTIVES = tuple(a for a in _ADJECTIVES if a in _SYNONYMS)
_SIMILAR_NOUNS = tuple(n for n in _NOUNS if n in _SYNONYMS)
_SIMILAR_VERBS = tuple(v for v in _VERBS if v in _SYNONYMS)
_DISTRACTOR_NOUNS = tuple(n for n in _NOUNS if n not in _SYNONYMS)
_DISTRACTOR_VERBS = tuple(v for v in _VERBS if v not in _SYNONYMS)


def _similarity_row(rng: random.Random) -> dict[str, Any]:
    """A pair with a gold similarity `score` (0 to 5, as in STS-B): a paraphrase in other words (5) or a sentence
    of the same template with other nouns and verb (0 to 1)."""
    adjective, noun, verb = rng.choice(_SIMILAR_ADJECTIVES), rng.choice(_SIMILAR_NOUNS), rng.choice(_SIMILAR_VERBS)
    other_adjective, other_noun = rng.choice(_SIMILAR_ADJECTIVES), rng.choice(_SIMILAR_NOUNS)
    place = f" {rng.choice(_PLACES)}" if rng.random() < 0.6 else ""  # the same in both sentences of the pair
    first = f"The {adjective} {noun} {verb} the {other_adjective} {other_noun}{place}."
    if rng.random() < 0.5:
        words = (_SYNONYMS[w] for w in (adjective, noun, verb, other_adjective, other_noun))
        second = "A {} {} {} a {} {}".format(*words) + f"{place}."
        return {"sentence1": first, "sentence2": second, "score": 5.0}
    second = (
        f"The {adjective} {rng.choice(_DISTRACTOR_NOUNS)} {rng.choice(_DISTRACTOR_VERBS)} "
        f"the {other_adjective} {rng.choice(_DISTRACTOR_NOUNS)}{place}."
    )
    return {"sentence1": first, "sentence2": second, "score": round(rng.uniform(0.0, 1.0), 2)}


_ROW_MAKERS: dict[Pipeline, Callable[[random.Random], dict[str, Any]]] = {
    Pipeline.TEXT_GENERATION: _generation_row,
    Pipeline.SUMMARIZATION: _summarization_row,
    Pipeline.EXTRACTIVE_QA: _qa_row,
    Pipeline.TEXT_CLASSIFICATION: _classification_row,
    Pipeline.SENTENCE_SIMILARITY: _similarity_row,
}


def write_text_dataset(pipeline: Pipeline, out_dir: Path, num_rows: int, *, seed: int = 0) -> Path:
    """Write `num_rows` deterministic rows with the columns of the real EnergyStarAI dataset of `pipeline`, and
    the reference columns its config's quality metric reads (demo data: labels that follow from the generator).

    The folder holds `data/train-00000-of-00001.parquet`, so `datasets.load_dataset(str(out_dir), split="train")`
    reads it offline. Returns `out_dir`.
    """
    if pipeline not in _ROW_MAKERS:
        raise ValueError(f"no text dataset for pipeline {pipeline.value}; text pipelines: {_text_pipeline_names()}")
    if num_rows < 1:
        raise ValueError("num_rows must be at least 1")
    rng = random.Random(f"{pipeline.value}:{seed}")
    rows = [_ROW_MAKERS[pipeline](rng) for _ in range(num_rows)]
    data_dir = out_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), data_dir / "train-00000-of-00001.parquet")
    return out_dir


def _tokenizer_corpus() -> list[str]:
    """The fixed corpus every zoo tokenizer is trained on (independent of the model seed)."""
    rng = random.Random("tokenizer-corpus")
    lines = [maker(rng) for maker in _ROW_MAKERS.values() for _ in range(60)]
    corpus = [value for row in lines for value in row.values() if isinstance(value, str)]
    corpus += [" ".join(words) for words in (_ADJECTIVES, _NOUNS, _VERBS, _POSITIVE, _NEGATIVE)]
    corpus.append(" ".join(string.ascii_letters + string.digits + string.punctuation))
    return corpus


# ---------------------------------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------------------------------


def _byte_level_bpe(special: list[str]) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(_tokenizer_corpus(), trainer=trainer)
    return tokenizer


def _gpt2_tokenizer() -> PreTrainedTokenizerFast:
    """GPT-2 style: one `<|endoftext|>` token, no padding token (tasks fall back to eos)."""
    eos = "<|endoftext|>"
    return PreTrainedTokenizerFast(
        tokenizer_object=_byte_level_bpe([eos]),
        bos_token=eos,
        eos_token=eos,
        unk_token=eos,
        model_max_length=MAX_POSITIONS,
        model_input_names=["input_ids", "attention_mask"],
    )


def _llama_tokenizer() -> PreTrainedTokenizerFast:
    """Llama/Qwen style: a BOS prefix, chat-template tokens and a thinking-aware chat template."""
    special = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
    tokenizer = _byte_level_bpe(special)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="</s>",
        additional_special_tokens=special[3:],
        chat_template=CHAT_TEMPLATE,
        model_max_length=MAX_POSITIONS,
        model_input_names=["input_ids", "attention_mask"],
    )


def _bart_tokenizer() -> PreTrainedTokenizerFast:
    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = _byte_level_bpe(special)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[(token, tokenizer.token_to_id(token)) for token in ("<s>", "</s>")],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=MAX_POSITIONS,
        model_input_names=["input_ids", "attention_mask"],
    )


def _word_counts(split: Callable[[str], list[str]]) -> Counter[str]:
    return Counter(word for line in _tokenizer_corpus() for word in split(line))


def _t5_tokenizer() -> PreTrainedTokenizerFast:
    """T5 style: a unigram model over metaspace-split words, `</s>` appended, pad id 0.

    The vocabulary (every corpus word, then every character) is built by counting rather than by the unigram
    trainer, whose output varies between runs.
    """
    special = ["<pad>", "</s>", "<unk>"]
    pre_tokenizer = pre_tokenizers.Metaspace()
    counts = _word_counts(lambda line: [piece for piece, _ in pre_tokenizer.pre_tokenize_str(line)])
    total = sum(counts.values())
    words = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    chars = sorted({char for word in counts for char in word})
    vocab = [(token, 0.0) for token in special]
    vocab += [(word, math.log(count / total)) for word, count in words]
    vocab += [(char, math.log(0.1 / total)) for char in chars if char not in counts]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=special.index("<unk>"), byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", special.index("</s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=MAX_POSITIONS,
        model_input_names=["input_ids", "attention_mask"],
    )


def _wordpiece_tokenizer(with_token_types: bool) -> PreTrainedTokenizerFast:
    """BERT style: lower-cased WordPiece with `[CLS] A [SEP] B [SEP]` pairs; whole corpus words plus characters."""
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts = _word_counts(
        lambda line: [piece for piece, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line))]
    )
    chars = sorted({char for word in counts for char in word})
    words = [word for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    tokens = special + chars + [f"##{char}" for char in chars] + [word for word in words if word not in chars]
    tokenizer = Tokenizer(models.WordPiece({token: i for i, token in enumerate(tokens)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.WordPiece()
    ids = [(token, tokens.index(token)) for token in ("[CLS]", "[SEP]")]
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=ids
    )
    input_names = ["input_ids", "token_type_ids", "attention_mask"] if with_token_types else None
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=MAX_POSITIONS,
        model_input_names=input_names or ["input_ids", "attention_mask"],
    )


# ---------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------


def _token_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, Any]:
    return {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }


def _gpt2(size: _Size, tokenizer: PreTrainedTokenizerFast, _: Pipeline) -> PreTrainedModel:
    config = GPT2Config(
        n_layer=size.layers, n_embd=size.width, n_head=size.heads, n_positions=MAX_POSITIONS, **_token_ids(tokenizer)
    )
    return GPT2LMHeadModel(config)


def _llama(size: _Size, tokenizer: PreTrainedTokenizerFast, _: Pipeline) -> PreTrainedModel:
    config = LlamaConfig(
        num_hidden_layers=size.layers,
        hidden_size=size.width,
        intermediate_size=size.ffn,
        num_attention_heads=size.heads,
        num_key_value_heads=max(1, size.heads // 2),
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        **_token_ids(tokenizer),
    )
    return LlamaForCausalLM(config)


def _bart(size: _Size, tokenizer: PreTrainedTokenizerFast, _: Pipeline) -> PreTrainedModel:
    config = BartConfig(
        d_model=size.width,
        encoder_layers=size.layers // 2,
        decoder_layers=size.layers // 2,
        encoder_attention_heads=size.heads,
        decoder_attention_heads=size.heads,
        encoder_ffn_dim=size.ffn,
        decoder_ffn_dim=size.ffn,
        max_position_embeddings=MAX_POSITIONS,
        decoder_start_token_id=tokenizer.eos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
        **_token_ids(tokenizer),
    )
    return BartForConditionalGeneration(config)


def _t5(size: _Size, tokenizer: PreTrainedTokenizerFast, _: Pipeline) -> PreTrainedModel:
    config = T5Config(
        d_model=size.width,
        d_kv=size.width // size.heads,
        d_ff=size.ffn,
        num_layers=size.layers // 2,
        num_decoder_layers=size.layers // 2,
        num_heads=size.heads,
        **_token_ids(tokenizer),
    )
    config.decoder_start_token_id = tokenizer.pad_token_id
    return T5ForConditionalGeneration(config)


_LABELS: dict[str, Any] = {"id2label": {0: "NEGATIVE", 1: "POSITIVE"}, "label2id": {"NEGATIVE": 0, "POSITIVE": 1}}


def _bert(size: _Size, tokenizer: PreTrainedTokenizerFast, pipeline: Pipeline) -> PreTrainedModel:
    config = BertConfig(
        num_hidden_layers=size.layers,
        hidden_size=size.width,
        num_attention_heads=size.heads,
        intermediate_size=size.ffn,
        max_position_embeddings=MAX_POSITIONS,
        **_token_ids(tokenizer),
        **(_LABELS if pipeline == Pipeline.TEXT_CLASSIFICATION else {}),
    )
    if pipeline == Pipeline.EXTRACTIVE_QA:
        return BertForQuestionAnswering(config)
    if pipeline == Pipeline.TEXT_CLASSIFICATION:
        return BertForSequenceClassification(config)
    return BertModel(config)


def _distilbert(size: _Size, tokenizer: PreTrainedTokenizerFast, pipeline: Pipeline) -> PreTrainedModel:
    config = DistilBertConfig(
        n_layers=size.layers,
        dim=size.width,
        n_heads=size.heads,
        hidden_dim=size.ffn,
        max_position_embeddings=MAX_POSITIONS,
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        **(_LABELS if pipeline == Pipeline.TEXT_CLASSIFICATION else {}),
    )
    if pipeline == Pipeline.EXTRACTIVE_QA:
        return DistilBertForQuestionAnswering(config)
    return DistilBertForSequenceClassification(config)


_ModelMaker = Callable[[_Size, PreTrainedTokenizerFast, Pipeline], PreTrainedModel]

_BUILDERS: dict[str, tuple[Callable[[], PreTrainedTokenizerFast], _ModelMaker]] = {
    "gpt2": (_gpt2_tokenizer, _gpt2),
    "llama": (_llama_tokenizer, _llama),
    "bart": (_bart_tokenizer, _bart),
    "t5": (_t5_tokenizer, _t5),
    "bert": (lambda: _wordpiece_tokenizer(with_token_types=True), _bert),
    "distilbert": (lambda: _wordpiece_tokenizer(with_token_types=False), _distilbert),
    "sentence-transformers-bert": (lambda: _wordpiece_tokenizer(with_token_types=True), _bert),
}


def _write_sentence_transformers_files(out_dir: Path, width: int) -> None:
    """The files that make a BERT folder a sentence-transformers model: mean pooling, then L2 normalization."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    pooling = {
        "word_embedding_dimension": width,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    files = {
        "modules.json": modules,
        "sentence_bert_config.json": {"max_seq_length": MAX_POSITIONS, "do_lower_case": False},
        "1_Pooling/config.json": pooling,
    }
    for name, content in files.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    (out_dir / "2_Normalize").mkdir(exist_ok=True)


def _text_pipeline_names() -> str:
    return ", ".join(pipeline.value for pipeline in TEXT_ARCHITECTURES)


def build_text_model(
    pipeline: Pipeline, out_dir: Path, *, size: str = "tiny", seed: int = 0, architecture: str | None = None
) -> Path:
    """Build a random-init model for a text pipeline and save it with its tokenizer; returns `out_dir`.

    Args:
        pipeline: one of the keys of `TEXT_ARCHITECTURES`.
        out_dir: folder to write (created); it ends up laid out like a Hub model repository, safetensors only.
        size: "tiny", "small" or "medium" (2/4/6 layers, widths 32/64/128).
        seed: torch seed for the weights; the same seed gives the same weights.
        architecture: one of `TEXT_ARCHITECTURES[pipeline]`; default the first.
    """
    if pipeline not in TEXT_ARCHITECTURES:
        raise ValueError(f"no text model for pipeline {pipeline.value}; text pipelines: {_text_pipeline_names()}")
    if size not in SIZES:
        raise ValueError(f"unknown size '{size}'; sizes: {', '.join(SIZES)}")
    choices = TEXT_ARCHITECTURES[pipeline]
    name = architecture or choices[0]
    if name not in choices:
        raise ValueError(f"architecture '{name}' is not offered for {pipeline.value}; choose from {', '.join(choices)}")
    make_tokenizer, make_model = _BUILDERS[name]
    tokenizer = make_tokenizer()
    torch.manual_seed(seed)
    model = make_model(SIZES[size], tokenizer, pipeline).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    if name == "sentence-transformers-bert":
        _write_sentence_transformers_files(out_dir, SIZES[size].width)
    return out_dir
