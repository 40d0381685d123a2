"""Hostile input: whatever a submitter types is either a valid request or refused without touching the store,
and corrupted files in the store are reported by path while the rest of the queue keeps working."""

from __future__ import annotations

import json
import logging
import re
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub.utils import validate_repo_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.errors import QueueError, RecordValidationError, SubmissionError
from leaderboard_data.model_ids import validate_model_id, validate_revision, validate_submitter
from leaderboard_data.queue import RequestQueue, SubmissionQuota, request_path, submitter_ledger_path
from leaderboard_data.records import ErrorKind, Request, RequestStatus
from leaderboard_data.stores.base import AddFile, check_repo_path
from leaderboard_data.stores.local import LocalStore
from tests.test_queue import START, FakeClock, make_result, store_bytes

HOSTILE_IDS = [
    "../x",
    "x/..",
    "a/b/c",
    "/etc/passwd",
    "a/../b",
    "./a",
    "a//b",
    "a\\b",
    "C:\\x",
    ".store/x",
    ".git",
    "a.git",
    "-a",
    "a-",
    "a--b",
    "a..b",
    "a b",
    "a\x00b",
    "a\nb",
    "a\r",
    "\u202egnp",
    "ｏｒｇ/ｍｏｄｅｌ",
    "modèle",
    "%2e%2e/x",
    "org/",
    "/name",
    "",
    "x" * 97,
    "o" * 48 + "/" + "n" * 48,
]
_NEAR_VALID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,30}(/[A-Za-z0-9][A-Za-z0-9._-]{0,30})?"

non_text = st.one_of(st.none(), st.integers(), st.binary(max_size=8))
model_ids = st.one_of(
    st.sampled_from(HOSTILE_IDS),
    st.from_regex(_NEAR_VALID, fullmatch=True),
    st.text(max_size=100),
    st.text(alphabet=st.characters(codec="ascii"), max_size=40),
    st.text(min_size=97, max_size=5000),
    non_text,
)
revisions = st.one_of(
    st.from_regex(r"[0-9a-f]{40}|[0-9a-f]{64}", fullmatch=True),
    st.from_regex(r"[0-9a-fA-F]{38,66}\n?", fullmatch=True),
    st.sampled_from(["main", "HEAD", "refs/pr/1", "../" + "0" * 37, ""]),
    st.text(max_size=70),
    non_text,
)
precisions = st.one_of(
    st.sampled_from(["float32", "float16", "bfloat16", "FLOAT32", "int8", "float32 ", "", "fp16"]),
    st.text(max_size=20),
    non_text,
)
submitters = st.one_of(
    st.sampled_from(["alice", "Bob", "名前", " bob", "bob\n", "\x1b[31m", "a" * 97, ""]),
    st.text(max_size=120),
    non_text,
)
parameter_counts = st.one_of(st.none(), st.integers(min_value=-10, max_value=10**12), st.just(True), st.just(1.5))


@pytest.fixture(scope="module")
def task_configs() -> dict[str, TaskConfig]:
    return load_task_configs()


def _tasks(task_configs: dict[str, TaskConfig]) -> st.SearchStrategy[Any]:
    hostile = ["../text_classification", "TEXT_CLASSIFICATION", "text_classification\n", "", "a/b", "x" * 65]
    return st.one_of(st.sampled_from(sorted(task_configs)), st.sampled_from(hostile), st.text(max_size=70), non_text)


