"""Verifications: the comparison and its verdict, the record, publishing through the outbox (one commit, no
duplicates, its own `verifications` config), the refusals of `verify`, the worker's scheduling, and what the
Space says about them."""

from __future__ import annotations

import dataclasses
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

import datasets

from leaderboard_data.configs import load_task_configs
from leaderboard_data.errors import RecordValidationError
from leaderboard_data.records import Verification
from leaderboard_data.stores import open_stores
from leaderboard_data.verifications import (
    VERIFICATION_COLUMNS,
    VerificationPublisher,
    build_verification,
    compare,
    load_verifications_frame,
    submit_verification,
)
from runner.verification import VerificationRefused, VerifyScheduler, check_reproducible
from space.escape import escape_markdown
from space.verification_view import imported_apart, verification_summary
from tests.helpers_results import energy_figures, make_result
from tests.helpers_space import publish

CONFIGS = load_task_configs()


def _remeasure(published: Any, scored: float, spread: float = 0.02, **overrides: Any) -> Any:
    """A re-measurement of `published` by another worker whose scored total is `scored` (relative std `spread`)."""
    figures = energy_figures(scored, published.device == "cuda")
    for figure in figures:
        std = figure.mean_wh_per_1k * spread
        figure.std_wh_per_1k = std
        figure.ci95_low_wh_per_1k = figure.mean_wh_per_1k - 2 * std
        figure.ci95_high_wh_per_1k = figure.mean_wh_per_1k + 2 * std
    fields = {
        "result_id": "f" * 16,
        "request_id": None,
        "worker_id": "verifier-1",
        "energy": figures,
        "scored_energy_wh_per_1k": scored,
        "model_id": published.model_id,
        "task": published.task,
        "hardware": published.hardware,
        "finished_at": published.finished_at + timedelta(days=1),
        **overrides,
    }
    return published.model_copy(update=fields)


@pytest.mark.parametrize(
    ("scored", "spread", "within", "overlap", "verdict"),
    [
        (1.25, 0.02, True, True, "agrees"),  # same figure
        (1.29, 0.02, False, True, "agrees"),  # outside the published interval; the published mean is inside its own
        (1.30, 0.01, False, True, "disagrees"),  # intervals touch, but each mean lies outside the other's interval
        (1.40, 0.02, False, False, "disagrees"),
    ],
)
def test_comparison_and_verdict(scored: float, spread: float, within: bool, overlap: bool, verdict: str) -> None:
    published = make_result(scored_energy_wh_per_1k=1.25)  # 95% interval [1.219, 1.281]
    comparison = compare(published, _remeasure(published, scored, spread))
    assert comparison.ratio == pytest.approx(scored / 1.25)
    assert comparison.within_published_interval is within
    assert comparison.intervals_overlap is overlap
    assert comparison.verdict == verdict
    assert comparison.hardware_match


def test_a_worker_cannot_verify_its_own_result() -> None:
    published = make_result()
    comparison = compare(published, _remeasure(published, 1.25))
    with pytest.raises(ValueError, match="cannot be verified by the worker that measured it"):
        build_verification(published, _remeasure(published, 1.25, worker_id=published.worker_id), comparison)
    with pytest.raises(VerificationRefused, match=r"measured result .* itself"):
        check_reproducible(published, CONFIGS, published.worker_id)


def test_refusals_name_the_reason() -> None:
    moved = make_result(config_version="0.9")
    current = re.escape(CONFIGS[moved.task].config_version)
    with pytest.raises(VerificationRefused, match=f"moved on to {current}"):
        check_reproducible(moved, CONFIGS, "verifier-1")
    imported = make_result(source="imported (optimum-benchmark 0.6)")
    with pytest.raises(VerificationRefused, match="not measured by this pipeline"):
        check_reproducible(imported, CONFIGS, "verifier-1")
    assert check_reproducible(make_result(), CONFIGS, "verifier-1").task == "text_generation"


