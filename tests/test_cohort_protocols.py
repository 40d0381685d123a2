"""One protocol per cohort: a result measured otherwise than its protocol (a worker's overrides, a recorded load
gate, a contaminated window) is exploratory, shown apart and never rated; a protocol profile (the demo's) is
declared with its own version, recorded in each result and rated only among its own results."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leaderboard_data.configs import load_task_configs
from leaderboard_data.errors import ConfigError
from leaderboard_data.protocols import (
    AsMeasured,
    load_protocol_profile,
    plan_for,
    protocol_deviations,
)
from leaderboard_data.ratings import apply_ratings, compute_thresholds
from leaderboard_data.results import results_to_table
from runner.bench_command import summary_table
from runner.engine import BenchmarkSpec, run_benchmark
from runner.meters.load_monitor import LoadMonitor
from runner.tables import format_results
from space.verification_view import exploratory_apart
from tests import helpers_engine as h
from tests.helpers_results import make_result
from tests.test_load_monitor import FakePsutil
from tests.test_protocol import cpu_time_meters

CONFIGS = load_task_configs()
TASK = "text_classification"
CPU_CLASS = "cpu-test-2c"


def result(i: int, energy: float, **overrides: object) -> object:
    fields: dict[str, object] = {
        "result_id": f"{i:016x}",
        "model_id": f"org/model-{i}",
        "task": TASK,
        "config_version": CONFIGS[TASK].config_version,
        "scored_energy_wh_per_1k": energy,
        "device": "cpu",
        "hardware_class": CPU_CLASS,
    }
    fields.update(overrides)
    return make_result(**fields)


def rated(results: list[object]) -> pd.DataFrame:
    frame = results_to_table(results).to_pandas()  # type: ignore[arg-type]
    return apply_ratings(frame, compute_thresholds(frame, CONFIGS)).set_index("model_id")


# --- finding: other protocols shared a cohort -------------------------------------------------------------------


def test_a_result_with_overrides_is_exploratory_and_never_rated() -> None:
    """Before: a worker's --samples 12 result was ranked beside full-protocol results under the same config."""
    full = [result(i, 1.0 + i) for i in range(5)]
    override = result(9, 0.5, samples=12, exploratory_reasons=["12 samples, the standard protocol's 1000"])
    frame = rated([*full, override])
    assert pd.isna(frame.loc["org/model-9", "stars"]) and pd.isna(frame.loc["org/model-9", "rank"])
    assert "exploratory, not rated: 12 samples" in frame.loc["org/model-9", "rating_note"]
    assert frame.loc["org/model-0", "stars"] == 5 and frame.loc["org/model-0", "rank"] == 1  # the cohort ignores it


def test_deviations_name_samples_slices_rounds_window_gate_and_foreign_load() -> None:
    plan = plan_for(CONFIGS[TASK], "cpu", None)
    exact = AsMeasured(plan.samples, plan.repetitions, plan.rounds.base, plan.min_window_s, "gate", 30, 0)
    assert protocol_deviations(plan, exact) == []
    off = AsMeasured(12, 3, 1, 0.2, "record", 30, 4)
    reasons = " | ".join(protocol_deviations(plan, off))
    for words in ("12 samples", "3 slices", "1 base rounds", "minimum window 0.2 s", "load gate record",
                  "4 of 30 windows contaminated"):  # fmt: skip
        assert words in reasons


def test_a_benchmark_records_how_it_differs_from_its_protocol(tmp_path: Path) -> None:
    config = h.task_config(num_samples=4, repetitions=2)
    spec = BenchmarkSpec(
        model_id="tests/mlp",
        model_dir=h.build_mlp(tmp_path / "mlp"),
        revision="0" * 40,
        task_config=config,
        dataset_path=str(h.write_samples(tmp_path / "data")),
        load_gate="gate",
    )
    # A machine with no other process at work (this one is shared, so its real load would gate every window).
    quiet = LoadMonitor(0.10, ps=FakePsutil())
    exact = run_benchmark(spec, meters=cpu_time_meters(), task_class=h.MlpTask, load_monitor=quiet)
    assert exact.exploratory_reasons == []
    spec.samples, spec.load_gate = 3, "record"
    overridden = run_benchmark(spec, meters=cpu_time_meters(), task_class=h.MlpTask, load_monitor=quiet)
    reasons = " | ".join(overridden.exploratory_reasons)
    assert "3 samples, the standard protocol's 4" in reasons and "load gate record" in reasons
    assert "EXPLORATORY (not rated): 3 samples" in summary_table(overridden)
    assert "EXPLORATORY" not in summary_table(exact)


