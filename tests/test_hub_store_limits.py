"""HubStore against the Hub's limits and failures, through the fake Hub: 429s are waited out as long as the Hub
asks, and upload or network failures from inside huggingface_hub (LFS, hf_xet, httpx) are classified."""

from __future__ import annotations

import itertools
import logging
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from leaderboard_data.errors import TransientStoreError
from leaderboard_data.stores.base import AddFile
from leaderboard_data.stores.hub import HubStore
from tests.hub_limits import HubLimits, ManualClock
from tests.hub_server import FakeHub, FaultPlan

ROOT = Path(__file__).resolve().parents[1]
_numbers = itertools.count()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def hub(clock: ManualClock) -> Iterator[FakeHub]:
    with FakeHub(seed=2, clock=clock) as server:
        yield server


def fill_the_commit_hour(hub: FakeHub, clock: ManualClock, repo_id: str) -> int:
    """128 commits by another writer, 10 s apart; returns the seconds until the first leaves the hour."""
    for n in range(128):
        hub.upload_files(repo_id, {"other.txt": str(n).encode()})
        clock.advance(10)
    return math.ceil((3600 - 1280) / 60) * 60  # the commit-rate 429 says its wait in whole minutes, in words


def test_a_commit_rate_429_is_waited_out_as_long_as_the_hub_asks(
    hub: FakeHub, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = HubStore("org/queue", endpoint=hub.url, token=hub.token, sleep=clock.sleep, backoff_s=0.01)
    wait = fill_the_commit_hour(hub, clock, store.repo_id)
    parent = store.revision()
    with caplog.at_level(logging.WARNING, logger="leaderboard_data.stores.hub"):
        new = store.commit([AddFile("mine.txt", b"1")], parent_revision=parent, message="after the limit")
    assert new == hub.head(store.repo_id) and store.read_file("mine.txt") == b"1"
    assert clock.now() == 1280 + wait  # one wait, as long as the 429's text asked: no 30 s cap, no extra retries
    assert f"waiting {wait} s as the Hub asks" in caplog.text and "rate limited while trying to commit" in caplog.text
    counters = hub.counters()
    assert counters.limit_hits == {"commits": 1} and counters.max_commits_per_window(store.repo_id) == 128


def test_a_429_asking_longer_than_max_wait_gives_up_at_once_and_says_how_long(hub: FakeHub, clock: ManualClock) -> None:
    store = HubStore("org/queue", endpoint=hub.url, token=hub.token, sleep=clock.sleep, max_wait_s=600)
    wait = fill_the_commit_hour(hub, clock, store.repo_id)
    parent = store.revision()
    with pytest.raises(TransientStoreError, match="asks to wait 2340 s") as refused:
        store.commit([AddFile("mine.txt", b"1")], parent_revision=parent, message="refused")
    assert refused.value.retry_after_s == wait and clock.now() == 1280  # nothing was waited
    assert hub.head(store.repo_id) == parent and hub.counters().limit_hits == {"commits": 1}


def test_the_ratelimit_header_is_honoured_without_retry_after(hub: FakeHub) -> None:
    waits: list[float] = []
    store = HubStore("org/data", endpoint=hub.url, token=hub.token, max_retries=2, sleep=waits.append)
    hub.faults = FaultPlan(rate_limit_rate=1.0, ratelimit_reset_s=120, endpoints=frozenset({"info"}))
    with pytest.raises(TransientStoreError, match="429") as limited:
        store.revision()
    assert waits == [120.0, 120.0] and limited.value.retry_after_s == 120  # no cap at 30 s
    assert hub.fault_counts == {"rate_limit": 3}


def test_request_budgets_are_waited_out_to_the_next_window(clock: ManualClock) -> None:
    with FakeHub(limits=HubLimits(api_calls_per_window=4), clock=clock) as hub:  # the real 1,000, scaled down
        store = HubStore("org/data", endpoint=hub.url, token=hub.token, sleep=clock.sleep)  # create: 1 call
        heads = {store.revision() for _ in range(5)}
        assert len(heads) == 1 and clock.now() == 300  # the 4th read waited for the window to turn
        assert hub.counters().limit_hits == {"api": 1}


def test_a_failed_lfs_upload_is_transient_and_commits_nothing() -> None:
    with FakeHub(seed=4) as hub:
        store = HubStore("org/results", endpoint=hub.url, token=hub.token, max_retries=0)
        parent = store.revision()
        # huggingface_hub retries the storage PUT itself (1+2+4+8+8 s) before HubStore sees the failure
        hub.faults = FaultPlan(server_error_rate=1.0, endpoints=frozenset({"lfs-upload"}))
        with pytest.raises(TransientStoreError, match="HTTP 50"):
            store.commit([AddFile("t/a.parquet", b"PAR1\x00\x01")], parent_revision=parent, message="publish")
        assert hub.head(store.repo_id) == parent and hub.fault_counts["server_error"] == 6


def test_a_hub_that_cannot_be_reached_is_a_transient_error(hub: FakeHub) -> None:
    gone = FakeHub()  # `hub` keeps huggingface_hub's loopback access open once this one stops
    gone.start()
    store = HubStore("org/data", endpoint=gone.url, token=gone.token, max_retries=1, backoff_s=0.01)
    store.revision()
    gone.stop()
    with pytest.raises(TransientStoreError, match="cannot connect"):
        store.revision()


_XET_COMMIT = textwrap.dedent(
    """
    import sys
    from leaderboard_data.errors import StoreError, TransientStoreError
    from leaderboard_data.stores.base import AddFile
    from leaderboard_data.stores.hub import HubStore

    store = HubStore(sys.argv[1], create=False, max_retries=1, backoff_s=0.01)
    try:
        store.commit([AddFile("t/a.parquet", b"PAR1\\x00\\x01")], parent_revision=store.revision(), message="m")
    except StoreError as exc:
        print(type(exc).__name__, "|", exc)
    """
)


@pytest.mark.parametrize(("status", "outcome"), [(503, "TransientStoreError"), (401, "StoreError")])
def test_hf_xet_failures_are_classified(status: int, outcome: str) -> None:
    """A client with Xet on (as in production when hf_xet is installed): hf_xet asks the Hub for a Xet token and
    raises a ConnectionError when that fails; a 5xx is transient, a refused token is not."""
    with FakeHub() as hub:
        repo = f"org/xet-{next(_numbers)}"
        hub.create_repo(repo)
        hub.xet_token_status = status
        env = {
            **os.environ,
            **hub.env(),
            "HF_HUB_DISABLE_XET": "0",
            "HF_XET_CLIENT_RETRY_MAX_ATTEMPTS": "1",  # hf_xet's own retries would take minutes
            "HF_XET_CLIENT_RETRY_BASE_DELAY": "10ms",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        }
        child = subprocess.run(
            [sys.executable, "-c", _XET_COMMIT, repo], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert child.returncode == 0, child.stderr[-3000:]
        name, _, message = child.stdout.strip().partition(" | ")
        assert name == outcome and "ConnectionError" in message, child.stdout
        tokens = [p for _, p, _ in hub.request_log if p.endswith("/xet-write-token/main")]
        assert tokens and hub.commit_count(repo) == 0


_STUCK_XET_COMMIT = textwrap.dedent(
    """
    import sys
    from leaderboard_data.errors import TransientStoreError
    from leaderboard_data.stores.base import AddFile
    from leaderboard_data.stores.hub import HubStore

    store = HubStore(sys.argv[1], create=False, max_retries=0, commit_timeout_s=3)
    try:
        store.commit([AddFile("t/a.parquet", b"PAR1\\x00\\x01")], parent_revision=store.revision(), message="m")
    except TransientStoreError as exc:
        print(exc)
    """
)


def test_an_xet_upload_stuck_in_its_own_retries_gives_the_commit_back_at_its_deadline() -> None:
    """hf_xet retries a failing token fetch for minutes by itself (its defaults here, as in production): the
    commit attempt is given up at `commit_timeout_s` as an uncertain failure, and the process ends at once."""
    with FakeHub() as hub:
        repo = f"org/xet-{next(_numbers)}"
        hub.create_repo(repo)
        hub.xet_token_status = 503
        env = {**os.environ, **hub.env(), "HF_HUB_DISABLE_XET": "0", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        child = subprocess.run(
            [sys.executable, "-c", _STUCK_XET_COMMIT, repo],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert child.returncode == 0, child.stderr[-3000:]
        assert "no answer to the commit after 3 s" in child.stdout and "re-read the head" in child.stdout
        assert hub.commit_count(repo) == 0
