"""The one submission path shared by the CLI and the Space: check the model, then queue it.

Checks run before anything is written: the id is well-formed, the model exists and its revision resolves to a
pinned commit, it is public, loads without remote code, has safetensors weights, fits the task, and has a known
parameter count. The queue then refuses duplicates and submitters over their quota.
"""

from __future__ import annotations

from dataclasses import dataclass

from leaderboard_data.configs import TaskConfig
from leaderboard_data.errors import SubmissionError
from leaderboard_data.model_checks import CheckedModel, check_model, suggest_task
from leaderboard_data.model_ids import validate_model_id
from leaderboard_data.queue import RequestQueue, SubmissionQuota
from leaderboard_data.records import Request
from leaderboard_data.stores import Stores


@dataclass(frozen=True)
class SubmissionReceipt:
    """What a submitter is told: the queued request, its place in the queue and what was learnt of the model."""

    request: Request
    position: int | None
    checked: CheckedModel
    task_suggested: bool = False
    """True when the submitter named no task and it was told from the model's pipeline tag or architecture."""


def default_precision(task_config: TaskConfig, stores: Stores) -> str:
    """The task's precision on the device the deployment benchmarks on: the reference GPU on the Hub, else CPU."""
    return task_config.precision.for_device("cuda" if stores.is_hub else "cpu")


def submit_model(
    stores: Stores,
    task_configs: dict[str, TaskConfig],
    model_id: str,
    *,
    task: str | None,
    revision: str | None,
    precision: str | None,
    submitter: str,
    quota: SubmissionQuota | None = None,
) -> SubmissionReceipt:
    """Validate and queue one model for one task; raises a SubmissionError subclass with a readable reason.

    Without a task (None or ""), the task is suggested from the model's Hub pipeline tag or architecture."""
    model_id = validate_model_id(model_id)
    if task and task not in task_configs:
        raise SubmissionError(f"unknown task {task[:64]!r}; choose one of: {', '.join(sorted(task_configs))}")
    info = stores.models.info(model_id, revision)
    task_suggested = not task
    task = task or suggest_task(info, task_configs)
    task_config = task_configs[task]
    checked = check_model(info, task_config)
    queue = RequestQueue(stores.requests, task_configs, quota=quota or SubmissionQuota())
    request = queue.submit(
        model_id,
        task=task,
        revision=info.sha,
        precision=precision or default_precision(task_config, stores),
        submitter=submitter,
        num_parameters=checked.num_parameters,
    )
    position = queue.position(request.request_id)
    return SubmissionReceipt(request=request, position=position, checked=checked, task_suggested=task_suggested)
