"""Validation of what a submitter types: model ids, revisions and submitter names.

A model id becomes part of a store path (`requests/<model_id>/<request_id>.json`), so it is checked by the
Hub's own repo-id rules and then by stricter ones of ours (ASCII only, every part checked on its own): a
validated id is always a safe path of one or two parts. Every refusal is a SubmissionError whose one
sentence quotes the offending value with `repr`, truncated, so control characters and huge inputs are shown
harmlessly.
"""

from __future__ import annotations

import re

from huggingface_hub.utils import HFValidationError, validate_repo_id

from leaderboard_data.errors import SubmissionError

MAX_MODEL_ID_LENGTH = 96
MAX_SUBMITTER_LENGTH = 96
_SHOWN_CHARS = 60

_PART = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)
_REVISION = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}", re.ASCII)


def quote(value: str) -> str:
    """`repr` of at most the first 60 characters, saying how many more there were."""
    if len(value) <= _SHOWN_CHARS:
        return repr(value)
    return f"{value[:_SHOWN_CHARS]!r} (and {len(value) - _SHOWN_CHARS} more characters)"


def _require_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise SubmissionError(f"{what} must be text, not {type(value).__name__}.")
    return value


def _part_problem(part: str) -> str | None:
    """Why one part ('org' or 'name') of a model id is unacceptable, or None."""
    if not part:
        return "it has an empty part; write it as 'name' or 'org/name'"
    if not _PART.fullmatch(part):
        return "only the ASCII letters, digits, '-', '_' and '.' are allowed"
    if part[0] in "-." or part[-1] in "-.":
        return "no part may start or end with '-' or '.'"
    return None


def validate_model_id(model_id: str) -> str:
    """Return `model_id` unchanged if it is a valid Hub model id ('name' or 'org/name'), else SubmissionError."""
    text = _require_text(model_id, "model id")
    shown = quote(text)
    if not text:
        raise SubmissionError("the model id is empty; write it as 'name' or 'org/name'.")
    if len(text) > MAX_MODEL_ID_LENGTH:
        raise SubmissionError(f"model id {shown} is longer than {MAX_MODEL_ID_LENGTH} characters.")
    parts = text.split("/")
    if len(parts) > 2:
        raise SubmissionError(f"model id {shown} has more than one '/'; write it as 'name' or 'org/name'.")
    for part in parts:
        problem = _part_problem(part)
        if problem:
            raise SubmissionError(f"model id {shown} is not valid: {problem}.")
    if "--" in text or ".." in text:
        raise SubmissionError(f"model id {shown} is not valid: it must not contain '--' or '..'.")
    if text.endswith(".git"):
        raise SubmissionError(f"model id {shown} is not valid: it must not end with '.git'.")
    try:
        validate_repo_id(text)
    except HFValidationError as exc:
        raise SubmissionError(f"model id {shown} is not a valid Hub repository id.") from exc
    return text


def validate_revision(revision: str) -> str:
    """Return `revision` if it is a pinned one: a 40-hex commit sha or a 64-hex content hash, in lowercase."""
    text = _require_text(revision, "revision")
    if not _REVISION.fullmatch(text):
        raise SubmissionError(
            f"revision {quote(text)} is not pinned: give a 40-character commit sha or a 64-character content hash "
            "in lowercase hexadecimal."
        )
    return text


def validate_submitter(name: str) -> str:
    """Return `name` if it is 1-96 printable characters with no surrounding spaces, else SubmissionError.

    Surrounding spaces are refused so that 'bob' and 'bob ' cannot pass for two submitters.
    """
    text = _require_text(name, "submitter name")
    if not text or len(text) > MAX_SUBMITTER_LENGTH:
        raise SubmissionError(
            f"submitter name {quote(text)} must be between 1 and {MAX_SUBMITTER_LENGTH} characters long."
        )
    if not text.isprintable():
        raise SubmissionError(f"submitter name {quote(text)} contains control or other unprintable characters.")
    if text != text.strip():
        raise SubmissionError(f"submitter name {quote(text)} must not start or end with a space.")
    return text
