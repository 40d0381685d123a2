"""The demo's pipeline (build, submit, benchmark, rank) on a reduced model list, twice: the second run reuses
everything and adds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

import runner.demo as demo
from leaderboard_data.protocols import load_protocol_profile
from leaderboard_data.results import load_results_frame
from leaderboard_data.stores import open_stores

pytestmark = pytest.mark.slow


def test_demo_twice_reuses_what_is_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = (
        demo.DemoModel("demo/bert-classifier-tiny-0", "text_classification", "tiny"),
        demo.DemoModel("demo/bert-classifier-small-0", "text_classification", "small"),
        demo.DemoModel("demo/gpt2-tiny", "text_generation", "tiny"),
    )
    monkeypatch.setattr(demo, "DEMO_MODELS", models)
    monkeypatch.setattr(demo, "_add_shipped_minilm", lambda _models: False)
    stores = open_stores(f"local:{tmp_path}")

    # The demo protocol, made smaller still: the test is about reuse, not about the figures.
    protocol = load_protocol_profile("demo").model_copy(update={"num_samples": 2, "repetitions": 2})
    first = demo.run_demo(stores, protocol=protocol)
    assert "demo/bert-classifier-small-0" in first and "demo/gpt2-tiny" in first
    frame = load_results_frame(stores.results)
    # Two classifiers: a cohort too small to rate, counting only stable results measured as the protocol says
    # (an unstable or exploratory one is shown without stars, and says why).
    classifiers = frame[frame["task"] == "text_classification"]
    eligible = int((~classifiers["unstable"].astype(bool) & classifiers["exploratory_reason"].isna()).sum())
    assert (f"cohort too small ({eligible} of 5)" in first) if eligible else ("not rated" in first)
    assert set(frame["cohort_protocol"]) == {f"demo:{protocol.protocol_version}"}
    assert sorted(frame["model_id"]) == sorted(m.model_id for m in models)
    # the demo says what its quality figures mean, and names each task's frontier or why there is none
    assert "Energy-quality frontier per task:" in first and demo.DEMO_QUALITY_NOTE in first
    assert "text_generation: no quality figure (none yet; the configured dataset holds prompts only" in first
    assert "text_classification: on the frontier:" in first
    revision = stores.requests.revision()

    second = demo.run_demo(stores, protocol=protocol)
    assert stores.requests.revision() == revision  # nothing submitted, claimed or written
    assert sorted(load_results_frame(stores.results)["result_id"]) == sorted(frame["result_id"])
    assert second.splitlines()[0] == first.splitlines()[0]
