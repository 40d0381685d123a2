"""The Hub's rate limits as the fake Hub enforces them, on a clock a test or a bench can speed up or drive by hand.

What is limited, with the real figures as defaults (the Hub's rate-limit docs and its 429 messages):
- commits per repository: 128 in any hour (a sliding hour: the oldest commit in it says when the next one may land);
- API calls (every request under `/api/`, and the git LFS batch and verify calls) per token: 1,000 per fixed
  5-minute window;
- file resolves (`/resolve/` requests, HEAD or GET) per token: 5,000 per fixed 5-minute window.
A request over a limit is answered 429 and does not count; admitted requests count whatever their answer.
Downloads from and uploads to the fake's CDN and LFS storage (another host on the real Hub) are not limited.

A request-limit 429 carries `RateLimit: "api";r=0;t=SECONDS` and `Retry-After: SECONDS`, seconds of the fake's
clock; the commit-rate 429 carries no such header, only its message's "retry this action in N minutes". A commit
of more than `operations_per_commit` files is refused with 400 (25,000 here: an assumed figure, the Hub publishes
none; its docs ask for commits of at most a few thousand files). A commit that would leave a folder with more than
`entries_per_folder` direct entries or the repository with more than `files_per_repo` files is refused with 400:
the Hub's documented limits (10,000 and 100,000), enforced here so that growth without bound fails a test. With an
AcceleratedClock those are simulated seconds: a client has to sleep them on the same clock (HubStore takes a
`sleep` for that); huggingface_hub's own retries (preupload, LFS calls) sleep real seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Protocol

COMMIT_LIMIT_MESSAGE = (
    "You have exceeded the rate limit for repository commits ({limit} per hour). "
    "You can retry this action in {minutes} minutes. If you need higher rate limits, "
    "consider subscribing to a paid plan or contact us."
)
REQUEST_LIMIT_MESSAGE = "You have been rate-limited: too many '{kind}' requests ({limit} per {window:g} seconds)."


class Clock(Protocol):
    """Seconds on the fake Hub's clock, and a sleep measured on that clock."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0))


class AcceleratedClock:
    """Time that runs `factor` times faster than real time, so a bench can live through hours in minutes."""

    def __init__(self, factor: float) -> None:
        if factor <= 0:
            raise ValueError("an accelerated clock needs a positive factor")
        self.factor = factor
        self._start = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._start) * self.factor

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0) / self.factor)


class ManualClock:
    """Time that moves only when told to: `advance`, or a `sleep`, which returns at once."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(seconds, 0.0)

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


@dataclass(frozen=True)
class HubLimits:
    """The limits the fake Hub enforces; None lifts one. The defaults are the real Hub's for a free account."""

    commits_per_hour: int | None = 128
    api_calls_per_window: int | None = 1000
    resolves_per_window: int | None = 5000
    window_s: float = 300.0
    commit_window_s: float = 3600.0
    operations_per_commit: int | None = 25_000
    entries_per_folder: int | None = 10_000
    files_per_repo: int | None = 100_000


UNLIMITED = HubLimits(commits_per_hour=None, api_calls_per_window=None, resolves_per_window=None)


@dataclass(frozen=True)
class Refusal:
    """A 429 to answer: which limit, the seconds until it lifts, and the message."""

    kind: str
    retry_after_s: int
    message: str

    def headers(self) -> dict[str, str]:
        """The request limits carry `RateLimit` and `Retry-After`; the commit-rate 429 says its wait only in its
        text ("retry this action in N minutes"), as the Hub's does."""
        if self.kind == "commits":
            return {}
        return {"RateLimit": f'"api";r=0;t={self.retry_after_s}', "Retry-After": str(self.retry_after_s)}