def test_a_remeasurement_without_the_scored_figure_is_refused() -> None:
    published = make_result()  # scored on gpu
    cpu_only = _remeasure(published, 1.25, energy=energy_figures(1.25, on_gpu=False))
    with pytest.raises(RecordValidationError, match="no total gpu energy"):
        compare(published, cpu_only)


def _verification(published: Any, scored: float, worker: str = "verifier-1") -> Verification:
    remeasured = _remeasure(published, scored, worker_id=worker, result_id=f"{hash(worker) & 0xFFFFFFFF:016x}")
    return build_verification(published, remeasured, compare(published, remeasured))


def test_publishing_is_one_commit_without_duplicates_and_loads_as_its_own_config(tmp_path: Path) -> None:
    stores = open_stores(f"local:{tmp_path}")
    published = make_result(task="text_classification", scored_energy_wh_per_1k=1.25)
    publish(stores, [published], CONFIGS)
    first, second = _verification(published, 1.26), _verification(published, 1.5, "verifier-2")
    assert submit_verification(stores.requests, first)
    assert not submit_verification(stores.requests, first)  # already waiting: nothing added
    assert submit_verification(stores.requests, second)

    before = stores.results.revision()
    publisher = VerificationPublisher(stores.requests, stores.results, CONFIGS)
    assert sorted(publisher.publish_pending()) == sorted([first.verification_id, second.verification_id])
    assert stores.results.revision() != before
    assert not stores.requests.list_files("outbox-verifications/")
    # Published again (a retry after a crash between the two commits): nothing is added.
    submit_verification(stores.requests, first)
    after = stores.results.revision()
    assert publisher.publish_pending() == []
    assert stores.results.revision() == after

    frame = load_verifications_frame(stores.results)
    assert list(frame.columns) == VERIFICATION_COLUMNS
    assert sorted(frame["verdict"]) == ["agrees", "disagrees"]
    split = datasets.load_dataset(
        str(stores.results.location), "verifications", split="train", cache_dir=str(tmp_path / "cache")
    )
    assert split.num_rows == 2 and set(split["result_id"]) == {published.result_id}
    assert "verifications" in stores.results.read_file("README.md").decode()

    # A result published later rewrites the card: the verifications config stays in it.
    publish(stores, [make_result(task="text_classification")], CONFIGS)
    split = datasets.load_dataset(
        str(stores.results.location), "verifications", split="train", cache_dir=str(tmp_path / "cache2")
    )
    assert split.num_rows == 2
    rows = datasets.load_dataset(
        str(stores.results.location), "text_classification", split="train", cache_dir=str(tmp_path / "cache3")
    )
    assert rows.num_rows == 2


def test_the_space_summary_counts_and_names_a_disagreement(tmp_path: Path) -> None:
    stores = open_stores(f"local:{tmp_path}")
    published = make_result(task="text_classification", scored_energy_wh_per_1k=1.25)
    publish(stores, [published], CONFIGS)
    frame = load_verifications_frame(stores.results)
    assert verification_summary(frame, published.result_id) == "not verified yet"
    for verification in (_verification(published, 1.26), _verification(published, 1.5, "verifier-2")):
        submit_verification(stores.requests, verification)
    VerificationPublisher(stores.requests, stores.results, CONFIGS).publish_pending()
    text = verification_summary(load_verifications_frame(stores.results), published.result_id)
    assert text.startswith("verified 2×, agreement 50 %")
    assert "published 1.25 Wh per 1,000 queries" in text and "remeasured 1.5 " in text
    assert "The published figure stands" in text


