"""A store in a Hugging Face Hub dataset repository, through huggingface_hub's `HfApi`.

Reads are pinned to a commit sha, so a listing and the files read after it come from one state of the repo;
a file read is cached in memory by its blob id when a listing at that sha named it (a file unchanged by later
commits is not downloaded again), else by sha and path (a sha never changes). Commits go through
`HfApi.create_commit(parent_commit=...)`: the Hub applies a commit only if its parent is still the head and
answers HTTP 412 otherwise, which becomes ConflictError; so does its 409 "Another commit operation is in progress"
(commits racing on one repository: nothing was applied, and the head has likely moved), and a 404 for a deleted
file when the head moved past the parent (the Hub checks operations before the parent, so a stale commit deleting a
file another writer already deleted gets 404, not 412). Every commit also rewrites `.store/commit-id` with a
marker unique to it: huggingface_hub drops unchanged files and sends no commit at all when nothing is left, which
would skip that parent check for an identical write. Rate limits, server errors, timeouts and dropped
connections are retried with exponential backoff and jitter; a 429 is waited out for as long as its `RateLimit`
or `Retry-After` header asks, or, for the commit-rate 429 that carries no header, its text ("retry this action in
N minutes"), up to `max_wait_s` (an hour and more by default, so a commit-rate limit is ridden out). A commit
attempt that has not answered after `commit_timeout_s` (uploads included) is treated like a dropped connection.
The head never goes back: a lagged answer older than a head already seen is replaced by it (`NewestHead`).
Upload failures inside huggingface_hub (its LFS uploads and hf_xet, which raise RuntimeError and OSError
subclasses rather than HTTP errors) are classified like HTTP ones. See `HubStore.commit` for why a retried commit
is never applied twice.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import os
import random
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx2
import huggingface_hub
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, constants, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import DatasetInfo, KernelInfo, ModelInfo, SpaceInfo
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status, parse_ratelimit_headers

from leaderboard_data.errors import (
    ConflictError,
    FileNotInStoreError,
    RepositoryMissingError,
    StoreError,
    TransientStoreError,
)
from leaderboard_data.stores.base import AddFile, CommitOperation, Store, check_repo_path
from leaderboard_data.stores.newest_head import NewestHead

T = TypeVar("T")

_LIBRARY_NAME = "ai-energy-score"
_COMMIT_MARKER = "store-commit-id: "
MARKER_PATH = ".store/commit-id"  # rewritten by every commit, so no commit is ever empty (see stores/base.py)
_MAX_BACKOFF_S = 30.0  # cap of the exponential backoff; a 429's own wait is not capped by it
_MAX_WAIT_S = 3900.0  # the longest wait a 429 may ask for before giving up: a commit-rate hour, with margin
_CLIENT_PACKAGE = str(Path(huggingface_hub.__file__).parent)
_CLIENT_ERROR = re.compile(r"client error \((\d{3})")  # how hf_xet words an HTTP 4xx it met
_RETRY_IN = re.compile(r"retry this action in (?:about )?(\d+|an?|one) (second|minute|hour)s?\b", re.IGNORECASE)
_UNIT_S = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
_COMMIT_TIMEOUT_S = 300.0
_LOG = logging.getLogger(__name__)
_CACHE_BYTES = 64 * 1024 * 1024
_MAX_OIDS = 200_000  # (sha, path) -> blob id entries kept from listings
_SHA = re.compile(r"^[0-9a-f]{40}$")
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class _Failure:
    """How one failed request should be handled."""

    error: StoreError
    transient: bool
    retry_after_s: float | None = None
    may_have_applied: bool = False


def _retry_after(response: httpx2.Response) -> float | None:
    """Seconds a 429 asks to wait: the `RateLimit` header's `t` when it says nothing remains (`r=0`), and
    `Retry-After` given in seconds (fractions accepted); the longer of the two, or None if neither is there."""
    waits: list[float] = []
    limit = parse_ratelimit_headers(response.headers)
    if limit is not None and limit.remaining == 0:
        waits.append(float(limit.reset_in_seconds))
    with contextlib.suppress(ValueError):
        waits.append(max(float(response.headers.get("Retry-After", "").strip()), 0.0))
    if not waits:
        waits.extend(_wait_in_text(response))
    return max(waits) if waits else None


def _wait_in_text(response: httpx2.Response) -> list[float]:
    """The wait the commit-rate 429 names only in its message: "You can retry this action in 31 minutes"."""
    text = response.headers.get("X-Error-Message", "")
    with contextlib.suppress(Exception):  # a streamed or undecodable body: the header is all there is
        text += " " + response.text
    found = _RETRY_IN.search(text)
    if found is None:
        return []
    count, unit = found.group(1).lower(), found.group(2).lower()
    return [(1.0 if count in ("a", "an", "one") else float(count)) * _UNIT_S[unit]]


class _NoAnswerInTime(Exception):
    """A commit attempt did not answer within `commit_timeout_s`."""


def _with_deadline(fn: Callable[[], T], timeout_s: float) -> T:
    """Run `fn` in a thread of its own and give up waiting after `timeout_s` (_NoAnswerInTime): huggingface_hub's
    `create_commit` takes no timeout, and its uploads (hf_xet's retries) can block for minutes. The abandoned
    thread runs on; a commit it still lands is found by `HubStore._settle`, like one after a dropped answer."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(fn())
        except BaseException as exc:  # handed to the caller below
            failure.append(exc)

    thread = threading.Thread(target=run, name="hub-commit", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise _NoAnswerInTime(f"no answer to the commit after {timeout_s:g} s")
    if failure:
        raise failure[0]
    return outcome[0]


def _raised_by_hub_client(exc: BaseException) -> bool:
    """Whether `exc` was raised inside huggingface_hub (or a native library it called, such as hf_xet), not by
    this package: only then is a bare RuntimeError or OSError known to be an upload or network failure."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and frame.tb_frame.f_code.co_filename.startswith(_CLIENT_PACKAGE)


def _hidden(path: str) -> bool:
    """Files under a dot-folder or named with a leading dot (the Hub's .gitattributes) are not store content."""
    return any(part.startswith(".") for part in path.split("/"))


class HubStore(Store):
    """A Hub dataset repository used as a store.

    Args:
        repo_id: `org/name` of the repository.
        endpoint: Hub url; defaults to `$HF_ENDPOINT`, else huggingface_hub's default endpoint.
        token: access token; defaults to `$HF_TOKEN` or the token saved by `hf auth login`.
        repo_type: "dataset" for stores; other repo types work the same.
        create: create the repository if it does not exist, and log that it was created. Only writers that
            start a deployment pass it (see `open_stores`); a reader of a missing repository gets StoreError.
        max_retries: retries of one request after a transient failure (429, 5xx, timeout, dropped connection).
        backoff_s: first backoff in seconds; it doubles on every retry (with jitter), up to 30 s.
        timeout_s: time limit of each request HubStore sends itself (head lookups, listings, downloads);
            `create_repo` and `create_commit` run on huggingface_hub's shared client, which has no timeout.
        commit_timeout_s: how long one commit attempt (its uploads included) may take before it is treated as
            a dropped connection: retried after checking whether it landed.
        max_wait_s: the longest wait a 429 may ask for (its `RateLimit` `t=` or `Retry-After`); each wait is
            logged. A longer one is not waited: TransientStoreError carries it in `retry_after_s`.
        sleep: how to wait; a simulation passes its own clock's sleep.

    Example:
        store = HubStore("my-org/requests", token=token)
        head = store.revision()
        store.commit([AddFile("requests/a.json", b"{}")], parent_revision=head, message="Add request")
    """

    def __init__(
        self,
        repo_id: str,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        repo_type: str = "dataset",
        create: bool = True,
        max_retries: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = 30.0,
        max_wait_s: float = _MAX_WAIT_S,
        commit_timeout_s: float = _COMMIT_TIMEOUT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.repo_id = repo_id
        self.repo_type = repo_type
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.max_wait_s = max_wait_s
        self.commit_timeout_s = commit_timeout_s
        self._sleep_for = sleep
        self._newest_head = NewestHead()
        self._token = token
        self._api = HfApi(endpoint=self.endpoint, token=token, library_name=_LIBRARY_NAME)
        self._cache: OrderedDict[str, bytes] = OrderedDict()  # "blob:<oid>" or "<sha>:<path>" -> content
        self._oids: OrderedDict[tuple[str, str], str] = OrderedDict()  # (sha, path) -> blob id, from listings
        self._cache_bytes = 0
        self._cache_lock = threading.Lock()
        if create:
            self.ensure_exists()

    def ensure_exists(self) -> bool:
        """Create the repository if it does not exist, and log it; True if it was created."""
        created = self._call("create the repository", self._create_repo)
        if created:
            _LOG.info("created the %s repository %s on %s", self.repo_type, self.repo_id, self.endpoint)
        return created

    def _create_repo(self) -> bool:
        """Create the repository; False if it already exists (the Hub answers 409)."""
        try:
            self._api.create_repo(self.repo_id, repo_type=self.repo_type, exist_ok=False)
        except HfHubHTTPError as exc:
            if exc.response is not None and exc.response.status_code == 409:
                return False
            raise
        return True

    @property
    def location(self) -> str:
        return self.repo_id

    def __repr__(self) -> str:
        return f"HubStore({self.endpoint}, {self.repo_type} {self.repo_id})"

    # -- reads -------------------------------------------------------------------------------------------------

    def revision(self) -> str:
        """The sha of the head of `main`, never older than a head this store object already saw or made."""
        info = self._call("read the head revision", self._head_info)
        if not info.sha:
            raise StoreError(f"{self}: the Hub answered without a head revision")
        return self._newest_head.seen(info.sha, info.last_modified)

    def _head_info(self) -> DatasetInfo | ModelInfo | SpaceInfo | KernelInfo:
        """Repo info at main; for datasets only the sha and its date are asked for, so a large repo's file list
        is not sent."""
        if self.repo_type == "dataset":
            return self._api.dataset_info(self.repo_id, timeout=self.timeout_s, expand=["sha", "lastModified"])
        return self._api.repo_info(self.repo_id, repo_type=self.repo_type, timeout=self.timeout_s)

    def list_files(self, prefix: str = "", revision: str | None = None) -> list[str]:
        """Sorted file paths starting with `prefix` at `revision` (default: the head), dot-files left out."""
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""  # the deepest folder holding every match
        if folder:
            check_repo_path(folder)
        sha = revision or self.revision()
        url = f"{self._api_url()}/tree/{quote(sha, safe='')}"
        if folder:
            url += "/" + quote(folder, safe="")
        found: dict[str, str] = {}
        try:
            for page in self._pages(url, {"recursive": "true"}, f"list {prefix or '/'}"):
                found.update(
                    (e["path"], e["oid"]) for e in page if e.get("type") == "file" and e["path"].startswith(prefix)
                )
        except FileNotInStoreError:
            return []
        self._learn_oids(sha, found)
        return sorted(path for path in found if not _hidden(path))

    def list_blobs(self, prefix: str = "", revision: str | None = None) -> dict[str, str]:
        """Paths under `prefix` with their blob ids, from the tree listing alone (no file is read)."""
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        if folder:
            check_repo_path(folder)
        sha = revision or self.revision()
        url = f"{self._api_url()}/tree/{quote(sha, safe='')}"
        if folder:
            url += "/" + quote(folder, safe="")
        found: dict[str, str] = {}
        try:
            for page in self._pages(url, {"recursive": "true"}, f"list {prefix or '/'}"):
                for entry in page:
                    path = entry["path"]
                    if entry.get("type") == "file" and path.startswith(prefix) and not _hidden(path):
                        found[path] = entry["oid"]
        except FileNotInStoreError:
            return {}
        self._learn_oids(sha, found)
        return dict(sorted(found.items()))

    def read_file(self, path: str, revision: str | None = None) -> bytes:
        check_repo_path(path)
        cached = self._cached(revision, path) if revision else None
        if cached is not None:
            return cached
        content, sha = self._call(f"read {path}", lambda: self._download(path, revision or "main"))
        if sha is not None:
            self._remember(sha, path, content)
        return content

    def read_files(self, paths: Iterable[str], revision: str | None = None) -> dict[str, bytes]:
        """Several files from one revision (the head when not given), fetched in parallel."""
        wanted = [check_repo_path(path) for path in paths]
        if not wanted:
            return {}
        sha = revision or self.revision()
        with ThreadPoolExecutor(max_workers=min(8, len(wanted))) as pool:
            contents = list(pool.map(lambda p: self.read_file(p, sha), wanted))
        return dict(zip(wanted, contents, strict=True))

    def _api_url(self) -> str:
        return f"{self.endpoint}/api/{self.repo_type}s/{self.repo_id}"

    def _headers(self) -> dict[str, str]:
        return build_hf_headers(token=self._token, library_name=_LIBRARY_NAME)

    def _get(self, url: str, params: dict[str, str] | None = None) -> httpx2.Response:
        response = get_session().get(url, params=params, headers=self._headers(), timeout=self.timeout_s)
        hf_raise_for_status(response)
        return response

    def _pages(self, url: str, params: dict[str, str], what: str) -> Iterator[list[dict[str, Any]]]:
        """The JSON pages of a listing, following the Link headers the Hub paginates with."""
        next_url: str | None = url
        next_params: dict[str, str] | None = params
        while next_url is not None:
            response = self._call(what, functools.partial(self._get, next_url, next_params))
            yield response.json()
            next_url, next_params = response.links.get("next", {}).get("url"), None

    def _download(self, path: str, revision: str) -> tuple[bytes, str | None]:
        """The file content and the commit sha it was served from."""
        url = hf_hub_url(self.repo_id, path, repo_type=self.repo_type, revision=revision, endpoint=self.endpoint)
        response = self._get(url)
        for answer in (*response.history, response):
            sha = answer.headers.get(constants.HUGGINGFACE_HEADER_X_REPO_COMMIT)
            if sha is not None:
                return response.content, sha
        return response.content, None

    def _learn_oids(self, sha: str, oids: dict[str, str]) -> None:
        """Remember the blob ids a listing at `sha` gave, so reads at that sha hit the cache by content."""
        if not _SHA.match(sha):
            return
        with self._cache_lock:
            for path, oid in oids.items():
                self._oids[(sha, path)] = oid
            while len(self._oids) > _MAX_OIDS:
                self._oids.popitem(last=False)

    def _cache_key(self, sha: str, path: str) -> str:
        """Caller holds the cache lock."""
        oid = self._oids.get((sha, path))
        return f"blob:{oid}" if oid is not None else f"{sha}:{path}"

    def _cached(self, revision: str, path: str) -> bytes | None:
        with self._cache_lock:
            key = self._cache_key(revision, path)
            content = self._cache.get(key)
            if content is not None:
                self._cache.move_to_end(key)
            return content

    def _remember(self, sha: str, path: str, content: bytes) -> None:
        """Keep the content of a file at an immutable sha, dropping the least recently used beyond 64 MiB."""
        if not _SHA.match(sha) or len(content) > _CACHE_BYTES // 4:
            return
        with self._cache_lock:
            key = self._cache_key(sha, path)
            if key in self._cache:
                return
            self._cache[key] = content
            self._cache_bytes += len(content)
            while self._cache_bytes > _CACHE_BYTES:
                _, dropped = self._cache.popitem(last=False)
                self._cache_bytes -= len(dropped)

    # -- commits -----------------------------------------------------------------------------------------------

    def commit(self, operations: Sequence[CommitOperation], *, parent_revision: str, message: str) -> str:
        """Apply all operations in one Hub commit on top of `parent_revision`; return the new head sha.

        Why a retry never applies a commit twice: every attempt carries `parent_commit=parent_revision`, and the
        Hub applies a commit only while its parent is the head, so at most one attempt can ever land; all others
        get 412. What retries must get right is the outcome. A 429 or a refused connection means the request was
        not processed. A timeout, a dropped connection or a 5xx may come after the Hub applied the commit, so
        after one of those the head is read again before anything else:
        - head == parent: nothing landed (yet). Retrying is safe: should the earlier request still land, the
          retry gets 412 and the check below finds the earlier commit.
        - head != parent: some commit landed on top of the parent. Every attempt carries the same unique marker
          in its commit description; if the commit right after the parent carries it, it is ours and its sha is
          returned, otherwise another writer won and this is a ConflictError.
        The same check runs when a 412 or any other error follows an uncertain attempt, since our own landed
        commit may be what the later attempt ran into.

        If every attempt fails transiently, TransientStoreError says that the commit was not seen on the Hub;
        when the last failure was uncertain, a request still in flight could land later, so callers re-read the
        head before trying again, as they do after a conflict.

        huggingface_hub skips commits that change nothing (every added file already has that content and
        nothing is deleted) and returns the current head instead, without checking the parent. The marker file
        `.store/commit-id` holds this commit's unique marker, so every commit changes it and is parent-checked.
        """
        if not operations:
            raise StoreError("a commit needs at least one operation")
        for op in operations:
            check_repo_path(op.path)
        marker = f"{_COMMIT_MARKER}{uuid.uuid4().hex}"
        uncertain = False
        for attempt in itertools.count():
            try:
                sha = _with_deadline(
                    lambda: self._create_commit(operations, parent_revision, message, marker), self.commit_timeout_s
                )
            except Exception as exc:
                cause: Exception = exc
                failure = self._commit_failure(exc, parent_revision)
            else:
                self._newest_head.committed(parent_revision, sha)
                return sha
            uncertain = uncertain or failure.may_have_applied
            retry = self._should_retry(failure, attempt)
            if retry:
                self._sleep(attempt, failure, "commit")
            if uncertain:
                outcome = self._settle(parent_revision, marker)
                if outcome is not None:
                    return outcome
            if not retry:
                raise self._final_error(failure, attempt, uncertain) from cause
        raise AssertionError("unreachable")

    def _create_commit(self, operations: Sequence[CommitOperation], parent: str, message: str, marker: str) -> str:
        hub_operations: list[CommitOperationAdd | CommitOperationDelete] = [
            CommitOperationAdd(path_in_repo=op.path, path_or_fileobj=op.content)
            if isinstance(op, AddFile)
            else CommitOperationDelete(path_in_repo=op.path, is_folder=False)
            for op in operations
        ]
        hub_operations.append(CommitOperationAdd(path_in_repo=MARKER_PATH, path_or_fileobj=marker.encode()))
        info = self._api.create_commit(
            self.repo_id,
            hub_operations,
            commit_message=message,
            commit_description=marker,
            repo_type=self.repo_type,
            revision=constants.DEFAULT_REVISION,
            parent_commit=parent,
        )
        return info.oid

    def _commit_failure(self, exc: Exception, parent: str) -> _Failure:
        """How a failed commit attempt is handled; anything this module does not know is raised again."""
        if isinstance(exc, _NoAnswerInTime):
            return _Failure(TransientStoreError(f"{self}: cannot commit: {exc}"), True, may_have_applied=True)
        failure = self._classify(exc, "commit")
        if failure is None:
            raise exc
        if isinstance(failure.error, FileNotInStoreError):
            return self._missing_file_failure(parent)
        return failure

    def _missing_file_failure(self, parent: str) -> _Failure:
        """A commit deleting a file the head lacks: a conflict if the head moved past `parent` (another writer
        deleted it first), else a permanent error. Decided on the commit history, which is never lagged."""
        if self._commit_after(parent) is not None:
            return _Failure(
                ConflictError(f"{self}: the file to delete is gone: the head moved since the parent"), False
            )
        return _Failure(StoreError(f"{self}: commit deletes a file that does not exist"), False)

    def _settle(self, parent: str, marker: str) -> str | None:
        """After an uncertain attempt: our landed commit's sha, None if nothing landed; ConflictError if another
        writer's commit did. Decided on the commit history, not the head: a lagged head could still show the
        parent after our commit landed."""
        landed = self._commit_after(parent)
        if landed is None:
            return None
        sha, title, description = landed
        if marker in description or marker in title:
            self._newest_head.committed(parent, sha)
            return sha
        raise ConflictError(f"{self}: head moved from {parent[:12]} (another commit landed first)")

    def _commit_after(self, parent: str) -> tuple[str, str, str] | None:
        """(sha, title, description) of the commit on main whose parent is `parent`; main's history is linear."""
        newer: dict[str, Any] | None = None
        url = f"{self._api_url()}/commits/{constants.DEFAULT_REVISION}"
        for page in self._pages(url, {}, "list commits"):
            for item in page:
                if item["id"] == parent:
                    return None if newer is None else (newer["id"], newer.get("title", ""), newer.get("message", ""))
                newer = item
        raise ConflictError(f"{self}: revision {parent[:12]} is no longer in the history of main")

    def _final_error(self, failure: _Failure, attempt: int, uncertain: bool) -> StoreError:
        if not failure.transient:
            return failure.error
        detail = "; a request still in flight may land, re-read the head before retrying" if uncertain else ""
        wait = failure.retry_after_s
        if wait is not None and wait > self.max_wait_s:
            detail += f"; the Hub asks to wait {wait:.0f} s, more than max_wait_s={self.max_wait_s:.0f} s"
        return TransientStoreError(f"{failure.error} (gave up after {attempt + 1} attempts{detail})", wait)

    # -- retries -----------------------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one read-only request, retrying transient failures with backoff."""
        for attempt in itertools.count():
            try:
                return fn()
            except Exception as exc:
                failure = self._classify(exc, what)
                if failure is None:
                    raise
                if not self._should_retry(failure, attempt):
                    raise self._final_error(failure, attempt, uncertain=False) from exc
            self._sleep(attempt, failure, what)
        raise AssertionError("unreachable")

    def _should_retry(self, failure: _Failure, attempt: int) -> bool:
        """Retry transient failures, unless retries are used up or a 429 asks for longer than `max_wait_s`."""
        too_long = failure.retry_after_s is not None and failure.retry_after_s > self.max_wait_s
        return failure.transient and attempt < self.max_retries and not too_long

    def _sleep(self, attempt: int, failure: _Failure, what: str) -> None:
        """Wait as long as a 429 asks (logged), else an exponential backoff with jitter capped at 30 s."""
        if failure.retry_after_s is not None:
            _LOG.warning(
                "%s: rate limited while trying to %s; waiting %.0f s as the Hub asks", self, what, failure.retry_after_s
            )
            self._sleep_for(failure.retry_after_s)
            return
        delay = min(self.backoff_s * 2**attempt, _MAX_BACKOFF_S)
        self._sleep_for(delay * random.uniform(0.5, 1.5))

    def _classify(self, exc: Exception, what: str) -> _Failure | None:
        """Map an exception from huggingface_hub or httpx2 to a store error; None for anything else."""
        where = f"{self}: cannot {what}"
        if isinstance(exc, OfflineModeIsEnabled):
            return _Failure(StoreError(f"{where}: huggingface_hub is in offline mode (HF_HUB_OFFLINE)"), False)
        if isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout)):
            return _Failure(TransientStoreError(f"{where}: cannot connect ({exc})"), True)
        if isinstance(exc, httpx2.TransportError):
            return _Failure(TransientStoreError(f"{where}: {type(exc).__name__} ({exc})"), True, may_have_applied=True)
        if isinstance(exc, HfHubHTTPError):
            return self._classify_http(exc, where)
        if isinstance(exc, json.JSONDecodeError):
            return _Failure(TransientStoreError(f"{where}: unreadable answer"), True, may_have_applied=True)
        if isinstance(exc, ValueError):
            return _Failure(StoreError(f"{where}: {exc}"), False)
        if isinstance(exc, (RuntimeError, OSError)) and _raised_by_hub_client(exc):
            return self._classify_upload(exc, what)
        return None

    def _classify_upload(self, exc: RuntimeError | OSError, what: str) -> _Failure:
        """A failure of the upload huggingface_hub runs before it sends a commit, so the commit was not applied.

        Its LFS upload wraps the HTTP error in a RuntimeError, classified by that cause. hf_xet raises
        XetAuthenticationError (a PermissionError) and XetObjectNotFoundError (a FileNotFoundError), which are
        permanent; for anything else it raises a RuntimeError or an OSError such as ConnectionError: transient,
        unless its message names an HTTP client error other than 408 and 429.
        """
        cause = exc.__cause__
        if isinstance(exc, RuntimeError) and isinstance(cause, Exception):
            inner = self._classify(cause, what)
            if inner is not None:
                return _Failure(inner.error, inner.transient, inner.retry_after_s)
        where = f"{self}: cannot {what}"
        detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if isinstance(exc, (PermissionError, FileNotFoundError)):
            return _Failure(StoreError(f"{where}: the upload was refused ({detail})"), False)
        client_error = _CLIENT_ERROR.search(str(exc))
        if client_error is not None and int(client_error.group(1)) not in (408, 429):
            return _Failure(StoreError(f"{where}: the upload was refused ({detail})"), False)
        return _Failure(TransientStoreError(f"{where}: the upload failed ({detail})"), True)

    def _classify_http(self, exc: HfHubHTTPError, where: str) -> _Failure:
        response = exc.response
        status = response.status_code if response is not None else 0
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if status == 412:
            return _Failure(ConflictError(f"{where}: the head moved since the parent revision (412)"), False)
        if status == 409:
            message = f"{where}: another commit to this repository was in progress (409); nothing was applied"
            return _Failure(ConflictError(message), False)
        if status in _TRANSIENT_STATUS:
            retry_after = _retry_after(response) if status == 429 and response is not None else None
            error = TransientStoreError(f"{where}: HTTP {status} ({first_line})")
            return _Failure(error, True, retry_after_s=retry_after, may_have_applied=status >= 500)
        if isinstance(exc, GatedRepoError):
            message = f"{where}: {self.repo_id} is gated and this token has not been granted access"
            return _Failure(StoreError(message), False)
        if isinstance(exc, RemoteEntryNotFoundError):
            return _Failure(FileNotInStoreError(f"{where}: no such file"), False)
        if isinstance(exc, RevisionNotFoundError):
            return _Failure(StoreError(f"{where}: revision not found"), False)
        if isinstance(exc, RepositoryNotFoundError):
            message = f"{where}: repository not found, or private and not visible with this token (HTTP {status})"
            return _Failure(RepositoryMissingError(message), False)
        if status == 401:
            return _Failure(StoreError(f"{where}: the token was rejected (HTTP 401); check HF_TOKEN"), False)
        if status == 403:
            return _Failure(StoreError(f"{where}: the token may not do this (HTTP 403); it needs write access"), False)
        detail = (getattr(exc, "server_message", None) or first_line).strip().splitlines()[0]
        return _Failure(StoreError(f"{where}: HTTP {status} ({detail})"), False)
