"""Fixtures for the Space's tests: local stores with published results, a tiny submittable model, a free port."""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from leaderboard_data.configs import TaskConfig
from leaderboard_data.queue import outbox_path
from leaderboard_data.records import Result
from leaderboard_data.results import ResultsPublisher
from leaderboard_data.stores import AddFile, Stores, open_stores


def run_as_a_space(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a Space with `hf_oauth: true` provides (gradio reads its OAuth settings at import time), so the app
    shows its login button and never asks huggingface.co who is logged in."""
    import gradio.oauth

    monkeypatch.setenv("SPACE_ID", "org/space")
    monkeypatch.setenv("SYSTEM", "spaces")
    for name, value in {
        "OAUTH_CLIENT_ID": "client",
        "OAUTH_CLIENT_SECRET": "secret",
        "OAUTH_SCOPES": "openid profile",
        "OPENID_PROVIDER_URL": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setattr(gradio.oauth, name, value)


def publish(stores: Stores, results: Sequence[Result], task_configs: dict[str, TaskConfig]) -> None:
    """Publish results the way a worker does: into the requests store's outbox, then through the publisher."""
    parent = stores.requests.revision()
    ops = [AddFile(outbox_path(r.task, r.result_id), r.to_json().encode()) for r in results]
    stores.requests.commit(ops, parent_revision=parent, message=f"outbox {len(ops)} results")
    ResultsPublisher(stores.requests, stores.results, task_configs).publish_pending()


def add_tiny_bert(root: Path, model_id: str) -> Path:
    """A tiny BERT text classifier (config.json, model.safetensors, README) in `<root>/models/<model_id>/`."""
    folder = root / "models" / model_id
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "vocab_size": 64,
        "max_position_embeddings": 32,
        "num_labels": 2,
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "README.md").write_text("---\nlicense: apache-2.0\npipeline_tag: text-classification\n---\n# tiny\n")
    weights = {"bert.embeddings.word_embeddings.weight": np.zeros((64, 16), dtype=np.float32)}
    save_file(weights, folder / "model.safetensors")
    return folder


def local_stores(root: Path) -> Stores:
    """Stores in a temp folder, as `energy-score` opens them."""
    return open_stores(f"local:{root}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