def test_the_space_lists_differing_imports_apart() -> None:
    import pandas as pd

    from leaderboard_data.results import results_to_table

    native = make_result(task="text_classification")
    imported = make_result(
        task="text_classification",
        source="imported (optimum-benchmark 0.6)",
        provenance={"cohort_protocol": "imported:x", "protocol_differences": ["200 samples (native: 1000)"]},
    )
    frame = results_to_table([native, imported]).to_pandas()
    kept, note = imported_apart(frame, pd.DataFrame({"result_id": [native.result_id, imported.result_id]}))
    assert list(kept["result_id"]) == [native.result_id]
    assert escape_markdown("200 samples (native: 1000)") in note and "not ranked here" in note


def test_the_scheduler_keeps_to_its_share_and_never_picks_its_own(tmp_path: Path) -> None:
    stores = open_stores(f"local:{tmp_path}")
    own = make_result(task="text_classification", hardware_class="cpu-test", worker_id="me", device="cpu")
    other = make_result(task="text_classification", hardware_class="cpu-test", worker_id="w2", device="cpu")
    elsewhere = make_result(task="text_classification", hardware_class="gpu-x", worker_id="w3", device="cpu")
    publish(stores, [own, other, elsewhere], CONFIGS)
    scheduler = VerifyScheduler(stores, CONFIGS, share=0.05, worker_id="me", device="cpu", hardware_class="cpu-test")
    assert [r.result_id for r in scheduler.candidates()] == [other.result_id]
    scheduler.spent_s = 1e9  # verification has had more than its share: not due
    assert not scheduler.due() and scheduler.run_if_due() is None
    with pytest.raises(Exception, match="between 0 and 1"):
        VerifyScheduler(stores, CONFIGS, share=1.5, worker_id="me", device="cpu", hardware_class="cpu-test")


def test_on_the_hub_faults_and_retries_publish_each_verification_once(tmp_path: Path) -> None:
    """The same path against the fake Hub with dropped answers (some after the commit applied) and 412s."""
    from leaderboard_data.stores.hub import HubStore
    from tests.hub_server import FakeHub, FaultPlan

    with FakeHub(seed=5) as hub:

        def store(name: str) -> HubStore:
            return HubStore(f"org/{name}", endpoint=hub.url, token=hub.token, backoff_s=0.01, max_retries=10)

        requests, results = store("requests"), store("results")
        published = make_result(task="text_classification", scored_energy_wh_per_1k=1.25)
        stores = dataclasses.replace(open_stores(f"local:{tmp_path}"), requests=requests, results=results)
        publish(stores, [published], CONFIGS)
        records = [_verification(published, 1.26), _verification(published, 1.5, "verifier-2")]
        hub.faults = FaultPlan(
            conflict_rate=0.3, drop_rate=0.3, drop_after_share=0.7, seed=7, endpoints=frozenset({"commit"})
        )
        for record in records * 2:  # each submitted twice, as a retrying verifier would
            submit_verification(requests, record)
        publisher = VerificationPublisher(requests, results, CONFIGS)
        while requests.list_files("outbox-verifications/"):
            publisher.publish_pending()
        publisher.publish_pending()
        faults = dict(hub.fault_counts)
        hub.faults = FaultPlan()
        assert faults.get("conflict") and faults.get("drop_after"), faults  # the faults did happen
        frame = load_verifications_frame(results)
        assert sorted(frame["verification_id"]) == sorted(r.verification_id for r in records)
        assert len(results.list_files("verifications/")) == 2
        assert "config_name: verifications" in results.read_file("README.md").decode()


def test_energy_score_publish_finishes_a_verification_left_in_the_outbox(tmp_path: Path, capsys) -> None:
    """A verifier that stopped between its two commits: `energy-score publish` completes the second."""
    from runner.cli import main

    stores = open_stores(f"local:{tmp_path}")
    published = make_result(task="text_classification")
    publish(stores, [published], CONFIGS)
    submit_verification(stores.requests, _verification(published, 1.26))
    assert main(["publish", "--store", f"local:{tmp_path}"]) == 0
    assert "published 1 verification(s)" in capsys.readouterr().out
    assert len(load_verifications_frame(stores.results)) == 1
    assert not stores.requests.list_files("outbox-verifications/")
