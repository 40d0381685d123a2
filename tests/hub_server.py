"""A local Hugging Face Hub on 127.0.0.1 that the real `huggingface_hub` client talks to, with seeded faults.

It speaks the endpoints `HfApi`, `hf_hub_download` and `snapshot_download` (huggingface_hub 2.4) use for repo
creation, repo info, tree and paths-info listings, commit history, preupload, NDJSON commits, git LFS and file
resolution. History is content-addressed: every commit gets a new 40-hex sha and any old sha can still be read.

Binary files take the Hub's LFS flow. Preupload answers `lfs` for a path the repo's `.gitattributes` sends to LFS
(the Hub's default list: `*.parquet`, `*.safetensors`, `*.bin`, ...), for a file over 10 MiB and for a sample
holding a NUL byte; the client then asks the LFS batch endpoint, PUTs the file to the storage URL it got (on
`localhost`, another origin, as S3 is on the real Hub), calls verify, and commits an `lfsFile` entry. A resolve of
an LFS file answers 302 to the CDN (again `localhost`) with `X-Linked-Etag`/`X-Linked-Size`, as the Hub does.
huggingface_hub 2.4 chooses Xet on the client side whenever hf_xet is installed; the fake has no Xet storage, so
while it runs the client's Xet switch is turned off (HF_HUB_DISABLE_XET) and the client takes its LFS path.

The real limits are enforced (tests/hub_limits.py): 128 commits per repository per hour (a 429 whose wait is only
in its text), 1,000 API calls and 5,000 resolves per token per 5 minutes (429 with `RateLimit`/`Retry-After`), and
a cap on the files of one commit; the clock can be sped up or driven by hand, and `counters()` tells what was
counted. Faults (412, 409, 429, 5xx, dropped connections before or after a commit is applied, slow answers) are
drawn per request from a seeded generator.

Two behaviours of the production Hub are on by default or one setting away:
- racing commits: a commit takes `commit_work_s` to apply, and a commit to a repository that arrives while another
  one is being applied is answered 409 "Another commit operation is in progress for this repository", as the Hub
  answers (`refuse_racing_commits`). A commit's operations are checked against the head before its parent, so a
  stale-parent commit deleting a file someone already deleted gets 404, not 412. A commit that would crowd a folder
  or the repository past the Hub's documented counts (tests/hub_limits.py) is refused.
- lagged reads: with `read_lag_s` set, a repo-info or resolve request for `main` is answered, with probability
  `read_lag_share`, from the head as it was `read_lag_s` seconds (of the fake's clock, or of `lag_clock`) ago, as
  the Hub's cached
  answers can be. Reads at a commit sha, tree listings and the commit history are always fresh.

While at least one FakeHub runs in a process, huggingface_hub's offline switch is lifted and its HTTP client
refuses every host but 127.0.0.1 and localhost, so tests can keep `HF_HUB_OFFLINE=1` for everything else.

Example:
    with FakeHub() as hub:
        hub.create_repo("org/requests")
        api = HfApi(endpoint=hub.url, token=hub.token)
        api.upload_file(path_or_fileobj=b"{}", path_in_repo="a.json", repo_id="org/requests", repo_type="dataset")
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import fnmatch
import hashlib
import itertools
import json
import random
import socket
import struct
import threading
import time
import traceback
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import httpx2
import yaml
from huggingface_hub import constants, set_client_factory
from huggingface_hub.errors import OfflineModeIsEnabled
from huggingface_hub.utils import _http as hf_http

from tests.hub_limits import Clock, HubCounters, HubLimits, RateLimiter, Refusal, SystemClock

TOKEN = "hf_test_token"
USER = "test-user"
_TYPE_PLURALS = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_API_SUBROUTES = {"tree", "paths-info", "preupload", "commit", "commits", "xet-write-token"}
_REPO_SUBROUTES = {"revision", "resolve", *_API_SUBROUTES}
_CONFIG_KEYS = ("architectures", "model_type", "auto_map", "quantization_config")
_LFS_PATTERNS = (  # the LFS part of the .gitattributes the Hub gives a new repository
    "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.mlmodel", "*.model",
    "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth",
    "*.rar", "*.safetensors", "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst",
)  # fmt: skip
_GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in _LFS_PATTERNS).encode()
_LFS_SIZE = 10 * 1024 * 1024  # the Hub stores any file over 10 MiB in LFS
_LFS_ROUTES = {"objects/batch": "lfs-batch", "objects/verify": "lfs-verify"}
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}
BUSY_MESSAGE = "Another commit operation is in progress for this repository. Please try again later."
_SAVED_DISABLE_XET = False


@dataclass(frozen=True)
class FaultPlan:
    """Per-request fault probabilities; each request draws from a generator seeded with `seed`.

    `conflict_rate` answers commits with 412 without moving the head; `busy_rate` answers them with the 409 of a
    commit racing another one. `drop_rate` closes the socket without an
    answer; for commits a `drop_after_share` of the drops happen after the commit was applied. `endpoints`, when
    set, limits faults to those endpoint kinds: info, tree, paths-info, preupload, commit, commits, resolve,
    create, validate-yaml, whoami, lfs-batch, lfs-verify, lfs-upload, cdn. An injected 429 carries
    `Retry-After: retry_after_s`, or, when `ratelimit_reset_s` is set, only `RateLimit: "api";r=0;t=ratelimit_reset_s`.
    """

    conflict_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after_s: float = 0.05
    ratelimit_reset_s: int | None = None
    server_error_rate: float = 0.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_s: float = 0.2
    seed: int = 0
    endpoints: frozenset[str] | None = None
    drop_after_share: float = 0.5
    busy_rate: float = 0.0


@dataclass(frozen=True)
class _Commit:
    sha: str
    parent: str | None
    tree: Mapping[str, str]  # path -> git blob oid
    title: str
    message: str
    date: str


@dataclass
class _Repo:
    repo_type: str
    repo_id: str
    private: bool
    gated: bool | str
    created_at: str
    pipeline_tag: str | None = None
    library_name: str | None = None
    head: str = ""
    commits: dict[str, _Commit] = field(default_factory=dict)
    head_times: list[float] = field(default_factory=list)  # the fake's clock when each head in `heads` landed
    heads: list[str] = field(default_factory=list)


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class _DropConnection(Exception):
    """Close the socket without writing an answer."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _later(parent: _Commit | None) -> str:
    """A new commit's date: now, and always after its parent's, as the Hub dates a branch's commits (a client
    may order heads by it)."""
    now = datetime.now(UTC)
    if parent is not None:
        now = max(now, datetime.fromisoformat(parent.date.replace("Z", "+00:00")) + timedelta(milliseconds=1))
    return now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def git_blob_oid(content: bytes) -> str:
    """The git sha1 of a blob, which the Hub uses as a regular file's oid and ETag."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git LFS pointer file git stores in place of an LFS file."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _lfs_patterns(gitattributes: bytes | None) -> list[str]:
    """The path patterns a `.gitattributes` sends to LFS."""
    if not gitattributes:
        return []
    lines = gitattributes.decode("utf-8", errors="replace").splitlines()
    return [line.split()[0] for line in lines if "filter=lfs" in line.split()[1:]]


def _matches_lfs(path: str, patterns: list[str]) -> bool:
    """Whether git would send `path` to LFS: a pattern without '/' matches the file name at any depth."""
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path if "/" in p else name, p.lstrip("/")) for p in patterns)


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})


def _error(status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> _Response:
    extra = {"X-Error-Message": message, **(headers or {})}
    if code is not None:
        extra["X-Error-Code"] = code
    return _json(status, {"error": message}, extra)


def _refused(refusal: Refusal) -> _Response:
    """A 429 as the Hub sends it when a limit is reached."""
    return _error(429, refusal.message, headers=refusal.headers())


def _limited_as(kind: str) -> str | None:
    """Which request budget an endpoint kind counts against: resolves, API calls, or none (storage and CDN)."""
    if kind == "resolve":
        return "resolves"
    if kind in ("lfs-upload", "cdn", "unknown"):
        return None
    return "api"


def _card_data(readme: bytes | None) -> dict[str, Any] | None:
    """The YAML front matter of a README.md, as the Hub reports it in `cardData`."""
    if readme is None:
        return None
    text = readme.decode("utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    data = yaml.safe_load(text[3:end])
    return data if isinstance(data, dict) else None


def _safetensors_parameters(blobs: list[bytes]) -> dict[str, Any] | None:
    """Parameter counts per dtype read from safetensors headers, as the Hub's `safetensors` field."""
    counts: Counter[str] = Counter()
    for blob in blobs:
        if len(blob) < 8:
            continue
        (header_len,) = struct.unpack("<Q", blob[:8])
        header = json.loads(blob[8 : 8 + header_len])
        for name, tensor in header.items():
            if name == "__metadata__":
                continue
            size = 1
            for dim in tensor["shape"]:
                size *= dim
            counts[tensor["dtype"]] += size
    if not counts:
        return None
    return {"parameters": dict(counts), "total": sum(counts.values())}


