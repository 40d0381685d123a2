"""A store in a Hugging Face Hub dataset repository, through huggingface_hub's `HfApi`.

Reads are pinned to a commit sha, so a listing and the files read after it come from one state of the repo;
a file read at a sha is cached in memory because a sha never changes. Commits go through
`HfApi.create_commit(parent_commit=...)`: the Hub applies a commit only if its parent is still the head and
answers HTTP 412 otherwise, which becomes ConflictError. Every commit also rewrites `.store/commit-id` with a
marker unique to it: huggingface_hub drops unchanged files and sends no commit at all when nothing is left, which
would skip that parent check for an identical write. Rate limits, server errors, timeouts and dropped
connections are retried with exponential backoff and jitter; see `HubStore.commit` for why a retried commit
is never applied twice.
"""

from __future__ import annotations

import functools
import itertools
import json
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
from typing import Any, TypeVar
from urllib.parse import quote

import httpx2
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
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from leaderboard_data.errors import ConflictError, FileNotInStoreError, StoreError, TransientStoreError
from leaderboard_data.stores.base import AddFile, CommitOperation, Store, check_repo_path

T = TypeVar("T")

_LIBRARY_NAME = "ai-energy-score"
_COMMIT_MARKER = "store-commit-id: "
MARKER_PATH = ".store/commit-id"  # rewritten by every commit, so no commit is ever empty (see stores/base.py)
_MAX_BACKOFF_S = 30.0
_CACHE_BYTES = 64 * 1024 * 1024
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
    """Seconds from a Retry-After header given in seconds (fractions accepted), else None."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


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
        create: create the repository if it does not exist.
        max_retries: retries of one request after a transient failure (429, 5xx, timeout, dropped connection).
        backoff_s: first backoff in seconds; it doubles on every retry (with jitter), up to 30 s.
        timeout_s: time limit of each request HubStore sends itself (head lookups, listings, downloads);
            `create_repo` and `create_commit` run on huggingface_hub's shared client, which has no timeout.

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
    ) -> None:
        self.repo_id = repo_id
        self.repo_type = repo_type
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._token = token
        self._api = HfApi(endpoint=self.endpoint, token=token, library_name=_LIBRARY_NAME)
        self._cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._cache_bytes = 0
        self._cache_lock = threading.Lock()
        if create:
            self._call(
                "create the repository",
                lambda: self._api.create_repo(repo_id, repo_type=repo_type, exist_ok=True),
            )

    @property
    def location(self) -> str:
        return self.repo_id

    def __repr__(self) -> str:
        return f"HubStore({self.endpoint}, {self.repo_type} {self.repo_id})"

    # -- reads -------------------------------------------------------------------------------------------------

    def revision(self) -> str:
        """The sha of the head of `main`."""
        info = self._call("read the head revision", self._head_info)
        if not info.sha:
            raise StoreError(f"{self}: the Hub answered without a head revision")
        return info.sha

    def _head_info(self) -> DatasetInfo | ModelInfo | SpaceInfo | KernelInfo:
        """Repo info at main; for datasets only the sha is asked for, so a large repo's file list is not sent."""
        if self.repo_type == "dataset":
            return self._api.dataset_info(self.repo_id, timeout=self.timeout_s, expand=["sha"])
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
        found: list[str] = []
        try:
            for page in self._pages(url, {"recursive": "true"}, f"list {prefix or '/'}"):
                found.extend(e["path"] for e in page if e.get("type") == "file" and e["path"].startswith(prefix))
        except FileNotInStoreError:
            return []
        return sorted(path for path in found if not _hidden(path))

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

    def _cached(self, revision: str, path: str) -> bytes | None:
        with self._cache_lock:
            content = self._cache.get((revision, path))
            if content is not None:
                self._cache.move_to_end((revision, path))
            return content

    def _remember(self, sha: str, path: str, content: bytes) -> None:
        """Keep the content of a file at an immutable sha, dropping the least recently used beyond 64 MiB."""
        if not _SHA.match(sha) or len(content) > _CACHE_BYTES // 4:
            return
        with self._cache_lock:
            if (sha, path) in self._cache:
                return
            self._cache[(sha, path)] = content
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
                return self._create_commit(operations, parent_revision, message, marker)
            except Exception as exc:
                cause = exc
                failure = self._classify(exc, "commit")
                if failure is None:
                    raise
                if isinstance(failure.error, FileNotInStoreError):
                    failure = _Failure(StoreError(f"{self}: commit deletes a file that does not exist"), False)
            uncertain = uncertain or failure.may_have_applied
            retry = failure.transient and attempt < self.max_retries
            if retry:
                self._sleep(attempt, failure.retry_after_s)
            if uncertain:
                outcome = self._settle(parent_revision, marker, check_head=failure.transient)
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

    def _settle(self, parent: str, marker: str, *, check_head: bool) -> str | None:
        """After an uncertain attempt: our landed commit's sha, None if nothing landed; ConflictError if another
        writer's commit did."""
        if check_head and self.revision() == parent:
            return None
        landed = self._commit_after(parent)
        if landed is None:
            return None
        sha, title, description = landed
        if marker in description or marker in title:
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
        return TransientStoreError(f"{failure.error} (gave up after {attempt + 1} attempts{detail})")

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
                if not failure.transient or attempt >= self.max_retries:
                    raise self._final_error(failure, attempt, uncertain=False) from exc
            self._sleep(attempt, failure.retry_after_s)
        raise AssertionError("unreachable")

    def _sleep(self, attempt: int, retry_after_s: float | None) -> None:
        """Wait as long as a 429's Retry-After asks (up to 30 s), else an exponential backoff with jitter."""
        if retry_after_s is not None:
            time.sleep(min(retry_after_s, _MAX_BACKOFF_S))
            return
        delay = min(self.backoff_s * 2**attempt, _MAX_BACKOFF_S)
        time.sleep(delay * random.uniform(0.5, 1.5))

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
        return None

    def _classify_http(self, exc: HfHubHTTPError, where: str) -> _Failure:
        response = exc.response
        status = response.status_code if response is not None else 0
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if status == 412:
            return _Failure(ConflictError(f"{where}: the head moved since the parent revision (412)"), False)
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
            return _Failure(StoreError(message), False)
        if status == 401:
            return _Failure(StoreError(f"{where}: the token was rejected (HTTP 401); check HF_TOKEN"), False)
        if status == 403:
            return _Failure(StoreError(f"{where}: the token may not do this (HTTP 403); it needs write access"), False)
        return _Failure(StoreError(f"{where}: HTTP {status} ({first_line})"), False)
