"""The Space's submit handler on real stores: an empty task is told from the model, and no answer shows a server
path (Found 5), whether the model is missing, refused, or the store cannot be reached."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.model_source import HubModelSource
from leaderboard_data.stores import LocalStore, Stores, open_stores
from space.submit import SERVER_FAULT, STORE_UNAVAILABLE, handle_submission
from tests.helpers_space import run_as_a_space
from tests.test_model_checks import write_model


@pytest.fixture(scope="module")
def configs() -> dict[str, TaskConfig]:
    return load_task_configs()


def test_an_empty_task_is_told_from_the_model(tmp_path: Path, configs) -> None:
    stores = open_stores(f"local:{tmp_path / 'data'}")
    write_model(tmp_path / "data" / "models" / "acme" / "gpt")
    answer = handle_submission(stores, configs, "acme/gpt", "", "", "alice")
    assert answer.startswith("**Queued**") and "Text generation" in answer
    assert "told from the model's pipeline tag or architecture" in answer


def test_refusals_name_no_server_path(tmp_path: Path, configs) -> None:
    data = tmp_path / "deep" / "server" / "energy-score-data"
    stores = open_stores(f"local:{data}")
    write_model(data / "models" / "acme" / "gpt")
    answers = [
        handle_submission(stores, configs, "acme/missing", "text_generation", "", "alice"),
        handle_submission(stores, configs, "acme/gpt", "image_generation", "", "alice"),
        handle_submission(stores, configs, "acme/gpt", "", "float64", "alice"),
    ]
    assert "does not exist in the local models folder" in answers[0]
    assert all(a.startswith("**Not queued") for a in answers), answers
    for answer in answers:
        assert str(tmp_path) not in answer and "/deep/" not in answer and "server/" not in answer, answer


def test_a_store_that_cannot_be_reached_is_answered_without_details(
    tmp_path: Path, configs, caplog: pytest.LogCaptureFixture
) -> None:
    """HF_HUB_OFFLINE=1 in tests: the real Hub client fails at once, as an unreachable Hub would."""
    source = HubModelSource(endpoint="http://127.0.0.1:9", cache_dir=tmp_path / "hub-cache")
    stores = Stores("hub-down", LocalStore(tmp_path / "r"), LocalStore(tmp_path / "s"), source, is_hub=False)
    with caplog.at_level(logging.ERROR):
        answer = handle_submission(stores, configs, "acme/gpt", "text_generation", "", "alice")
    assert answer == f"**Not queued:** {STORE_UNAVAILABLE}"
    assert "acme/gpt" in caplog.text  # the details go to the log


def test_an_unexpected_failure_is_logged_not_shown(tmp_path: Path, configs, monkeypatch, caplog) -> None:
    from space import submit

    def fail(*args: object, **kwargs: object) -> None:
        raise ModuleNotFoundError(f"No module named 'transformers' ({tmp_path}/site-packages)")

    monkeypatch.setattr(submit, "submit_model", fail)
    with caplog.at_level(logging.ERROR):
        answer = handle_submission(open_stores(f"local:{tmp_path}"), configs, "acme/gpt", "text_generation", "", "a")
    assert answer == f"**Not queued:** {SERVER_FAULT}"
    assert "transformers" in caplog.text and str(tmp_path) not in answer


def test_a_new_hub_deployment_serves_an_empty_board_and_its_first_submission_creates_the_queue(
    tmp_path: Path, configs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Space deployed before any worker ran: neither ORG/requests nor ORG/results exists yet."""
    from space.app import build_app
    from space.data import MISSING_REVISION, LeaderboardData
    from tests.hub_server import FakeHub

    monkeypatch.setenv("ENERGY_SCORE_SUBMIT_WINDOW_S", "0")
    run_as_a_space(monkeypatch)
    with FakeHub() as hub:
        for name, value in hub.env().items():
            monkeypatch.setenv(name, value)
        hub.add_model_repo("acme/gpt", folder=write_model(tmp_path / "gpt"), pipeline_tag="text-generation")
        stores = open_stores("hub:fresh")
        source = LeaderboardData(stores, configs)
        snapshot = source.refresh()
        assert snapshot.revision == MISSING_REVISION and snapshot.frame.empty and source.requests() == []
        build_app(stores, configs, refresh_s=0, source=source)  # starts instead of failing

        answer = handle_submission(stores, configs, "acme/gpt", "text_generation", "", "alice")
        assert answer.startswith("**Queued**"), answer
        assert [r.model_id for r in source.requests()] == ["acme/gpt"]
        creates = [path for method, path, _ in hub.request_log if path == "/api/repos/create"]
        assert creates == ["/api/repos/create"]  # the requests repository; a worker's publish makes the results one
        assert handle_submission(stores, configs, "acme/gpt", "text_generation", "", "bob").startswith("**Not queued")
        assert len([p for _, p, _ in hub.request_log if p == "/api/repos/create"]) == 1
