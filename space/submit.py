"""The Submit tab's handler: who submits, then `leaderboard_data.submission.submit_model`, then an answer.

On a Space (or any Hub-backed deployment) only people logged in with their Hugging Face account may submit;
locally the submitter is the user running the app. The Space writes nothing itself: the submission module
commits the request through the stores. Every value a submitter typed is escaped before it is shown.
"""

from __future__ import annotations

import getpass
import logging
import os

from leaderboard_data.configs import TaskConfig
from leaderboard_data.errors import (
    DuplicateRequestError,
    RateLimitedError,
    RepositoryMissingError,
    StoreError,
    SubmissionError,
)
from leaderboard_data.queue import duration_words
from leaderboard_data.stores import Stores
from leaderboard_data.submission import SubmissionReceipt, submit_model
from space.escape import escape_markdown, model_link

log = logging.getLogger(__name__)

DEFAULT_PRECISION = "task default"
SUGGEST_TASK_LABEL = "Suggest from the model (pipeline tag or architecture)"
PRECISION_CHOICES = (DEFAULT_PRECISION, "float32", "float16", "bfloat16")
LOGIN_REQUIRED = "Please log in with your Hugging Face account (button above) to submit a model."
STORE_UNAVAILABLE = "the leaderboard's storage could not be reached; please try again in a few minutes."
SERVER_FAULT = "the server failed while checking this model; the fault is logged and is not yours."


def login_required(stores: Stores) -> bool:
    """Submissions need a Hub login on a Space or against Hub stores; a local app uses the local user."""
    return stores.is_hub or bool(os.environ.get("SPACE_ID"))


def submitter_name(username: str | None, require_login: bool) -> str | None:
    """The Hub username when logged in; without login, None on a Space and the local user elsewhere."""
    if username:
        return username
    return None if require_login else getpass.getuser()


def handle_submission(
    stores: Stores,
    task_configs: dict[str, TaskConfig],
    model_id: str,
    task: str,
    precision: str,
    submitter: str | None,
) -> str:
    """Submit and describe the outcome in markdown: the request and its place, or why it was refused.

    An empty `task` lets the model's pipeline tag or architecture choose. Only refusals meant for the submitter
    are shown word for word; a store or server failure is logged and answered in general terms, so that no
    server detail (paths, URLs, tracebacks) reaches the page."""
    if submitter is None:
        return f"**Not queued.** {LOGIN_REQUIRED}"
    model_id = (model_id or "").strip()
    if not model_id:
        return "**Not queued.** Please enter a model id, e.g. `org/name`."

    def submit() -> SubmissionReceipt:
        return submit_model(
            stores,
            task_configs,
            model_id,
            task=task or None,
            revision=None,
            precision=None if precision in ("", DEFAULT_PRECISION) else precision,
            submitter=submitter,
        )

    try:
        try:
            receipt = submit()
        except RepositoryMissingError:
            # A new deployment: its first submission creates the requests repository, as `energy-score submit` does.
            log.info("creating the requests repository %s for the first submission", stores.requests.location)
            stores.requests.ensure_exists()
            receipt = submit()
    except DuplicateRequestError as error:
        return (
            f"**Not queued:** {escape_markdown(error)}\n\n"
            f"Existing request: `{escape_markdown(error.existing_request_id)}`; see the Queue tab."
        )
    except RateLimitedError as error:
        return f"**Not queued:** {escape_markdown(error)}\n\nTry again in {duration_words(error.retry_after_s)}."
    except SubmissionError as error:
        return f"**Not queued:** {escape_markdown(error)}"
    except StoreError:
        log.exception("submission of %r failed in the store", model_id)
        return f"**Not queued:** {STORE_UNAVAILABLE}"
    except Exception:
        log.exception("submission of %r failed", model_id)
        return f"**Not queued:** {SERVER_FAULT}"
    return receipt_markdown(receipt, task_configs)


def receipt_markdown(receipt: SubmissionReceipt, task_configs: dict[str, TaskConfig]) -> str:
    """What an accepted submission is told."""
    request = receipt.request
    title = task_configs[request.task].title if request.task in task_configs else request.task
    place = f"#{receipt.position} in the queue" if receipt.position else "in the queue"
    params = f"{receipt.checked.num_parameters:,} parameters, size class {receipt.checked.size_class}"
    suggested = " (task told from the model's pipeline tag or architecture)" if receipt.task_suggested else ""
    return (
        f"**Queued** {model_link(request.model_id)} for **{escape_markdown(title)}** at {request.precision}: "
        f"**{place}**{suggested}.\n\n"
        f"Request id: `{request.request_id}` · revision `{escape_markdown(request.revision[:12])}` · {params}."
    )