@st.composite
def submissions(draw: st.DrawFn, task_configs: dict[str, TaskConfig]) -> dict[str, Any]:
    """Submission fields where a drawn subset is hostile and the rest plausible, so both outcomes are common."""
    plausible: dict[str, st.SearchStrategy[Any]] = {
        "model_id": st.from_regex(_NEAR_VALID, fullmatch=True),
        "task": st.sampled_from(sorted(task_configs)),
        "revision": st.from_regex(r"[0-9a-f]{40}|[0-9a-f]{64}", fullmatch=True),
        "precision": st.sampled_from(["float32", "float16", "bfloat16"]),
        "submitter": st.from_regex(r"[A-Za-z][A-Za-z0-9_ -]{0,20}[a-z]", fullmatch=True),
        "num_parameters": st.none() | st.integers(min_value=0, max_value=10**12),
    }
    hostile: dict[str, st.SearchStrategy[Any]] = {
        "model_id": model_ids,
        "task": _tasks(task_configs),
        "revision": revisions,
        "precision": precisions,
        "submitter": submitters,
        "num_parameters": parameter_counts,
    }
    chosen = draw(st.sets(st.sampled_from(sorted(plausible))))
    return {name: draw(hostile[name] if name in chosen else plausible[name]) for name in plausible}


def _assert_valid_request(store: LocalStore, request: Request, before: dict[str, bytes]) -> None:
    """An accepted submission wrote exactly its own file (and its submitter's quota ledger), and everything in it
    passes every check."""
    after = store_bytes(store.root)
    added = {p for p in after if not p.startswith(".store/")} - {p for p in before if not p.startswith(".store/")}
    path = request_path(request.model_id, request.request_id)
    assert added - {submitter_ledger_path(request.submitter)} == {path}
    assert check_repo_path(path) == path
    assert Request.from_json(after[path], path) == request
    validate_repo_id(request.model_id)
    assert validate_model_id(request.model_id) == request.model_id and request.model_id.isascii()
    assert validate_revision(request.revision) == request.revision
    assert validate_submitter(request.submitter) == request.submitter
    assert request.status == RequestStatus.PENDING and request.precision in ("float32", "float16", "bfloat16")


def test_any_submission_is_accepted_valid_or_refused_without_writing(
    tmp_path: Path, task_configs: dict[str, TaskConfig]
) -> None:
    store = LocalStore(tmp_path / "store")
    queue = RequestQueue(store, task_configs, quota=SubmissionQuota(max_requests=10_000))
    outcomes = {"accepted": 0, "refused": 0}

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(submissions(task_configs))
    def check(fields: dict[str, Any]) -> None:
        before = store_bytes(store.root)
        try:
            request = queue.submit(**fields)
        except SubmissionError as refusal:
            outcomes["refused"] += 1
            assert store_bytes(store.root) == before
            message = str(refusal)
            assert message and len(message) < 1000
            assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", message), "control characters must be escaped"
            return
        outcomes["accepted"] += 1
        _assert_valid_request(store, request, before)

    check()
    assert outcomes["accepted"] >= 10 and outcomes["refused"] >= 10, outcomes
    assert queue.invalid_records() == []


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.sampled_from(HOSTILE_IDS), st.from_regex(_NEAR_VALID, fullmatch=True), st.text(max_size=200)))
def test_a_model_id_is_either_a_safe_hub_id_or_refused(model_id: str) -> None:
    try:
        accepted = validate_model_id(model_id)
    except SubmissionError as refusal:
        assert len(str(refusal)) < 300 and "\n" not in str(refusal)
        return
    assert accepted == model_id and 1 <= len(model_id) <= 96 and model_id.isascii()
    validate_repo_id(model_id)
    assert check_repo_path(f"requests/{model_id}/0123456789abcdef.json")
    parts = model_id.split("/")
    assert len(parts) <= 2 and all(p not in (".", "..", ".store") for p in parts)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=150))
def test_a_submitter_name_is_either_printable_or_refused(name: str) -> None:
    try:
        accepted = validate_submitter(name)
    except SubmissionError:
        return
    assert accepted == name and 1 <= len(name) <= 96 and name.isprintable() and name == name.strip()


# Corrupted files in the store


def _valid_request(request_id: str, model_id: str, **changes: Any) -> Request:
    record = Request(
        request_id=request_id,
        model_id=model_id,
        revision="c" * 40,
        task="text_classification",
        precision="float32",
        submitter="mallory",
        submitted_at=START,
        updated_at=START,
    )
    return record.model_copy(update=changes)


