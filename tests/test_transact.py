"""The read-decide-commit loop shared by the queue and the results publisher, on a real LocalStore."""

from __future__ import annotations

from pathlib import Path

import pytest

from leaderboard_data.errors import TransientStoreError
from leaderboard_data.stores import AddFile, LocalStore
from leaderboard_data.stores.transact import Backoff, Plan, transact


def _counter_step(store: LocalStore, rival: LocalStore, rival_commits: int) -> tuple[list[int], object]:
    """A step that increments counter.txt; a rival commits first on the first `rival_commits` reads."""
    reads = [0]

    def step() -> tuple[str, Plan[int]]:
        head = store.revision()
        files = store.list_files("counter.txt")
        value = int(store.read_file("counter.txt")) if files else 0
        if reads[0] < rival_commits:  # another writer lands between our read and our commit
            rival.commit([AddFile(f"rival/{reads[0]}.txt", b"x")], parent_revision=head, message="rival")
        reads[0] += 1
        return head, Plan(value + 1, [AddFile("counter.txt", str(value + 1).encode())], "count")

    return reads, step


def test_conflicts_are_retried_from_a_fresh_read_after_growing_jittered_pauses(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    reads, step = _counter_step(store, LocalStore(tmp_path / "s"), rival_commits=4)
    pauses: list[float] = []

    value = transact(store, step, what="count", backoff=Backoff(first_s=1.0, max_s=4.0), sleep=pauses.append)  # type: ignore[arg-type]

    assert value == 1 and store.read_file("counter.txt") == b"1"
    assert reads[0] == 5
    assert len(pauses) == 4
    assert all(0 <= p <= cap for p, cap in zip(pauses, [1.0, 2.0, 4.0, 4.0], strict=True))


def test_backoff_is_jittered_within_its_growing_cap() -> None:
    backoff = Backoff(first_s=0.1, max_s=1.0)
    draws = [backoff.delay(3) for _ in range(200)]
    assert all(0 <= d <= 0.8 for d in draws)
    assert len(set(draws)) > 100  # spread out, not one fixed pause every writer would share
    assert max(backoff.delay(20) for _ in range(50)) <= 1.0


def test_gives_up_after_max_attempts_and_applies_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    _, step = _counter_step(store, LocalStore(tmp_path / "s"), rival_commits=100)
    with pytest.raises(TransientStoreError, match="gave up after 3 attempts"):
        transact(store, step, what="count", max_attempts=3, sleep=lambda _: None)  # type: ignore[arg-type]
    assert store.list_files("counter.txt") == []


def test_nothing_to_write_commits_nothing_and_landed_sees_the_new_revision(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "s")
    head = store.revision()
    assert transact(store, lambda: (head, Plan("same")), what="noop") == "same"
    assert store.revision() == head

    seen: list[str] = []
    plan = Plan(1, [AddFile("a.txt", b"a")], "add a", landed=seen.append)
    transact(store, lambda: (store.revision(), plan), what="add")
    assert seen == [store.revision()] and seen[0] != head