# --- letting huggingface_hub reach the fake hub, and nothing else -------------------------------------------------

_ACCESS_LOCK = threading.Lock()
_ACCESS_USERS = 0
_SAVED_OFFLINE = False


def _loopback_only(request: httpx2.Request) -> None:
    if constants.is_offline_mode() or request.url.host not in _LOOPBACK_HOSTS:
        raise OfflineModeIsEnabled(f"Cannot reach {request.url}: tests may only reach the local fake hub.")


def _loopback_client_factory() -> httpx2.Client:
    return httpx2.Client(event_hooks={"request": [_loopback_only]}, follow_redirects=True, timeout=None)


def _open_loopback_access() -> None:
    global _ACCESS_USERS, _SAVED_OFFLINE, _SAVED_DISABLE_XET
    with _ACCESS_LOCK:
        if _ACCESS_USERS == 0:
            _SAVED_OFFLINE = constants.HF_HUB_OFFLINE
            _SAVED_DISABLE_XET = constants.HF_HUB_DISABLE_XET
            constants.HF_HUB_OFFLINE = False
            constants.HF_HUB_DISABLE_XET = True  # the fake stores binaries through LFS, see the module docstring
            set_client_factory(_loopback_client_factory)
        _ACCESS_USERS += 1


def _close_loopback_access() -> None:
    global _ACCESS_USERS
    with _ACCESS_LOCK:
        _ACCESS_USERS -= 1
        if _ACCESS_USERS == 0:
            constants.HF_HUB_OFFLINE = _SAVED_OFFLINE
            constants.HF_HUB_DISABLE_XET = _SAVED_DISABLE_XET
            set_client_factory(hf_http.default_client_factory)


