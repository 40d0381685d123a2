"""One contract for every Store (LocalStore in a folder, HubStore against the local fake Hub), then what only
one of them promises: HubStore's retries under injected faults, LocalStore's crash recovery across processes."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from leaderboard_data.errors import ConflictError, FileNotInStoreError, StoreError, TransientStoreError
from leaderboard_data.stores.base import AddFile, DeleteFile, Store
from leaderboard_data.stores.hub import MARKER_PATH, HubStore
from leaderboard_data.stores.local import LocalStore
from tests.hub_server import FakeHub, FaultPlan

ROOT = Path(__file__).resolve().parents[1]
_repo_numbers = itertools.count()


@pytest.fixture(scope="module")
def shared_hub() -> Iterator[FakeHub]:
    with FakeHub(seed=0) as hub:
        yield hub


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    """A hub of its own, for tests that inject faults or count requests."""
    with FakeHub(seed=1) as server:
        yield server


def hub_store(hub: FakeHub, **options: object) -> HubStore:
    """A HubStore on a fresh dataset repo, with short backoffs so retries stay fast."""
    settings: dict[str, object] = {"backoff_s": 0.01, "max_retries": 5, "timeout_s": 10.0, **options}
    return HubStore(f"org/store-{next(_repo_numbers)}", endpoint=hub.url, token=hub.token, **settings)  # type: ignore[arg-type]


@pytest.fixture(params=["local", "hub"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    hub: FakeHub = request.getfixturevalue("shared_hub")
    hub.faults = FaultPlan()
    return hub_store(hub)


def commit_with_retries(store: Store, build: Callable[[Store], list[AddFile | DeleteFile]], message: str) -> str:
    """Re-read and retry on conflict, as every caller of a store does."""
    for _ in range(100):
        parent = store.revision()
        try:
            return store.commit(build(store), parent_revision=parent, message=message)
        except ConflictError:
            continue
    raise AssertionError("no commit landed in 100 tries")


# --- the contract -------------------------------------------------------------------------------------------------


def test_an_empty_store_has_a_revision_and_no_files(store: Store) -> None:
    assert isinstance(store.revision(), str) and store.revision()
    assert store.list_files() == []
    assert store.list_files("requests/") == []
    assert store.read_files([]) == {}
    with pytest.raises(FileNotInStoreError):
        store.read_file("requests/a.json")


def test_files_added_are_read_back_and_listed_by_prefix(store: Store) -> None:
    files = {
        "requests/org/model/1.json": b'{"n": 1}',
        "requests/org/model/2.json": b'{"n": 2}',
        "requests_notes.txt": b"not in the folder",
        "outbox/text_generation/r1.json": b"{}",
        "README.md": b"# store\n",
    }
    parent = store.revision()
    store.commit([AddFile(p, c) for p, c in files.items()], parent_revision=parent, message="add")

    assert store.list_files() == sorted(files)
    assert store.list_files("requests/") == ["requests/org/model/1.json", "requests/org/model/2.json"]
    assert store.list_files("requests/org/") == ["requests/org/model/1.json", "requests/org/model/2.json"]
    assert store.list_files("requests") == [
        "requests/org/model/1.json",
        "requests/org/model/2.json",
        "requests_notes.txt",
    ]
    assert store.list_files("outbox/text_generation/") == ["outbox/text_generation/r1.json"]
    assert store.list_files("missing/") == []
    assert store.read_file("requests/org/model/2.json") == b'{"n": 2}'
    assert store.read_files(["README.md", "requests_notes.txt"]) == {
        "README.md": b"# store\n",
        "requests_notes.txt": b"not in the folder",
    }
    with pytest.raises(FileNotInStoreError):
        store.read_files(["README.md", "requests/org/model/3.json"])


def test_one_commit_applies_several_adds_and_deletes_as_one_revision(store: Store) -> None:
    first = store.commit(
        [AddFile("a/1.txt", b"1"), AddFile("a/2.txt", b"2"), AddFile("b/3.txt", b"3")],
        parent_revision=store.revision(),
        message="three files",
    )
    assert store.revision() == first
    second = store.commit(
        [DeleteFile("a/1.txt"), AddFile("a/2.txt", b"two"), AddFile("c/4.txt", b"4")],
        parent_revision=first,
        message="mixed",
    )
    assert store.revision() == second != first
    assert store.list_files() == ["a/2.txt", "b/3.txt", "c/4.txt"]
    assert store.read_files(["a/2.txt", "c/4.txt"]) == {"a/2.txt": b"two", "c/4.txt": b"4"}


def test_deleting_removes_the_file_and_deleting_a_missing_file_changes_nothing(store: Store) -> None:
    head = store.commit(
        [AddFile("requests/x.json", b"x"), AddFile("requests/y.json", b"y")],
        parent_revision=store.revision(),
        message="add",
    )
    head = store.commit([DeleteFile("requests/x.json")], parent_revision=head, message="delete")
    assert store.list_files("requests/") == ["requests/y.json"]
    with pytest.raises(FileNotInStoreError):
        store.read_file("requests/x.json")
    with pytest.raises(StoreError) as refused:
        store.commit([AddFile("z.json", b"z"), DeleteFile("requests/x.json")], parent_revision=head, message="bad")
    assert not isinstance(refused.value, ConflictError | TransientStoreError)
    assert store.revision() == head
    assert store.list_files() == ["requests/y.json"]


def test_a_stale_parent_is_a_conflict_and_applies_nothing(store: Store) -> None:
    base = store.commit([AddFile("counter", b"0")], parent_revision=store.revision(), message="start")
    winner = store.commit([AddFile("counter", b"1")], parent_revision=base, message="first")
    with pytest.raises(ConflictError):
        store.commit([AddFile("counter", b"2"), AddFile("other", b"x")], parent_revision=base, message="stale")
    assert store.revision() == winner
    assert store.list_files() == ["counter"]
    assert store.read_file("counter") == b"1"


def test_an_identical_write_is_parent_checked_and_moves_the_revision(store: Store) -> None:
    base = store.commit([AddFile("counter", b"0")], parent_revision=store.revision(), message="start")
    winner = store.commit([AddFile("counter", b"1")], parent_revision=base, message="first")
    with pytest.raises(ConflictError):  # content equal to the head's, parent stale: a lost update if it passed
        store.commit([AddFile("counter", b"1")], parent_revision=base, message="stale and identical")
    assert store.revision() == winner
    again = store.commit([AddFile("counter", b"1")], parent_revision=winner, message="identical on the head")
    assert again not in (winner, base) and store.revision() == again
    with pytest.raises(ConflictError):
        store.commit([AddFile("counter", b"1")], parent_revision=winner, message="identical, parent now stale")
    assert store.revision() == again
    assert store.list_files() == ["counter"] and store.read_file("counter") == b"1"


@pytest.mark.parametrize(
    "path", ["../x", "a/../../x", "/abs", "a//b", "a/./b", "a/", "a\nb", "a\x00b", "tab\there", ".store/HEAD", ""]
)
def test_unsafe_paths_are_refused(store: Store, path: str) -> None:
    head = store.revision()
    with pytest.raises(StoreError) as refused:
        store.commit([AddFile(path, b"x")], parent_revision=head, message="unsafe")
    assert not isinstance(refused.value, ConflictError | TransientStoreError)
    with pytest.raises(StoreError):
        store.commit([DeleteFile(path)], parent_revision=head, message="unsafe")
    with pytest.raises(StoreError):
        store.read_file(path)
    assert store.revision() == head
    assert store.list_files() == []


def test_the_revision_moves_on_every_commit(store: Store) -> None:
    seen = [store.revision()]
    for n in range(4):
        new = store.commit([AddFile("n.txt", str(n).encode())], parent_revision=seen[-1], message=f"n={n}")
        assert store.revision() == new
        seen.append(new)
    assert len(set(seen)) == len(seen)


def test_a_commit_with_no_operations_is_refused(store: Store) -> None:
    with pytest.raises(StoreError):
        store.commit([], parent_revision=store.revision(), message="nothing")


def test_concurrent_committers_on_one_parent_exactly_one_wins(store: Store) -> None:
    parent = store.commit([AddFile("owner", b"nobody")], parent_revision=store.revision(), message="start")
    threads = 6
    barrier = threading.Barrier(threads)
    outcomes: dict[int, str] = {}

    def race(n: int) -> None:
        barrier.wait(timeout=10)
        try:
            store.commit([AddFile("owner", f"thread-{n}".encode())], parent_revision=parent, message=f"{n}")
            outcomes[n] = "won"
        except ConflictError:
            outcomes[n] = "conflict"

    workers = [threading.Thread(target=race, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    winners = [n for n, outcome in outcomes.items() if outcome == "won"]
    assert len(outcomes) == threads and len(winners) == 1
    assert store.read_file("owner") == f"thread-{winners[0]}".encode()


# --- HubStore only ------------------------------------------------------------------------------------------------


def test_hub_reads_any_old_revision_and_hides_the_hubs_own_files(shared_hub: FakeHub) -> None:
    shared_hub.faults = FaultPlan()
    store = hub_store(shared_hub)
    assert shared_hub.list_files(store.repo_id) == [".gitattributes"] and store.list_files() == []
    old = store.commit(
        [AddFile("f.txt", b"old"), AddFile("g.txt", b"g")], parent_revision=store.revision(), message="1"
    )
    new = store.commit([AddFile("f.txt", b"new"), DeleteFile("g.txt")], parent_revision=old, message="2")
    assert store.read_file("f.txt", old) == b"old" and store.read_file("f.txt", new) == b"new"
    assert store.read_files(["f.txt", "g.txt"], old) == {"f.txt": b"old", "g.txt": b"g"}
    assert store.list_files(revision=old) == ["f.txt", "g.txt"] and store.list_files() == ["f.txt"]
    assert store.location == store.repo_id and store.local_folder() is None


def test_hub_listings_follow_pagination(hub: FakeHub) -> None:
    store = hub_store(hub)
    names = [f"requests/{n:02d}.json" for n in range(7)]
    store.commit([AddFile(p, b"{}") for p in names], parent_revision=store.revision(), message="seven")
    hub.page_size = 2
    assert store.list_files("requests/") == names


def test_hub_commits_go_inline_and_an_identical_write_is_still_a_commit(hub: FakeHub) -> None:
    store = hub_store(hub)
    head = store.commit([AddFile("a.json", b"{}")], parent_revision=store.revision(), message="add")
    again = store.commit([AddFile("a.json", b"{}")], parent_revision=head, message="same")
    assert again != head and hub.commit_count(store.repo_id) == 2
    assert hub.list_files(store.repo_id) == [".gitattributes", MARKER_PATH, "a.json"]
    assert store.list_files() == ["a.json"]
    markers = [hub.read_file(store.repo_id, MARKER_PATH, revision=sha) for sha in (head, again)]
    assert markers[0] != markers[1]
    assert [markers[0].decode() in message for _, message in hub.commit_messages(store.repo_id)[:2]] == [False, True]
    paths = {path for _, path, _ in hub.request_log}
    assert any(p.endswith("/preupload/main") for p in paths) and any(p.endswith("/commit/main") for p in paths)
    assert not any(".git/" in p or "lfs" in p or "xet" in p for p in paths)


def test_hub_binary_files_go_through_lfs_and_read_back_through_the_cdn(hub: FakeHub) -> None:
    store = hub_store(hub)
    table = b"PAR1" + bytes(range(256)) * 4
    first = store.commit(
        [AddFile("text_generation/a.parquet", table), AddFile("a.json", b"{}")],
        parent_revision=store.revision(),
        message="binary",
    )
    paths = [path for _, path, _ in hub.request_log]
    assert any(p.endswith(".git/info/lfs/objects/batch") for p in paths)
    assert any(p.startswith("/lfs-storage/") for p in paths)
    assert store.read_file("text_generation/a.parquet", first) == table
    assert any(p.startswith("/cdn-lfs/") for _, p, _ in hub.request_log)
    assert store.list_files("text_generation/") == ["text_generation/a.parquet"]
    again = store.commit([AddFile("text_generation/a.parquet", table)], parent_revision=first, message="same bytes")
    assert again != first and store.read_file("text_generation/a.parquet") == table


def test_hub_retries_through_injected_faults_without_duplicating_commits(hub: FakeHub) -> None:
    store = hub_store(hub, max_retries=10)
    store.commit([AddFile("counter", b"0")], parent_revision=store.revision(), message="start")
    # Preupload is left out: huggingface_hub retries it by itself, sleeping whole seconds between tries.
    hub.faults = FaultPlan(
        rate_limit_rate=0.08, server_error_rate=0.08, drop_rate=0.15, slow_rate=0.05, slow_s=0.02,
        retry_after_s=0.01, seed=3, endpoints=frozenset({"info", "resolve", "commit", "commits"}),
    )  # fmt: skip
    increments = 16
    for _ in range(increments):
        parent = store.revision()  # a single writer: any ConflictError here would be a retry gone wrong
        count = int(store.read_file("counter", parent))
        store.commit([AddFile("counter", str(count + 1).encode())], parent_revision=parent, message="+1")
    hub.faults = FaultPlan()
    assert store.read_file("counter") == str(increments).encode()
    assert hub.commit_count(store.repo_id) == increments + 1
    counts = hub.fault_counts
    assert counts.get("rate_limit", 0) and counts.get("server_error", 0) and counts.get("drop_before", 0)
    assert counts.get("drop_after", 0), counts


def test_hub_a_drop_after_the_commit_applied_is_not_applied_twice(hub: FakeHub) -> None:
    store = hub_store(hub)
    parent = store.commit([AddFile("a.txt", b"a")], parent_revision=store.revision(), message="start")
    hub.faults = FaultPlan(drop_rate=1.0, endpoints=frozenset({"commit"}), drop_after_share=1.0)
    new = store.commit([AddFile("b.txt", b"b")], parent_revision=parent, message="dropped answer")
    assert new == hub.head(store.repo_id) != parent
    assert hub.commit_count(store.repo_id) == 2 and hub.fault_counts == {"drop_after": 1}
    hub.faults = FaultPlan()
    assert store.list_files() == ["a.txt", "b.txt"]


def test_hub_commits_that_never_reach_the_hub_give_up_without_applying(hub: FakeHub) -> None:
    store = hub_store(hub, max_retries=2)
    parent = store.commit([AddFile("a.txt", b"a")], parent_revision=store.revision(), message="start")
    hub.faults = FaultPlan(drop_rate=1.0, endpoints=frozenset({"commit"}), drop_after_share=0.0)
    with pytest.raises(TransientStoreError, match="re-read the head"):
        store.commit([AddFile("b.txt", b"b")], parent_revision=parent, message="never lands")
    assert hub.fault_counts == {"drop_before": 3}
    assert hub.head(store.repo_id) == parent and hub.commit_count(store.repo_id) == 1


def test_hub_another_writer_landing_during_an_uncertain_retry_is_a_conflict(hub: FakeHub) -> None:
    store = hub_store(hub, backoff_s=0.4)
    parent = store.commit([AddFile("a.txt", b"a")], parent_revision=store.revision(), message="start")
    hub.faults = FaultPlan(drop_rate=1.0, endpoints=frozenset({"commit"}), drop_after_share=0.0)
    outcome: list[BaseException] = []

    def commit() -> None:
        try:
            store.commit([AddFile("a.txt", b"mine")], parent_revision=parent, message="mine")
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=commit)
    worker.start()
    deadline = time.monotonic() + 10
    while not hub.fault_counts.get("drop_before") and time.monotonic() < deadline:
        time.sleep(0.005)
    hub.upload_files(store.repo_id, {"a.txt": b"theirs"}, message="another writer")  # lands during the backoff
    worker.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], ConflictError), outcome
    assert hub.fault_counts == {"drop_before": 1}
    assert hub.read_file(store.repo_id, "a.txt") == b"theirs" and hub.commit_count(store.repo_id) == 2


def test_hub_persistent_server_errors_give_a_transient_error_quickly(hub: FakeHub) -> None:
    store = hub_store(hub, max_retries=3)
    parent = store.revision()
    hub.faults = FaultPlan(server_error_rate=1.0)
    started = time.monotonic()
    with pytest.raises(TransientStoreError):
        store.revision()
    with pytest.raises(TransientStoreError):
        store.read_file("a.txt", parent)
    assert time.monotonic() - started < 3
    assert hub.fault_counts == {"server_error": 8}
    hub.faults = FaultPlan(server_error_rate=1.0, endpoints=frozenset({"commit"}))
    with pytest.raises(TransientStoreError):
        store.commit([AddFile("a.txt", b"a")], parent_revision=parent, message="503")
    assert hub.commit_count(store.repo_id) == 0


def test_hub_rate_limits_honour_retry_after(hub: FakeHub) -> None:
    store = hub_store(hub, max_retries=2, backoff_s=0.0)
    hub.faults = FaultPlan(rate_limit_rate=1.0, retry_after_s=0.2, endpoints=frozenset({"info"}))
    started = time.monotonic()
    with pytest.raises(TransientStoreError, match="429"):
        store.revision()
    assert time.monotonic() - started >= 0.4  # two waits of Retry-After, none after the last try


def test_hub_a_wrong_token_is_a_clear_permanent_error(hub: FakeHub) -> None:
    repo = hub_store(hub).repo_id
    with pytest.raises(StoreError, match="token") as refused:
        HubStore(repo, endpoint=hub.url, token="hf_wrong", backoff_s=0.01)
    assert not isinstance(refused.value, TransientStoreError)
    reader = HubStore(repo, endpoint=hub.url, token="hf_wrong", create=False, backoff_s=0.01)
    with pytest.raises(StoreError, match="token"):
        reader.revision()
    with pytest.raises(StoreError, match="not found"):
        HubStore("org/absent", endpoint=hub.url, token=hub.token, create=False).revision()


# --- LocalStore only ----------------------------------------------------------------------------------------------

_CRASHING_COMMIT = textwrap.dedent(
    """
    import os, sys
    from leaderboard_data.stores.base import AddFile
    from leaderboard_data.stores.local import LocalStore

    store = LocalStore(sys.argv[1])
    kill_at, calls, real_replace = int(sys.argv[2]), [0], os.replace

    def replace(src, dst):
        calls[0] += 1
        if calls[0] == kill_at:
            os._exit(17)  # dies like a killed process: no cleanup, no flush
        real_replace(src, dst)

    os.replace = replace
    new_files = [AddFile("a.txt", b"new-a"), AddFile("b.txt", b"new-b")]
    store.commit(new_files, parent_revision=store.revision(), message="crashing commit")
    """
)
# os.replace calls in a two-file commit: stage a, stage b, journal, a into place, b into place, HEAD.
_JOURNAL_WRITTEN_AT = 4


def _crash_commit_at(root: Path, kill_at: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CRASHING_COMMIT, str(root), str(kill_at)], cwd=ROOT, capture_output=True, timeout=60
    )
    assert done.returncode == (17 if kill_at <= 6 else 0), done.stderr.decode()


def _seeded_local_store(root: Path) -> tuple[LocalStore, str]:
    store = LocalStore(root)
    base = store.commit(
        [AddFile("a.txt", b"old-a"), AddFile("b.txt", b"old-b")], parent_revision=store.revision(), message="seed"
    )
    return store, base


@pytest.mark.parametrize("kill_at", [1, 2, 3, 4, 5, 6, 7])
def test_local_a_commit_killed_at_any_step_is_all_or_nothing_for_the_next_commit(tmp_path: Path, kill_at: int) -> None:
    _, base = _seeded_local_store(tmp_path / "store")
    _crash_commit_at(tmp_path / "store", kill_at)
    store = LocalStore(tmp_path / "store")
    with pytest.raises(ConflictError) if kill_at >= _JOURNAL_WRITTEN_AT else contextlib.nullcontext():
        store.commit([AddFile("c.txt", b"c")], parent_revision=base, message="after crash")
    commit_with_retries(store, lambda s: [AddFile("c.txt", b"c")], "after crash")
    expected = (b"new-a", b"new-b") if kill_at >= _JOURNAL_WRITTEN_AT else (b"old-a", b"old-b")
    assert (store.read_file("a.txt"), store.read_file("b.txt")) == expected
    assert store.list_files() == ["a.txt", "b.txt", "c.txt"]
    assert not (store.root / ".store" / "journal.json").exists()


def test_local_a_reader_after_a_crash_mid_apply_sees_one_whole_revision(tmp_path: Path) -> None:
    _, base = _seeded_local_store(tmp_path / "store")
    _crash_commit_at(tmp_path / "store", _JOURNAL_WRITTEN_AT + 1)
    reader = LocalStore(tmp_path / "store")
    head, files = reader.revision(), reader.read_files(["a.txt", "b.txt"])
    assert (head != base and files == {"a.txt": b"new-a", "b.txt": b"new-b"}) or (
        head == base and files == {"a.txt": b"old-a", "b.txt": b"old-b"}
    )


_INCREMENTER = textwrap.dedent(
    """
    import sys
    from leaderboard_data.errors import ConflictError
    from leaderboard_data.stores.base import AddFile
    from leaderboard_data.stores.local import LocalStore

    store, done = LocalStore(sys.argv[1]), 0
    while done < int(sys.argv[2]):
        parent = store.revision()
        count = int(store.read_file("counter"))
        try:
            store.commit([AddFile("counter", str(count + 1).encode())], parent_revision=parent, message="+1")
            done += 1
        except ConflictError:
            pass
    """
)


def test_local_processes_incrementing_one_counter_lose_no_update(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.commit([AddFile("counter", b"0")], parent_revision=store.revision(), message="start")
    processes, increments = 3, 20
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _INCREMENTER, str(store.root), str(increments)], cwd=ROOT, env=os.environ
        )
        for _ in range(processes)
    ]
    assert [child.wait(timeout=60) for child in children] == [0] * processes
    assert store.read_file("counter") == str(processes * increments).encode()
    log = (store.root / ".store" / "log.jsonl").read_text().splitlines()
    assert len(log) == processes * increments + 1