def _corrupt_files() -> dict[str, bytes]:
    """Files a broken writer, a bad merge or a hand edit could leave under requests/."""
    running_without_lease = _valid_request("2222222222222222", "org/nolease").to_dict() | {"status": "RUNNING"}
    moved = _valid_request("3333333333333333", "org/elsewhere")
    unsafe_model = _valid_request("4444444444444444", "org/a/b")
    return {
        "requests/org/garbage/0000000000000000.json": b"\x00\xff\xfe not json at all \x1b[2J",
        "requests/org/schema/1111111111111111.json": json.dumps({"hello": "world"}).encode(),
        "requests/org/nolease/2222222222222222.json": json.dumps(running_without_lease).encode(),
        "requests/org/moved/3333333333333333.json": moved.to_json().encode(),
        "requests/org/a/b/4444444444444444.json": unsafe_model.to_json().encode(),
        "requests/notes.txt": b"hand-written notes",
    }


def test_corrupted_files_are_reported_by_path_while_other_requests_run(
    tmp_path: Path, task_configs: dict[str, TaskConfig], caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalStore(tmp_path / "store")
    clock = FakeClock()
    queue = RequestQueue(store, task_configs, clock=clock)
    corrupt = _corrupt_files()
    store.commit([AddFile(p, c) for p, c in corrupt.items()], parent_revision=store.revision(), message="corrupt")
    good = []
    for index in range(3):
        good.append(
            queue.submit(
                f"org/good{index}",
                task="text_classification",
                revision="d" * 40,
                precision="float32",
                submitter=f"user{index}",
            )
        )
        clock.advance(1)

    with caplog.at_level(logging.WARNING, logger="leaderboard_data.queue"):
        problems = queue.invalid_records()
    assert [p.path for p in problems] == sorted(corrupt)
    assert all(isinstance(p, RecordValidationError) for p in problems)
    assert all(any(path in record.getMessage() for record in caplog.records) for path in corrupt)
    by_path = {p.path: p.detail for p in problems}
    assert "a RUNNING request must carry a lease" in by_path["requests/org/nolease/2222222222222222.json"]
    assert (
        "belongs at requests/org/elsewhere/3333333333333333.json" in by_path["requests/org/moved/3333333333333333.json"]
    )

    for index, request in enumerate(good):
        claimed = queue.claim(f"w{index}")
        assert claimed is not None and claimed.request_id == request.request_id
        finished = queue.finish(request.request_id, f"w{index}", make_result(request, f"result{index:04d}"))
        assert finished.status == RequestStatus.FINISHED
    assert queue.claim("w9") is None
    assert [r.request_id for r in queue.list_requests()] == [r.request_id for r in good]

    for path in (p for p in corrupt if p.endswith(".json")):
        request_id = Path(path).stem
        for operation in (
            partial(queue.get, request_id),
            partial(queue.cancel, request_id, by="admin"),
            partial(queue.heartbeat, request_id, "w0"),
            partial(queue.fail_unclaimed, request_id, ErrorKind.INTERNAL, "broken"),
        ):
            with pytest.raises(QueueError, match=re.escape(path)):
                operation()
    assert {p: store.read_file(p) for p in corrupt} == corrupt  # never rewritten


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
            max_leaves=12,
        ).map(lambda value: json.dumps(value).encode()),
    )
)
def test_any_garbage_in_a_request_file_is_reported_and_isolated(
    task_configs: dict[str, TaskConfig], content: bytes
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = LocalStore(folder)
        queue = RequestQueue(store, task_configs)
        path = "requests/org/junk/5555555555555555.json"
        store.commit([AddFile(path, content)], parent_revision=store.revision(), message="junk")
        request = queue.submit(
            "org/fine", task="text_classification", revision="e" * 40, precision="float16", submitter="alice"
        )
        assert [p.path for p in queue.invalid_records()] == [path]
        with pytest.raises(QueueError, match=path):
            queue.get("5555555555555555")
        claimed = queue.claim("w1")
        assert claimed is not None and claimed.request_id == request.request_id
        assert store.read_file(path) == content