# --- the server ---------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    hub: FakeHub

    def setup(self) -> None:
        super().setup()
        self.hub._track_connection(self.connection, add=True)

    def finish(self) -> None:
        self.hub._track_connection(self.connection, add=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        split = urlsplit(self.path)
        request = _Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        try:
            response = self.hub._serve(request)
        except _DropConnection:
            self.close_connection = True
            return
        except Exception as exc:  # a bug in the fake: say so loudly instead of dropping the connection
            traceback.print_exc()
            response = _error(500, f"fake hub failed on {self.command} {self.path}: {exc!r}")
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if "Content-Length" not in response.headers:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128


class FakeHub:
    """A Hub server on 127.0.0.1 with content-addressed history and seeded fault injection.

    Example:
        with FakeHub(seed=1) as hub:
            sha = hub.add_model_repo("org/tiny", files={"config.json": b'{"model_type": "bert"}'})
            info = HfApi(endpoint=hub.url).model_info("org/tiny")
            assert info.sha == sha
    """

    token = TOKEN
    user = USER

    def __init__(
        self,
        seed: int = 0,
        *,
        limits: HubLimits | None = None,
        clock: Clock | None = None,
        lag_clock: Clock | None = None,
    ) -> None:
        self.seed = seed
        self.url = ""
        self.cdn_url = ""
        self.page_size = 1000
        self.xet_token_status = 503  # the answer to a client that asks for Xet storage, which the fake does not have
        self.refuse_racing_commits = True
        self.commit_work_s = 0.005
        self.read_lag_s = 0.0
        self.read_lag_share = 1.0
        self._committing: Counter[tuple[str, str]] = Counter()
        self._racing_refused = 0
        self._lag_rng = random.Random(seed)
        self._lag_clock = lag_clock  # None: the limits' clock; a simulation whose clock stands still during an
        # operation passes real time here, so a writer's retries outlast the lag as they would on the Hub
        self._lock = threading.RLock()
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._blobs: dict[str, bytes] = {}
        self._lfs_objects: dict[str, bytes] = {}  # sha256 -> content, the LFS storage
        self._lfs_pointers: dict[str, str] = {}  # git oid of a pointer file -> sha256 of its content
        self._limiter = RateLimiter(limits or HubLimits(), clock or SystemClock())
        self._sequence = itertools.count(1)
        self._faults = FaultPlan()
        self._rng = random.Random(seed)
        self._fault_counts: Counter[str] = Counter()
        self._request_log: list[tuple[str, str, int]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> str:
        """Start serving on a free port and return the endpoint url."""
        if self._server is not None:
            return self.url
        handler = type("FakeHubHandler", (_Handler,), {"hub": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.cdn_url = f"http://localhost:{self._server.server_address[1]}"  # another origin, as the Hub's CDN
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        _open_loopback_access()
        return self.url

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        _close_loopback_access()

    def __enter__(self) -> FakeHub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track_connection(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def env(self) -> dict[str, str]:
        """Environment variables that point a child process's huggingface_hub at this hub."""
        return {
            "HF_ENDPOINT": self.url,
            "HF_TOKEN": self.token,
            "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_XET": "1",
        }

    # -- limits ------------------------------------------------------------------------------------------------

    @property
    def limits(self) -> HubLimits:
        return self._limiter.limits

    @limits.setter
    def limits(self, limits: HubLimits) -> None:
        self._limiter.limits = limits

    @property
    def clock(self) -> Clock:
        return self._limiter.clock

    def counters(self) -> HubCounters:
        """Commits per repository, API calls and resolves per token and window, and 429s per limit."""
        return self._limiter.counters()

    # -- faults ------------------------------------------------------------------------------------------------

    @property
    def faults(self) -> FaultPlan:
        return self._faults

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        with self._lock:
            self._faults = plan
            self._rng = random.Random(plan.seed)

    @property
    def fault_counts(self) -> dict[str, int]:
        """How many faults of each kind were injected: conflict, rate_limit, server_error, drop_before,
        drop_after, slow."""
        with self._lock:
            return dict(self._fault_counts)

    @property
    def racing_commits_refused(self) -> int:
        """Commits answered 409 because another commit to their repository was being applied."""
        with self._lock:
            return self._racing_refused

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request answered or dropped (status 0)."""
        with self._lock:
            return list(self._request_log)

    def _draw_fault(self, kind: str) -> tuple[str | None, bool]:
        """One fault (or None) for this request, and whether to answer slowly."""
        plan = self._faults
        with self._lock:
            if plan.endpoints is not None and kind not in plan.endpoints:
                return None, False
            slow = self._rng.random() < plan.slow_rate
            roll = self._rng.random()
            fault: str | None = None
            thresholds = [
                ("conflict", plan.conflict_rate if kind == "commit" else 0.0),
                ("busy", plan.busy_rate if kind == "commit" else 0.0),
                ("rate_limit", plan.rate_limit_rate),
                ("server_error", plan.server_error_rate),
                ("drop", plan.drop_rate),
            ]
            for name, rate in thresholds:
                if roll < rate:
                    fault = name
                    break
                roll -= rate
            if fault == "drop":
                fault = (
                    "drop_after" if kind == "commit" and self._rng.random() < plan.drop_after_share else "drop_before"
                )
            if slow:
                self._fault_counts["slow"] += 1
            if fault is not None:
                self._fault_counts[fault] += 1
            return fault, slow

    # -- test-side helpers -------------------------------------------------------------------------------------

    def create_repo(self, repo_id: str, repo_type: str = "dataset", *, private: bool = False) -> str:
        """Create a repo holding the Hub's initial `.gitattributes` commit; return its head sha."""
        with self._lock:
            if (repo_type, repo_id) in self._repos:
                raise ValueError(f"{repo_type} repo {repo_id} exists")
            repo = _Repo(repo_type, repo_id, private=private, gated=False, created_at=_now())
            self._repos[(repo_type, repo_id)] = repo
            self._apply(repo, {".gitattributes": _GITATTRIBUTES}, (), "initial commit", "", counted=False)
            return repo.head

    def add_model_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes] | None = None,
        folder: Path | None = None,
        *,
        private: bool = False,
        gated: bool | str = False,
        pipeline_tag: str | None = None,
        library_name: str | None = None,
    ) -> str:
        """Create a model repo from `files` and/or every file under `folder`; return its head sha."""
        contents: dict[str, bytes] = {}
        if folder is not None:
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file() and ".git" not in path.relative_to(folder).parts:
                    contents[path.relative_to(folder).as_posix()] = path.read_bytes()
        contents.update(files or {})
        with self._lock:
            self.create_repo(repo_id, "model", private=private)
            repo = self._repos[("model", repo_id)]
            repo.gated = "manual" if gated is True else gated
            repo.pipeline_tag = pipeline_tag
            repo.library_name = library_name
            if contents:
                self._apply(repo, contents, (), "Upload model", "")
            return repo.head

    def upload_files(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        repo_type: str = "dataset",
        deletes: tuple[str, ...] = (),
        message: str = "Upload files",
    ) -> str:
        """Commit files directly (no HTTP, no faults), creating the repo if needed; return the new head."""
        with self._lock:
            if (repo_type, repo_id) not in self._repos:
                self.create_repo(repo_id, repo_type)
            return self._apply(self._repos[(repo_type, repo_id)], files, deletes, message, "")

    def head(self, repo_id: str, repo_type: str = "dataset") -> str:
        with self._lock:
            return self._get_repo(repo_type, repo_id).head

    def list_files(self, repo_id: str, *, revision: str = "main", repo_type: str = "dataset") -> list[str]:
        with self._lock:
            repo = self._get_repo(repo_type, repo_id)
            commit = self._resolve(repo, revision)
            if commit is None:
                raise KeyError(revision)
            return sorted(commit.tree)

    def read_file(self, repo_id: str, path: str, *, revision: str = "main", repo_type: str = "dataset") -> bytes:
        with self._lock:
            commit = self._resolve(self._get_repo(repo_type, repo_id), revision)
            if commit is None:
                raise KeyError(revision)
            return self._content(commit.tree[path])

    def commit_count(self, repo_id: str, repo_type: str = "dataset") -> int:
        """Commits on main after the repo's creation commit."""
        with self._lock:
            return len(self._lineage(self._get_repo(repo_type, repo_id), None)) - 1

    def commit_messages(self, repo_id: str, repo_type: str = "dataset") -> list[tuple[str, str]]:
        """(title, description) of every commit on main, newest first."""
        with self._lock:
            return [(c.title, c.message) for c in self._lineage(self._get_repo(repo_type, repo_id), None)]

    def _get_repo(self, repo_type: str, repo_id: str) -> _Repo:
        try:
            return self._repos[(repo_type, repo_id)]
        except KeyError:
            raise KeyError(f"no {repo_type} repo {repo_id}") from None

    # -- state -------------------------------------------------------------------------------------------------

    def _apply(
        self,
        repo: _Repo,
        adds: Mapping[str, bytes],
        deletes: tuple[str, ...] | list[str],
        title: str,
        message: str,
        *,
        lfs: set[str] | None = None,
        counted: bool = True,
    ) -> str:
        """Make a commit on main; the caller holds the lock and has validated the operations.

        `lfs` names the added paths stored in LFS; by default, those the repo's `.gitattributes` sends there, as a
        git push would. `counted` is False only for a repository's creation commit, which no rate limit counts.
        """
        parent = repo.commits.get(repo.head)
        tree = dict(parent.tree) if parent else {}
        for path in deletes:
            tree.pop(path, None)
        if lfs is None:
            attributes = adds.get(".gitattributes")
            if attributes is None and ".gitattributes" in tree:
                attributes = self._content(tree[".gitattributes"])
            patterns = _lfs_patterns(attributes)
            lfs = {path for path in adds if _matches_lfs(path, patterns)}
        for path, content in adds.items():
            tree[path] = self._store(content, as_lfs=path in lfs)
        digest = hashlib.sha1(f"{repo.head}\n{sorted(tree.items())}\n{title}\n{message}".encode())
        digest.update(f"\n{self.seed}:{next(self._sequence)}".encode())
        commit = _Commit(digest.hexdigest(), repo.head or None, tree, title, message, _later(parent))
        repo.commits[commit.sha] = commit
        repo.head = commit.sha
        repo.head_times.append(self._lag_now())
        repo.heads.append(commit.sha)
        if counted:
            self._limiter.record_commit(repo.repo_id)
        return commit.sha

    def _store(self, content: bytes, *, as_lfs: bool) -> str:
        """Keep `content` as a git blob, or in LFS storage behind a pointer blob; return the blob's git oid."""
        if not as_lfs:
            oid = git_blob_oid(content)
            self._blobs[oid] = content
            return oid
        sha256 = hashlib.sha256(content).hexdigest()
        self._lfs_objects[sha256] = content
        pointer = lfs_pointer(sha256, len(content))
        oid = git_blob_oid(pointer)
        self._blobs[oid] = pointer
        self._lfs_pointers[oid] = sha256
        return oid

    def _content(self, oid: str) -> bytes:
        """A file's content from its blob oid, following an LFS pointer."""
        sha256 = self._lfs_pointers.get(oid)
        return self._blobs[oid] if sha256 is None else self._lfs_objects[sha256]

    def _resolve(self, repo: _Repo, revision: str, *, cached: bool = False) -> _Commit | None:
        """The commit `revision` names; with `cached`, `main` may be answered from a lagged head (see above)."""
        if revision == "main" or revision == "refs/heads/main":
            if cached and self.read_lag_s > 0 and self._lag_rng.random() < self.read_lag_share:
                return repo.commits[self._lagged_head(repo)]
            return repo.commits[repo.head]
        if revision in repo.commits:
            return repo.commits[revision]
        if 7 <= len(revision) < 40:
            matches = [c for sha, c in repo.commits.items() if sha.startswith(revision)]
            if len(matches) == 1:
                return matches[0]
        return None

    def _lagged_head(self, repo: _Repo) -> str:
        """The head as it was `read_lag_s` ago (the creation commit if the repo is younger than that)."""
        landed = bisect.bisect_right(repo.head_times, self._lag_now() - self.read_lag_s)
        return repo.heads[max(landed - 1, 0)]

    def _lag_now(self) -> float:
        return (self._lag_clock or self._limiter.clock).now()

    def _lineage(self, repo: _Repo, start: _Commit | None) -> list[_Commit]:
        commit: _Commit | None = start or repo.commits[repo.head]
        found = []
        while commit is not None:
            found.append(commit)
            commit = repo.commits.get(commit.parent) if commit.parent else None
        return found

    # -- request handling --------------------------------------------------------------------------------------

    def _serve(self, request: _Request) -> _Response:
        kind = self._endpoint_kind(request)
        token = request.headers.get("authorization") or "anonymous"
        refusal = self._limiter.admit_request(_limited_as(kind), token)
        if refusal is not None:
            self._log(request, 429)
            return _refused(refusal)
        fault, slow = self._draw_fault(kind)
        if slow:
            time.sleep(self._faults.slow_s)
        try:
            response = self._answer(request, kind, fault)
        except _DropConnection:
            self._log(request, 0)
            raise
        self._log(request, response.status)
        return response

    def _log(self, request: _Request, status: int) -> None:
        with self._lock:
            self._request_log.append((request.method, request.path, status))

    def _answer(self, request: _Request, kind: str, fault: str | None) -> _Response:
        if fault == "drop_before":
            raise _DropConnection
        if fault == "rate_limit":
            reset = self._faults.ratelimit_reset_s
            headers = (
                {"Retry-After": f"{self._faults.retry_after_s:g}"}
                if reset is None
                else {"RateLimit": f'"api";r=0;t={reset}'}
            )
            return _error(429, "Too many requests, slow down", headers=headers)
        if fault == "server_error":
            with self._lock:
                status = self._rng.choice([500, 502, 503])
            return _error(status, "Injected server error")
        if kind == "lfs-upload":
            return self._lfs_storage_put(request)
        if kind == "cdn":
            return self._cdn_get(request)
        auth = request.headers.get("authorization")
        if auth is not None and auth != f"Bearer {self.token}":
            return _error(401, "Invalid credentials in Authorization header")
        authed = auth is not None
        if kind == "create":
            return self._create_from_request(request, authed)
        if kind == "validate-yaml":
            return self._validate_yaml(request)
        if kind == "whoami":
            if not authed:
                return _error(401, "Unauthorized")
            return _json(200, {"type": "user", "name": self.user, "orgs": [], "auth": {"type": "access_token"}})
        if kind == "resolve":
            return self._resolve_file(request, authed)
        if kind in ("lfs-batch", "lfs-verify"):
            return self._lfs(request, kind, authed)
        if kind == "info" or kind in _API_SUBROUTES:
            return self._api(request, authed, fault)
        return _error(404, f"Sorry, we can't find the page you are looking for: {request.path}")

    @staticmethod
    def _segments(path: str) -> list[str]:
        return [unquote(part) for part in path.split("/") if part]

    def _endpoint_kind(self, request: _Request) -> str:
        """The endpoint a request is for, as FaultPlan.endpoints names it."""
        parts = self._segments(request.path)
        if parts[:1] == ["lfs-storage"]:
            return "lfs-upload"
        if parts[:1] == ["cdn-lfs"]:
            return "cdn"
        git = next((i for i, part in enumerate(parts) if part.endswith(".git")), None)
        if git is not None and parts[git + 1 : git + 3] == ["info", "lfs"]:
            return _LFS_ROUTES.get("/".join(parts[git + 3 :]), "unknown")
        if parts[:3] == ["api", "repos", "create"]:
            return "create"
        if parts[:2] == ["api", "validate-yaml"]:
            return "validate-yaml"
        if parts[:2] == ["api", "whoami-v2"]:
            return "whoami"
        if len(parts) >= 3 and parts[0] == "api" and parts[1] in _TYPE_PLURALS:
            _, rest = self._split_repo(_TYPE_PLURALS[parts[1]], parts[2:])
            return rest[0] if rest and rest[0] in _API_SUBROUTES else "info"
        if "resolve" in parts[1:4]:
            return "resolve"
        return "unknown"

    def _split_repo(self, repo_type: str, parts: list[str]) -> tuple[str, list[str]]:
        """Split path segments into (repo_id, rest), preferring a known two-segment `org/name` id."""
        with self._lock:
            if len(parts) >= 2 and (repo_type, f"{parts[0]}/{parts[1]}") in self._repos:
                return f"{parts[0]}/{parts[1]}", parts[2:]
            if (repo_type, parts[0]) in self._repos or len(parts) < 2 or parts[1] in _REPO_SUBROUTES:
                return parts[0], parts[1:]
            return f"{parts[0]}/{parts[1]}", parts[2:]

    def _readable_repo(self, repo_type: str, repo_id: str, authed: bool) -> _Repo | _Response:
        repo = self._repos.get((repo_type, repo_id))
        if repo is None:
            return _error(404, "Repository not found", "RepoNotFound")
        if repo.private and not authed:
            return _error(401, "Repository not found", "RepoNotFound")
        return repo

    def _api(self, request: _Request, authed: bool, fault: str | None) -> _Response:
        parts = self._segments(request.path)
        repo_type = _TYPE_PLURALS[parts[1]]
        repo_id, rest = self._split_repo(repo_type, parts[2:])
        kind = self._endpoint_kind(request)
        if rest and rest[0] not in _API_SUBROUTES | {"revision"}:
            return _error(404, f"Sorry, we can't find the page you are looking for: {request.path}")
        if kind == "commit":
            return self._racing_commit(request, repo_type, repo_id, rest, authed, fault)
        return self._api_locked(request, repo_type, repo_id, rest, kind, authed, fault)

    def _racing_commit(
        self, request: _Request, repo_type: str, repo_id: str, rest: list[str], authed: bool, fault: str | None
    ) -> _Response:
        """A commit takes `commit_work_s` to apply; one arriving meanwhile on the same repo is refused with 409."""
        key = (repo_type, repo_id)
        with self._lock:
            racing = self.refuse_racing_commits and self._committing[key] > 0
            if racing:
                self._racing_refused += 1
            if racing or fault == "busy":
                return _error(409, BUSY_MESSAGE)
            self._committing[key] += 1
        try:
            time.sleep(self.commit_work_s)
            return self._api_locked(request, repo_type, repo_id, rest, "commit", authed, fault)
        finally:
            with self._lock:
                self._committing[key] -= 1

    def _api_locked(
        self,
        request: _Request,
        repo_type: str,
        repo_id: str,
        rest: list[str],
        kind: str,
        authed: bool,
        fault: str | None,
    ) -> _Response:
        with self._lock:
            found = self._readable_repo(repo_type, repo_id, authed)
            if isinstance(found, _Response):
                return found
            repo = found
            if kind in ("preupload", "commit") and not authed:
                return _error(401, "You must be authenticated to write to this repository")
            revision = rest[1] if len(rest) >= 2 else "main"
            if kind == "commit":
                return self._commit(request, repo, revision, fault)
            commit = self._resolve(repo, revision)
            if commit is None:
                return _error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            if kind == "info":
                lagged = self._resolve(repo, revision, cached=True)
                return self._info(request, repo, lagged or commit)
            if kind == "tree":
                return self._tree(request, repo, commit, "/".join(rest[2:]))
            if kind == "paths-info":
                return self._paths_info(request, commit)
            if kind == "preupload":
                return self._preupload(request, commit)
            if kind == "commits":
                return self._commits(request, repo, commit)
            if kind == "xet-write-token":
                return _error(self.xet_token_status, "Xet storage is not available on this server")
        return _error(404, f"Sorry, we can't find the page you are looking for: {request.path}")

    # -- endpoints ---------------------------------------------------------------------------------------------

    def _create_from_request(self, request: _Request, authed: bool) -> _Response:
        if not authed:
            return _error(401, "You must be authenticated to create a repository")
        payload = json.loads(request.body or b"{}")
        name, organization = payload["name"], payload.get("organization")
        repo_id = f"{organization}/{name}" if organization else name
        repo_type = payload.get("type") or "model"
        private = bool(payload.get("private")) or payload.get("visibility") == "private"
        url = f"{self.url}/{_URL_PREFIXES[repo_type]}{repo_id}"
        with self._lock:
            if (repo_type, repo_id) in self._repos:
                message = f"You already created this {repo_type} repo"
                return _json(409, {"error": message, "url": url}, {"X-Error-Message": message})
            self.create_repo(repo_id, repo_type, private=private)
        return _json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _validate_yaml(self, request: _Request) -> _Response:
        content = json.loads(request.body or b"{}").get("content", "")
        try:
            _card_data(content.encode())
        except yaml.YAMLError as exc:
            return _json(400, {"errors": [{"message": str(exc)}], "warnings": []})
        return _json(200, {"errors": [], "warnings": []})

    def _info(self, request: _Request, repo: _Repo, commit: _Commit) -> _Response:
        with_blobs = request.query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = []
        for path, oid in sorted(commit.tree.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if with_blobs:
                sibling.update(size=len(self._content(oid)), blobId=oid)
                if oid in self._lfs_pointers:
                    sha256 = self._lfs_pointers[oid]
                    sibling["lfs"] = {
                        "sha256": sha256,
                        "size": len(self._content(oid)),
                        "pointerSize": len(self._blobs[oid]),
                    }
            siblings.append(sibling)
        card = _card_data(self._content(commit.tree["README.md"]) if "README.md" in commit.tree else None)
        data: dict[str, Any] = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0] if "/" in repo.repo_id else None,
            "sha": commit.sha,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": self._tags(repo, card, commit),
            "siblings": siblings,
            "usedStorage": sum(len(self._content(oid)) for oid in commit.tree.values()),
        }
        if card is not None:
            data["cardData"] = card
        if repo.repo_type == "model":
            data.update(self._model_fields(repo, commit))
        expand = request.query.get("expand") or request.query.get("expand[]")
        if expand:
            data = {key: value for key, value in data.items() if key in ("_id", "id", *expand)}
        return _json(200, data)

    def _tags(self, repo: _Repo, card: dict[str, Any] | None, commit: _Commit) -> list[str]:
        tags = [t for t in (repo.library_name, repo.pipeline_tag) if t]
        if any(p.endswith(".safetensors") for p in commit.tree):
            tags.append("safetensors")
        if card and isinstance(card.get("license"), str):
            tags.append(f"license:{card['license']}")
        return tags

    def _model_fields(self, repo: _Repo, commit: _Commit) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "modelId": repo.repo_id,
            "pipeline_tag": repo.pipeline_tag,
            "library_name": repo.library_name,
            "spaces": [],
        }
        config: dict[str, Any] = {}
        if "config.json" in commit.tree:
            try:
                parsed = json.loads(self._content(commit.tree["config.json"]))
            except ValueError:
                parsed = {}
            config.update({key: parsed[key] for key in _CONFIG_KEYS if key in parsed})
        if "model_index.json" in commit.tree:
            index = json.loads(self._content(commit.tree["model_index.json"]))
            config["diffusers"] = {"_class_name": index.get("_class_name")}
        if config:
            fields["config"] = config
        weights = [self._content(oid) for path, oid in sorted(commit.tree.items()) if path.endswith(".safetensors")]
        safetensors = _safetensors_parameters(weights)
        if safetensors is not None:
            fields["safetensors"] = safetensors
        return fields

    def _paginate(self, request: _Request, items: list[Any], cursor_param: str) -> _Response:
        start = int(request.query.get(cursor_param, ["0"])[0] or 0)
        page = items[start : start + self.page_size]
        headers = {}
        if start + self.page_size < len(items):
            query = {k: v for k, v in request.query.items() if k != cursor_param}
            query[cursor_param] = [str(start + self.page_size)]
            next_url = f"{self.url}{request.path}?{urlencode(query, doseq=True)}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        return _json(200, page, headers)

    def _tree(self, request: _Request, repo: _Repo, commit: _Commit, folder: str) -> _Response:
        recursive = request.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        prefix = f"{folder}/" if folder else ""
        below = {p: oid for p, oid in commit.tree.items() if p.startswith(prefix)}
        if folder and not below:
            return _error(404, f"{folder} does not exist on {commit.sha}", "EntryNotFound")
        entries: dict[str, dict[str, Any]] = {}
        for path, oid in below.items():
            relative = path[len(prefix) :].split("/")
            for depth in range(1, len(relative)):
                if not recursive and depth > 1:
                    break
                folder_path = prefix + "/".join(relative[:depth])
                entries.setdefault(folder_path, self._folder_entry(commit, folder_path))
            if recursive or len(relative) == 1:
                entries[path] = self._file_entry(path, oid)
        ordered = [entries[p] for p in sorted(entries)]
        return self._paginate(request, ordered, "cursor")

    def _file_entry(self, path: str, oid: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "oid": oid, "size": len(self._content(oid)), "path": path}
        if oid in self._lfs_pointers:
            entry["lfs"] = {"oid": self._lfs_pointers[oid], "size": entry["size"], "pointerSize": len(self._blobs[oid])}
        return entry

    def _folder_entry(self, commit: _Commit, path: str) -> dict[str, Any]:
        inside = sorted((p, oid) for p, oid in commit.tree.items() if p.startswith(f"{path}/"))
        return {"type": "directory", "oid": hashlib.sha1(repr(inside).encode()).hexdigest(), "size": 0, "path": path}

    def _paths_info(self, request: _Request, commit: _Commit) -> _Response:
        form = parse_qs(request.body.decode(), keep_blank_values=True)
        found = []
        for path in form.get("paths", []):
            if path in commit.tree:
                found.append(self._file_entry(path, commit.tree[path]))
            elif any(p.startswith(f"{path}/") for p in commit.tree):
                found.append(self._folder_entry(commit, path))
        return _json(200, found)

    def _preupload(self, request: _Request, commit: _Commit) -> _Response:
        """Upload modes as the Hub decides them: LFS by `.gitattributes`, by size, or for a binary sample; the
        `oid` of a file already there is its sha256 if in LFS, else its git oid (what the client compares)."""
        files = json.loads(request.body or b"{}").get("files", [])
        attributes = commit.tree.get(".gitattributes")
        patterns = _lfs_patterns(self._content(attributes) if attributes else None)
        answer = []
        for entry in files:
            path = entry["path"]
            sample = base64.b64decode(entry.get("sample") or "")
            lfs = _matches_lfs(path, patterns) or int(entry.get("size") or 0) > _LFS_SIZE or b"\0" in sample
            item: dict[str, Any] = {"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            if path in commit.tree:
                oid = commit.tree[path]
                item["oid"] = self._lfs_pointers.get(oid, oid)
            answer.append(item)
        return _json(200, {"files": answer, "commitOid": commit.sha})

    def _lfs(self, request: _Request, kind: str, authed: bool) -> _Response:
        """The git LFS batch endpoint (basic transfer only) and the verify call after an upload."""
        parts = self._segments(request.path)
        repo_type = "model"
        if parts[0] in ("datasets", "spaces"):
            repo_type, parts = _TYPE_PLURALS[parts[0]], parts[1:]
        git = next(i for i, part in enumerate(parts) if part.endswith(".git"))
        repo_id = "/".join(parts[: git + 1])[: -len(".git")]
        payload = json.loads(request.body or b"{}")
        with self._lock:
            found = self._readable_repo(repo_type, repo_id, authed)
            if isinstance(found, _Response):
                return found
            if not authed:
                return _error(401, "You must be authenticated to write to this repository")
            if kind == "lfs-verify":
                stored = self._lfs_objects.get(payload.get("oid", ""))
                if stored is None or len(stored) != payload.get("size"):
                    return _error(404, "Object not found: the upload did not complete")
                return _json(200, {"success": True})
            if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
                return _error(400, "Only uploads through the basic transfer are supported here")
            verify = f"{self.url}/{_URL_PREFIXES[repo_type]}{repo_id}.git/info/lfs/objects/verify"
            objects = []
            for item in payload.get("objects", []):
                oid, size = str(item["oid"]), int(item["size"])
                entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
                if oid not in self._lfs_objects:
                    entry["actions"] = {
                        "upload": {"href": f"{self.cdn_url}/lfs-storage/{oid}?size={size}&signature=fake"},
                        "verify": {"href": verify},
                    }
                objects.append(entry)
        return _json(200, {"transfer": "basic", "objects": objects}, {"Content-Type": "application/vnd.git-lfs+json"})

    def _lfs_storage_put(self, request: _Request) -> _Response:
        """The storage host an LFS upload URL points at: it keeps the object if it is what was announced."""
        parts = self._segments(request.path)
        if request.method != "PUT" or len(parts) != 2:
            return _Response(405, b"method not allowed")
        oid = parts[1]
        size = request.query.get("size", [""])[0]
        if hashlib.sha256(request.body).hexdigest() != oid or size != str(len(request.body)):
            return _Response(400, b"<Error><Code>BadDigest</Code></Error>", {"Content-Type": "application/xml"})
        with self._lock:
            self._lfs_objects[oid] = request.body
        return _Response(200, b"", {"ETag": f'"{hashlib.md5(request.body).hexdigest()}"'})

    def _cdn_get(self, request: _Request) -> _Response:
        """The CDN host a resolve of an LFS file redirects to; it needs no token (the URL is signed)."""
        parts = self._segments(request.path)
        with self._lock:
            content = self._lfs_objects.get(parts[1]) if len(parts) == 2 else None
        if content is None or request.method not in ("GET", "HEAD"):
            return _Response(403, b"<Error><Code>AccessDenied</Code></Error>", {"Content-Type": "application/xml"})
        return self._file_response(request, content, {"ETag": f'"{parts[1]}"'})

    def _commits(self, request: _Request, repo: _Repo, commit: _Commit) -> _Response:
        items = [
            {
                "id": c.sha,
                "title": c.title,
                "message": c.message,
                "date": c.date,
                "authors": [{"user": self.user, "avatar": ""}],
            }
            for c in self._lineage(repo, commit)
        ]
        return self._paginate(request, items, "p")

    def _commit(self, request: _Request, repo: _Repo, revision: str, fault: str | None) -> _Response:
        """Apply an NDJSON commit atomically (the caller holds the lock)."""
        if request.query.get("create_pr"):
            return _error(400, "This server does not support pull requests")
        if revision not in ("main", "refs/heads/main"):
            return _error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        try:
            items = [json.loads(line) for line in request.body.splitlines() if line.strip()]
        except ValueError:
            return _error(400, "Malformed NDJSON commit payload")
        if not items or items[0].get("key") != "header":
            return _error(400, "The first line of a commit must be its header")
        header = items[0]["value"]
        refusal = self._limiter.check_commit(repo.repo_id)
        if refusal is not None:
            return _refused(refusal)
        most = self._limiter.limits.operations_per_commit
        if most is not None and len(items) - 1 > most:
            return _error(400, f"Too many operations in one commit: {len(items) - 1}, at most {most} are allowed")
        tree = repo.commits[repo.head].tree
        adds: dict[str, bytes] = {}
        lfs: set[str] = set()
        deletes: list[str] = []
        for item in items[1:]:
            key, value = item.get("key"), item.get("value", {})
            path = value.get("path", "")
            if not path or path.startswith("/") or ".." in path.split("/") or "" in path.split("/"):
                return _error(400, f"Invalid path in commit: {path!r}")
            if key == "file":
                if value.get("encoding") != "base64":
                    return _error(400, "Only base64 inline content is supported")
                adds[path] = base64.b64decode(value["content"])
                if b"\0" in adds[path]:
                    return _error(400, f"Your push was rejected because it contains binary files: {path}")
            elif key == "lfsFile":
                stored = self._lfs_objects.get(value.get("oid", "")) if value.get("algo") == "sha256" else None
                if stored is None or value.get("size", len(stored)) != len(stored):
                    message = (
                        f"Your push was rejected because an LFS pointer pointed to a file that does not exist: {path}"
                    )
                    return _error(422, message)
                adds[path] = stored
                lfs.add(path)
            elif key == "deletedFile":
                if path not in tree or path in deletes:
                    return _error(404, "A file with this name doesn't exist", "EntryNotFound")
                deletes.append(path)
            elif key == "deletedFolder":
                inside = [p for p in tree if p.startswith(path.rstrip("/") + "/")]
                if not inside:
                    return _error(404, "A folder with this name doesn't exist", "EntryNotFound")
                deletes.extend(inside)
            else:
                return _error(400, f"Unsupported commit operation {key!r}")
        crowded = self._crowded(tree, adds, deletes)
        if crowded is not None:
            return _error(400, crowded)
        if fault == "conflict" or (header.get("parentCommit") and header["parentCommit"] != repo.head):
            return _error(412, "A commit has happened since. Please refresh and try again.")
        sha = self._apply(repo, adds, deletes, header.get("summary", ""), header.get("description", ""), lfs=lfs)
        if fault == "drop_after":
            raise _DropConnection
        url = f"{self.url}/{_URL_PREFIXES[repo.repo_type]}{repo.repo_id}/commit/{sha}"
        return _json(
            200, {"success": True, "commitOid": sha, "commitUrl": url, "hookOutput": "", "pullRequestUrl": None}
        )

    def _crowded(self, tree: Mapping[str, str], adds: Mapping[str, bytes], deletes: list[str]) -> str | None:
        """Why a commit adding new files would break the per-folder or per-repository limit, or None."""
        new = [path for path in adds if path not in tree]
        if not new:
            return None
        limits = self._limiter.limits
        files = len(tree) - len(set(deletes)) + len(new)
        if limits.files_per_repo is not None and files > limits.files_per_repo:
            return f"This repository would hold {files} files, more than the {limits.files_per_repo} allowed"
        if limits.entries_per_folder is None:
            return None
        gone = set(deletes)
        touched = {"/".join(path.split("/")[:depth]) for path in new for depth in range(path.count("/") + 1)}
        entries: dict[str, set[str]] = {folder: set() for folder in touched}
        for path in [*(p for p in tree if p not in gone), *new]:
            parts = path.split("/")
            for depth in range(len(parts)):
                names = entries.get("/".join(parts[:depth]))
                if names is not None:
                    names.add(parts[depth])
        for folder, names in sorted(entries.items()):
            if len(names) > limits.entries_per_folder:
                shown = folder or "the repository root"
                return f"{shown} would hold {len(names)} entries, more than the {limits.entries_per_folder} allowed"
        return None

    def _resolve_file(self, request: _Request, authed: bool) -> _Response:
        parts = self._segments(request.path)
        repo_type = "model"
        if parts[0] in ("datasets", "spaces") and "resolve" in parts[2:4]:
            repo_type = _TYPE_PLURALS[parts[0]]
            parts = parts[1:]
        index = parts.index("resolve")
        repo_id, rest = "/".join(parts[:index]), parts[index + 1 :]
        if len(rest) < 2:
            return _error(404, "Entry not found", "EntryNotFound")
        revision, path = rest[0], "/".join(rest[1:])
        with self._lock:
            found = self._readable_repo(repo_type, repo_id, authed)
            if isinstance(found, _Response):
                return found
            repo = found
            if repo.gated and not authed:
                message = f"Access to model {repo_id} is restricted. You must have access to it and be authenticated."
                return _error(401, message, "GatedRepo")
            commit = self._resolve(repo, revision, cached=True)
            if commit is None:
                return _error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            if path not in commit.tree:
                return _error(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.sha})
            oid = commit.tree[path]
            content = self._content(oid)
            sha256 = self._lfs_pointers.get(oid)
        if sha256 is not None:
            location = f"{self.cdn_url}/cdn-lfs/{sha256}?filename={quote(path.rsplit('/', 1)[-1])}"
            headers = {
                "Location": location,
                "ETag": f'"{oid}"',
                "X-Repo-Commit": commit.sha,
                "X-Linked-Etag": f'"{sha256}"',
                "X-Linked-Size": str(len(content)),
                "Content-Type": "text/plain; charset=utf-8",
            }
            return _Response(302, f"Found. Redirecting to {location}".encode(), headers)
        return self._file_response(request, content, {"ETag": f'"{oid}"', "X-Repo-Commit": commit.sha})

    @staticmethod
    def _file_response(request: _Request, content: bytes, identity: dict[str, str]) -> _Response:
        headers = {"Content-Type": "application/octet-stream", **identity, "Accept-Ranges": "bytes"}
        wanted = request.headers.get("range", "")
        if wanted.startswith("bytes=") and "," not in wanted:
            first, _, last = wanted[len("bytes=") :].partition("-")
            start = int(first) if first else max(len(content) - int(last), 0)
            end = int(last) if first and last else len(content) - 1
            if start >= len(content):
                return _Response(416, b"", {**headers, "Content-Range": f"bytes */{len(content)}"})
            body = content[start : end + 1]
            headers.update({"Content-Range": f"bytes {start}-{start + len(body) - 1}/{len(content)}"})
            return _Response(206, body, {**headers, "Content-Length": str(len(body))})
        return _Response(200, content, {**headers, "Content-Length": str(len(content))})
