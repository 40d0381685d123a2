"""A real embedded deployment in a temp folder: stores, tiny models built offline, task datasets."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.model_source import LocalModelSource
from leaderboard_data.queue import RequestQueue, SubmissionQuota
from leaderboard_data.stores import Stores, open_stores
from leaderboard_data.submission import submit_model
from runner.zoo import build_model, write_dataset

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Deployment:
    root: Path
    stores: Stores
    configs: dict[str, TaskConfig]

    @property
    def spec(self) -> str:
        return f"local:{self.root}"

    def queue(self) -> RequestQueue:
        return RequestQueue(self.stores.requests, self.configs)

    def add_model(self, model_id: str, task: str, size: str = "tiny", seed: int = 0) -> None:
        """Build a tiny model for `task`'s pipeline into the store's models folder."""
        assert isinstance(self.stores.models, LocalModelSource)
        with tempfile.TemporaryDirectory() as tmp:
            folder = build_model(self.configs[task].pipeline, Path(tmp) / "m", size=size, seed=seed)
            self.stores.models.add_model(model_id, folder)

    def add_dataset(self, task: str, rows: int = 12) -> None:
        target = self.root / "datasets" / task
        if not target.exists():
            write_dataset(self.configs[task].pipeline, target, rows)

    def submit(self, model_id: str, task: str) -> str:
        receipt = submit_model(
            self.stores,
            self.configs,
            model_id,
            task=task,
            revision=None,
            precision=None,
            submitter="tester",
            quota=SubmissionQuota(max_requests=1000),
        )
        return receipt.request.request_id


def make_deployment(root: Path) -> Deployment:
    return Deployment(root=root, stores=open_stores(f"local:{root}"), configs=load_task_configs())


def energy_score(*args: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process, offline."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "runner.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=full_env,
        **kwargs,
    )


def worker_command(spec: str, *extra: str) -> Sequence[str]:
    return [sys.executable, "-m", "runner.cli", "run", "--store", spec, *extra]
