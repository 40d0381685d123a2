"""Which commands may create the deployment's Hub repositories: readers never do; `submit`, `run` and `publish`
create ORG/requests and ORG/results when they are missing, and say so."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from leaderboard_data.stores import open_stores
from runner.cli import EXIT_BAD_INPUT, main
from tests.hub_server import FakeHub


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub() as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        yield server


def created(hub: FakeHub) -> list[str]:
    return [path for method, path, _ in hub.request_log if path == "/api/repos/create"]


def exists(hub: FakeHub, repo_id: str) -> bool:
    try:
        hub.head(repo_id)
    except KeyError:
        return False
    return True


def test_opening_a_hub_deployment_sends_nothing_unless_asked_to_create(hub: FakeHub) -> None:
    stores = open_stores("hub:fresh")
    assert stores.is_hub and hub.request_log == []


@pytest.mark.parametrize(
    "argv",
    [
        ["queue"],
        ["queue", "--format", "json"],
        ["results"],
        ["cancel", "some-request-id"],
    ],
)
def test_read_only_commands_on_a_missing_repository_fail_clearly_and_create_nothing(
    hub: FakeHub, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main([*argv, "--store", "hub:fresh"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "fresh/" in err and "repository not found" in err, err
    assert len(err.splitlines()) == 1
    assert created(hub) == [] and not exists(hub, "fresh/requests") and not exists(hub, "fresh/results")


def test_publish_creates_the_missing_repositories_and_says_so(
    hub: FakeHub, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="leaderboard_data.stores.hub"):
        assert main(["publish", "--store", "hub:fresh"]) == 0
    assert "created the dataset repository fresh/requests" in caplog.text
    assert "created the dataset repository fresh/results" in caplog.text
    assert exists(hub, "fresh/requests") and exists(hub, "fresh/results") and len(created(hub)) == 2
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="leaderboard_data.stores.hub"):
        assert main(["publish", "--store", "hub:fresh"]) == 0
        assert main(["queue", "--store", "hub:fresh"]) == 0  # readers work once the repositories exist
    assert "created" not in caplog.text and len(created(hub)) == 4  # asked again, answered 409, nothing made
    assert "published 0 result(s)" in capsys.readouterr().out


def test_submit_creates_the_missing_repositories_before_it_writes(
    hub: FakeHub, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="leaderboard_data.stores.hub"):
        main(["submit", "acme/absent-model", "--task", "text_classification", "--store", "hub:other"])
    assert "created the dataset repository other/requests" in caplog.text
    assert exists(hub, "other/requests") and exists(hub, "other/results")
    assert hub.commit_count("other/requests") == 0  # the refused model wrote nothing


def test_publish_refresh_rewrites_the_card_and_thresholds_once(
    hub: FakeHub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish", "--store", "hub:fresh", "--refresh"]) == 0
    assert "refreshed 2 card, threshold and badge file(s)" in capsys.readouterr().out
    assert main(["publish", "--store", "hub:fresh", "--refresh"]) == 0
    assert "refreshed 0 card, threshold and badge file(s)" in capsys.readouterr().out
