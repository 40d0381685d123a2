"""Stores: where requests, results and (on the embedded default) models live.

`open_stores` is the one place that turns a store spec into backends:
- `local:PATH` -> folders `PATH/requests` and `PATH/results` laid out as the Hub datasets, models in `PATH/models`;
- `hub:ORG` -> the Hub datasets `ORG/requests` and `ORG/results`, models from the Hub.

Opening never creates a Hub repository unless asked (`create=True`): readers of a missing repository get a
StoreError on their first read, and only the commands that start writing a deployment (`submit`, `run` and
`publish`) create `ORG/requests` and `ORG/results`, logging it when they do.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from leaderboard_data.configs import TaskConfig
from leaderboard_data.errors import StoreError
from leaderboard_data.model_source import HubModelSource, LocalModelSource, ModelSource
from leaderboard_data.stores.base import AddFile, CommitOperation, DeleteFile, Store
from leaderboard_data.stores.local import LocalStore

STORE_ENV = "ENERGY_SCORE_STORE"
DEFAULT_STORE_SPEC = "local:./energy-score-data"
_ORG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")

__all__ = [
    "DEFAULT_STORE_SPEC",
    "STORE_ENV",
    "AddFile",
    "CommitOperation",
    "DeleteFile",
    "LocalStore",
    "Store",
    "Stores",
    "open_stores",
    "resolve_store_spec",
]


@dataclass(frozen=True)
class Stores:
    """The backends of one deployment: requests and results datasets and where models come from."""

    spec: str
    requests: Store
    results: Store
    models: ModelSource
    is_hub: bool

    def dataset_path(self, task_config: TaskConfig) -> str:
        """Where a task's inputs are read from: on the embedded default a local copy in `PATH/datasets/<task>`
        (same columns as the Hub dataset) when one exists, else the config's source."""
        if isinstance(self.requests, LocalStore):
            local = self.requests.root.parent / "datasets" / task_config.task
            if local.is_dir():
                return str(local)
        return task_config.dataset.path

    @property
    def spool_dir(self) -> Path:
        """Where a worker keeps results measured but not yet committed, so a crash loses none."""
        base = os.environ.get("ENERGY_SCORE_SPOOL")
        if base:
            return Path(base)
        if isinstance(self.requests, LocalStore):
            return self.requests.root.parent / "spool"
        return Path.home() / ".cache" / "energy-score" / "spool" / self.spec.replace(":", "_").replace("/", "_")


def resolve_store_spec(spec: str | None = None) -> str:
    """The explicit spec, else `ENERGY_SCORE_STORE`, else the embedded default."""
    return spec or os.environ.get(STORE_ENV) or DEFAULT_STORE_SPEC


def open_stores(spec: str | None = None, *, create: bool = False) -> Stores:
    """Open the stores named by `spec` (see module docstring); a malformed spec is a StoreError.

    `create` creates the Hub repositories that do not exist yet; without it, opening sends no request at all.
    """
    resolved = resolve_store_spec(spec)
    kind, _, target = resolved.partition(":")
    if kind == "local" and target:
        root = Path(target).expanduser().resolve()
        return Stores(
            spec=f"local:{root}",
            requests=LocalStore(root / "requests"),
            results=LocalStore(root / "results"),
            models=LocalModelSource(root / "models"),
            is_hub=False,
        )
    if kind == "hub" and _ORG.match(target):
        from leaderboard_data.stores.hub import HubStore

        endpoint = os.environ.get("HF_ENDPOINT")
        token = os.environ.get("HF_TOKEN")
        return Stores(
            spec=resolved,
            requests=HubStore(f"{target}/requests", endpoint=endpoint, token=token, create=create),
            results=HubStore(f"{target}/results", endpoint=endpoint, token=token, create=create),
            models=HubModelSource(endpoint=endpoint, token=token),
            is_hub=True,
        )
    raise StoreError(f"store spec {resolved!r} is not 'local:PATH' or 'hub:ORG'")
