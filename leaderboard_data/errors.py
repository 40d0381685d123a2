"""One error family for the data layer, so callers catch what they can act on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leaderboard_data.records import ErrorKind  # records imports this module, so only for the annotation


class EnergyScoreError(Exception):
    """Base of every error the data layer raises on purpose."""


class ConfigError(EnergyScoreError):
    """A task config file is missing, unknown or invalid; the message names the file and the field."""


class RecordValidationError(EnergyScoreError):
    """A request or result record failed validation; the message names its path in the store."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"invalid record {path}: {detail}")
        self.path = path
        self.detail = detail


class StoreError(EnergyScoreError):
    """A store operation failed for a reason that retrying will not fix."""


class TransientStoreError(StoreError):
    """A store operation failed for a reason that may pass (network, 429, 5xx, timeout).

    `retry_after_s`, when known, is how long the server asked to wait before trying again (a 429's RateLimit or
    Retry-After header).
    """

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RepositoryMissingError(StoreError):
    """The store's repository does not exist (or is private and not visible with this token): a deployment whose
    first writer has not run yet. Readers treat it as empty; writers may create it (`Store.ensure_exists`)."""


class ConflictError(StoreError):
    """The store moved since the parent revision a commit was based on (the Hub's HTTP 412)."""


class FileNotInStoreError(StoreError):
    """A file asked for does not exist in the store."""


class SubmissionError(EnergyScoreError):
    """A submission was refused; the message says why in words a submitter understands."""


class ModelCheckError(SubmissionError):
    """A model that cannot be benchmarked; `kind` says why for the request record, the message says it in words."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class DuplicateRequestError(SubmissionError):
    """The same (model, revision, task, precision) is already pending, running or finished."""

    def __init__(self, message: str, existing_request_id: str) -> None:
        super().__init__(message)
        self.existing_request_id = existing_request_id


class RateLimitedError(SubmissionError):
    """The submitter used up their quota; `retry_after_s` says how long to wait."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QueueError(EnergyScoreError):
    """A queue operation is not allowed in the request's current state (lease lost, wrong status)."""


class LeaseLostError(QueueError):
    """The worker no longer holds the request it tries to update."""
