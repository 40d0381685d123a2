"""Request records validate on read and write; a bad one names its path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leaderboard_data.errors import RecordValidationError
from leaderboard_data.records import ErrorKind, Lease, Request, RequestStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _request(**overrides: object) -> Request:
    fields: dict[str, object] = {
        "request_id": "0123456789abcdef",
        "model_id": "acme/model",
        "revision": "a" * 40,
        "task": "text_classification",
        "precision": "float32",
        "submitter": "alice",
        "submitted_at": NOW,
        "updated_at": NOW,
    }
    fields.update(overrides)
    return Request.model_validate(fields)


def test_round_trip_is_canonical() -> None:
    request = _request()
    text = request.to_json()
    assert Request.from_json(text) == request
    assert Request.from_json(text).to_json() == text


def test_running_needs_a_lease_and_others_must_not_have_one() -> None:
    lease = Lease(worker_id="w1", expires_at=NOW + timedelta(minutes=5), claimed_at=NOW)
    assert _request(status=RequestStatus.RUNNING, lease=lease).lease == lease
    with pytest.raises(ValueError, match="must carry a lease"):
        _request(status=RequestStatus.RUNNING)
    with pytest.raises(ValueError, match="must not carry a lease"):
        _request(status=RequestStatus.PENDING, lease=lease)


def test_failed_needs_a_reason_and_finished_a_result() -> None:
    with pytest.raises(ValueError, match="error_kind"):
        _request(status=RequestStatus.FAILED)
    failed = _request(status=RequestStatus.FAILED, error_kind=ErrorKind.WRONG_TASK, error_message="BERT can't generate")
    assert failed.error_kind == ErrorKind.WRONG_TASK
    with pytest.raises(ValueError, match="result_id"):
        _request(status=RequestStatus.FINISHED)


@pytest.mark.parametrize(
    "text",
    [b"\x00\xff garbage", b"{}", b'{"request_id": "../../etc"}', b"[1, 2]"],
)
def test_invalid_json_names_the_path(text: bytes) -> None:
    with pytest.raises(RecordValidationError, match=r"requests/acme/x/1\.json"):
        Request.from_json(text, "requests/acme/x/1.json")


def test_unknown_field_is_rejected() -> None:
    data = _request().to_dict()
    data["priority"] = "high"
    with pytest.raises(ValueError, match="priority"):
        Request.model_validate(data)