@dataclass(frozen=True)
class HubCounters:
    """What the fake Hub counted, on its clock.

    `commit_times` holds the clock time of every commit per repository (creation commits left out); `api_calls`
    and `resolves` map (token, window start) to the admitted requests in that window; `limit_hits` counts the
    429s answered per limit: "commits", "api", "resolves".
    """

    commit_times: dict[str, tuple[float, ...]]
    api_calls: dict[tuple[str, float], int]
    resolves: dict[tuple[str, float], int]
    limit_hits: dict[str, int]
    window_s: float
    commit_window_s: float

    def commits(self, repo_id: str) -> int:
        return len(self.commit_times.get(repo_id, ()))

    def max_commits_per_window(self, repo_id: str) -> int:
        """The most commits `repo_id` took in any sliding commit window (an hour by default)."""
        times = self.commit_times.get(repo_id, ())
        best, first = 0, 0
        for last, moment in enumerate(times):
            while moment - times[first] >= self.commit_window_s:
                first += 1
            best = max(best, last - first + 1)
        return best

    @property
    def max_api_calls_per_window(self) -> int:
        return max(self.api_calls.values(), default=0)

    @property
    def max_resolves_per_window(self) -> int:
        return max(self.resolves.values(), default=0)

    @property
    def total_limit_hits(self) -> int:
        return sum(self.limit_hits.values())


@dataclass
class RateLimiter:
    """Counts requests and commits against HubLimits; thread-safe."""

    limits: HubLimits = field(default_factory=HubLimits)
    clock: Clock = field(default_factory=SystemClock)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _commit_times: dict[str, list[float]] = field(default_factory=dict)
    _recent_commits: dict[str, deque[float]] = field(default_factory=dict)
    _requests: dict[str, Counter[tuple[str, float]]] = field(
        default_factory=lambda: {"api": Counter(), "resolves": Counter()}
    )
    _hits: Counter[str] = field(default_factory=Counter)

    def admit_request(self, kind: str | None, token: str) -> Refusal | None:
        """Count one request of `kind` ("api", "resolves" or None for unlimited ones), or refuse it."""
        if kind is None:
            return None
        limit = self.limits.api_calls_per_window if kind == "api" else self.limits.resolves_per_window
        window = self.limits.window_s
        with self._lock:
            now = self.clock.now()
            start = math.floor(now / window) * window
            counts = self._requests[kind]
            if limit is not None and counts[(token, start)] >= limit:
                self._hits[kind] += 1
                wait = max(1, math.ceil(start + window - now))
                return Refusal(kind, wait, REQUEST_LIMIT_MESSAGE.format(kind=kind, limit=limit, window=window))
            counts[(token, start)] += 1
            return None

    def check_commit(self, repo_id: str) -> Refusal | None:
        """Refuse a commit to `repo_id` if its last hour is full; counting happens in `record_commit`."""
        limit = self.limits.commits_per_hour
        if limit is None:
            return None
        with self._lock:
            now = self.clock.now()
            recent = self._recent(repo_id, now)
            if len(recent) < limit:
                return None
            self._hits["commits"] += 1
            wait = max(1, math.ceil(recent[-limit] + self.limits.commit_window_s - now))
            message = COMMIT_LIMIT_MESSAGE.format(limit=limit, minutes=max(1, math.ceil(wait / 60)))
            return Refusal("commits", wait, message)

    def record_commit(self, repo_id: str) -> None:
        with self._lock:
            now = self.clock.now()
            self._commit_times.setdefault(repo_id, []).append(now)
            self._recent(repo_id, now).append(now)

    def _recent(self, repo_id: str, now: float) -> deque[float]:
        recent = self._recent_commits.setdefault(repo_id, deque())
        while recent and now - recent[0] >= self.limits.commit_window_s:
            recent.popleft()
        return recent

    def counters(self) -> HubCounters:
        with self._lock:
            return HubCounters(
                commit_times={repo: tuple(times) for repo, times in self._commit_times.items()},
                api_calls=dict(self._requests["api"]),
                resolves=dict(self._requests["resolves"]),
                limit_hits=dict(self._hits),
                window_s=self.limits.window_s,
                commit_window_s=self.limits.commit_window_s,
            )