# --- shown apart -------------------------------------------------------------------------------------------------


def test_energy_score_results_lists_exploratory_results_apart_with_the_reason() -> None:
    reason = "2 of 40 windows contaminated by foreign load"
    frame = rated([*(result(i, 1.0 + i) for i in range(5)), result(9, 0.5, exploratory_reasons=[reason])])
    text = format_results(frame.reset_index(), "table")
    ranked, apart = text.split("== exploratory")
    assert "org/model-9" not in ranked and "org/model-9" in apart and reason in apart


def test_the_space_lists_exploratory_results_apart_with_the_reason() -> None:
    frame = rated([result(1, 1.0), result(2, 2.0, exploratory_reasons=["load gate record, the standard's gate"])])
    rows = frame.reset_index()[["result_id", "model_id"]]
    kept, note = exploratory_apart(frame.reset_index(), rows)
    assert list(kept["model_id"]) == ["org/model-1"]
    assert "org/model-2" in note and "load gate record" in note and "not rated" in note


# --- the demo's own protocol -------------------------------------------------------------------------------------


def test_the_demo_protocol_is_declared_with_its_own_version() -> None:
    demo = load_protocol_profile("demo")
    assert demo.protocol == "demo" and demo.protocol_version
    plan = plan_for(CONFIGS[TASK], "cpu", demo)
    assert (plan.samples, plan.repetitions, plan.cohort_protocol) == (12, 3, f"demo:{demo.protocol_version}")
    assert plan.rounds.base >= 2
    with pytest.raises(ConfigError, match="no protocol 'nope'"):
        load_protocol_profile("nope")


def test_demo_results_are_rated_only_among_themselves() -> None:
    demo = load_protocol_profile("demo")
    demo_fields = {"protocol": "demo", "protocol_version": demo.protocol_version, "samples": 12, "repetitions": 3}
    native = [result(i, 1.0 + i) for i in range(5)]
    demos = [result(10 + i, 0.01 * (1 + i), **demo_fields) for i in range(5)]
    frame = rated([*native, *demos])
    assert set(frame.loc[[f"org/model-{10 + i}" for i in range(5)], "cohort"]) == {
        f"{TASK}/{CPU_CLASS}/cpu/demo:{demo.protocol_version}"
    }
    assert frame.loc["org/model-0", "stars"] == 5 and frame.loc["org/model-10", "stars"] == 5  # two cohorts
    assert frame.loc["org/model-4", "stars"] == 1 and frame.loc["org/model-14", "stars"] == 1


def test_a_demo_benchmark_records_its_protocol_and_is_not_exploratory(tmp_path: Path) -> None:
    demo = load_protocol_profile("demo").model_copy(
        update={"num_samples": 4, "repetitions": 2, "min_window_s": None, "load_gate": "gate"}
    )
    spec = BenchmarkSpec(
        model_id="tests/mlp",
        model_dir=h.build_mlp(tmp_path / "mlp"),
        revision="0" * 40,
        task_config=h.task_config(num_samples=1000, repetitions=5),
        dataset_path=str(h.write_samples(tmp_path / "data")),
        protocol=demo,
        load_gate="gate",
        added_rounds_budget_s=0.0,
    )
    quiet = LoadMonitor(0.10, ps=FakePsutil())
    r = run_benchmark(spec, meters=cpu_time_meters(), task_class=h.MlpTask, load_monitor=quiet)
    assert (r.protocol, r.protocol_version, r.samples, r.repetitions) == ("demo", demo.protocol_version, 4, 2)
    assert r.base_rounds == demo.rounds.base and r.exploratory_reasons == []
    row = results_to_table([r]).to_pylist()[0]
    assert row["cohort_protocol"] == f"demo:{demo.protocol_version}" and row["exploratory_reason"] is None
