"""Energy per token of text generation: tokens over every repetition, per-token figures with their intervals, and
their path to the results dataset, `energy-score results` and the Space; a real tiny GPT-2 through the engine."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from leaderboard_data.configs import Pipeline, get_task_config, load_task_configs
from leaderboard_data.protocols import plan_for
from leaderboard_data.records import Outputs, Result, TokenEnergy, TokenFigures
from leaderboard_data.results import result_to_row
from runner.assemble import RunFacts, assemble_result
from runner.engine import BenchmarkSpec, run_benchmark
from runner.figures import compute_figures, wh_per_1k
from runner.per_token import token_figures
from runner.readings import DecodeMethod, DeviceInfo, IdleReading, RepetitionReading, RunReadings, Window
from runner.tables import format_results
from runner.tasks import load_task_registry
from runner.zoo import build_model, write_dataset
from runner.zoo.text import MAX_POSITIONS
from space import columns as C
from space.data import LeaderboardData, model_rows, model_table
from space.per_token import per_token_text
from space.views import Views
from tests.helpers_results import make_result
from tests.helpers_space import local_stores, publish

CONFIGS = load_task_configs()
CPU = DeviceInfo(measured=False, source="codecarbon_cpu_model", resolution_s=0.0)


def rep(
    index: int,
    queries: int,
    output_tokens: int,
    input_tokens: int,
    inference_j: float,
    prefill_j: float,
    first_phase: Window | None = None,
) -> RepetitionReading:
    """One repetition on the CPU: `queries` queries, their tokens, and the inference window's joules."""
    return RepetitionReading(
        slice_index=index,
        queries=queries,
        preprocess=Window({"cpu": 0.01 * queries}, 0.1),
        preprocess_queries=queries,
        inference=Window({"cpu": inference_j}, 1.0),
        phase_j={("prefill", "cpu"): prefill_j, ("decode", "cpu"): inference_j - prefill_j},
        phase_s={"prefill": 0.2, "decode": 0.8},
        latencies_s=[1.0 / queries] * queries,
        outputs=Outputs(queries=queries, input_tokens=input_tokens, output_tokens=output_tokens),
        first_phase=first_phase,
        first_phase_queries=queries if first_phase else 0,
    )


def readings(reps: list[RepetitionReading], method: DecodeMethod = DecodeMethod.DIRECT) -> RunReadings:
    idle = Window({"cpu": 0.5}, 1.0)
    return RunReadings(
        devices={"cpu": CPU},
        phases=("prefill", "decode"),
        decode_method=method,
        load=Window({"cpu": 5.0}, 1.0),
        samples=30,
        idle=IdleReading(idle, idle, 0.5),
        repetitions=reps,
    )


def assembled(run: RunReadings) -> Result:
    figures = compute_figures(run, "cpu", 0.25)
    facts = RunFacts(
        result_id="0123456789abcdef",
        request_id=None,
        model_id="tests/gpt2",
        revision="0" * 40,
        task="text_generation_reasoning",
        config_version="2.0",
        precision="float32",
        device="cpu",
        hardware_class="cpu-test-2c",
        worker_id="tests",
        num_parameters=56_000,
        started_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    plan = plan_for(get_task_config("text_generation_reasoning"), "cpu", None)
    return assemble_result(
        facts, run, figures, [], max_relative_half_width=1.0, protocol=plan, exploratory_reasons=[],
        load_check=None, tokens=token_figures(run, figures),
    )  # fmt: skip


def test_outputs_count_every_repetition_not_the_first_alone() -> None:
    """Finding 6: tokens were stored for repetition 0 only. A short slice run twice to fill its window has twice
    the queries: tokens per query weigh each repetition (each a slice of the samples) alike, not by its passes."""
    run = readings([rep(0, 10, 100, 500, 10.0, 2.0), rep(1, 20, 400, 1000, 40.0, 4.0)])
    result = assembled(run)
    assert (result.outputs.queries, result.outputs.output_tokens, result.outputs.input_tokens) == (30, 500, 1500)
    tokens = result.tokens
    assert tokens is not None
    assert tokens.output_tokens_per_query == pytest.approx((10 + 20) / 2)  # not the pooled 500 / 30
    assert tokens.input_tokens_per_query == pytest.approx(50.0)


def test_energy_per_query_is_tokens_times_energy_per_token() -> None:
    run = readings([rep(i, 10, 10 * (50 + 40 * i), 400, 3.0 + 2.0 * i, 0.5 + 0.01 * i) for i in range(4)])
    result = assembled(run)
    tokens = result.tokens
    assert tokens is not None
    per_token = tokens.per_output_token
    assert tokens.output_tokens_per_query * per_token.mean_wh_per_1k_tokens == pytest.approx(
        result.scored_energy_wh_per_1k, rel=1e-12
    )
    assert per_token.ci95_low_wh_per_1k_tokens < per_token.mean_wh_per_1k_tokens < per_token.ci95_high_wh_per_1k_tokens
    assert (per_token.phase, per_token.per, per_token.repetitions, per_token.method) == (
        "total",
        "output_tokens",
        4,
        "window",
    )
    assert tokens.output_tokens_per_query_ci95_low < 90.0 < tokens.output_tokens_per_query_ci95_high
    prefill = tokens.prefill_per_input_token
    assert prefill is not None and prefill.per == "input_tokens"
    prefill_figure = result.figure("prefill", "cpu")
    assert prefill_figure is not None and prefill.method == prefill_figure.method
    assert tokens.input_tokens_per_query * prefill.mean_wh_per_1k_tokens == pytest.approx(
        prefill_figure.mean_wh_per_1k, rel=1e-12
    )


def test_energy_proportional_to_tokens_has_an_exact_cost_per_token() -> None:
    """Answers of very different lengths at one cost per token: the per-query figure varies over repetitions, the
    per-token one does not, and its interval (a ratio estimator's) is a point."""
    joules_per_token = 0.02
    reps = []
    for i, length in enumerate((20, 200, 60)):
        output = 10 * length
        preprocess_j = 0.01 * 10
        reps.append(rep(i, 10, output, 400, joules_per_token * output - preprocess_j, 0.1))
    tokens = token_figures(readings(reps), compute_figures(readings(reps), "cpu", 0.25))
    assert tokens is not None
    per_token = tokens.per_output_token
    assert per_token.mean_wh_per_1k_tokens == pytest.approx(wh_per_1k(joules_per_token))
    assert per_token.ci95_low_wh_per_1k_tokens == pytest.approx(per_token.mean_wh_per_1k_tokens)
    assert per_token.ci95_high_wh_per_1k_tokens == pytest.approx(per_token.mean_wh_per_1k_tokens)


def test_subtracted_decode_reads_prefill_from_its_own_window() -> None:
    first = [Window({"cpu": 1.0 + 0.1 * i}, 0.2) for i in range(3)]
    reps = [rep(i, 10, 100, 300, 6.0 + i, 0.0, first_phase=first[i]) for i in range(3)]
    run = readings(reps, DecodeMethod.SUBTRACTED)
    tokens = token_figures(run, compute_figures(run, "cpu", 0.25))
    assert tokens is not None and tokens.prefill_per_input_token is not None
    assert tokens.prefill_per_input_token.method == "window"
    expected = wh_per_1k((1.0 + 1.1 + 1.2) / 3 / 10) / 30  # J per query over 30 input tokens per query
    assert tokens.prefill_per_input_token.mean_wh_per_1k_tokens == pytest.approx(expected)


def test_a_run_without_output_tokens_has_no_per_token_figures() -> None:
    run = readings([rep(0, 10, 0, 300, 5.0, 1.0), rep(1, 10, 0, 300, 5.0, 1.0)])
    assert token_figures(run, compute_figures(run, "cpu", 0.25)) is None


def test_reasoning_answers_at_natural_length(tmp_path: Path) -> None:
    """Reasoning configs never force a short answer: no minimum length, the config's own maximum, in the window
    that is measured (the first-phase window of subtracted decode only reads the prefill)."""
    reasoning = [config for config in CONFIGS.values() if config.generation and config.generation.reasoning]
    assert reasoning
    model = build_model(Pipeline.TEXT_GENERATION, tmp_path / "gpt2")
    for config in reasoning:
        assert config.generation is not None and config.generation.min_new_tokens == 0
        task = load_task_registry()[config.pipeline](config, model, "cpu", "float32")
        task.load()
        prepared = task.preprocess({"text": "Why is the sky blue?"})
        assert prepared.min_new_tokens == 0
        assert prepared.max_new_tokens == min(config.generation.max_new_tokens, MAX_POSITIONS - prepared.input_tokens)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["text_generation", "text_generation_reasoning"])
def test_a_tiny_gpt2_publishes_its_energy_per_token(task: str, tmp_path: Path) -> None:
    config = CONFIGS[task]
    assert config.generation is not None
    if config.generation.reasoning:  # natural length, capped so a random tiny model finishes on a CPU
        config = config.model_copy(update={"generation": config.generation.model_copy(update={"max_new_tokens": 24})})
    spec = BenchmarkSpec(
        model_id=f"tests/{task}",
        model_dir=build_model(config.pipeline, tmp_path / "gpt2"),
        revision="0" * 40,
        task_config=config,
        samples=4,
        repetitions=2,
        warmup_runs=1,
        min_window_s=0.05,
        added_rounds_budget_s=0.0,
        dataset_path=str(write_dataset(config.pipeline, tmp_path / "data", 4)),
        request_id="0123456789abcdef",
    )
    result = run_benchmark(spec)
    tokens = result.tokens
    assert tokens is not None
    assert result.outputs.queries >= 4  # both repetitions: every sample at least once
    if not config.generation.reasoning:
        assert tokens.output_tokens_per_query == 10.0
        assert result.outputs.output_tokens == 10 * result.outputs.queries
    else:
        assert 1.0 <= tokens.output_tokens_per_query <= 24.0
    per_query = tokens.output_tokens_per_query * tokens.per_output_token.mean_wh_per_1k_tokens
    assert per_query == pytest.approx(result.scored_energy_wh_per_1k, rel=1e-9)
    assert tokens.prefill_per_input_token is not None
    assert tokens.per_output_token.device == tokens.prefill_per_input_token.device == result.scored_device

    row = result_to_row(result)
    assert row["wh_per_1k_output_tokens"] == tokens.per_output_token.mean_wh_per_1k_tokens
    assert row["output_tokens_per_query"] == tokens.output_tokens_per_query
    assert json.loads(row["tokens_json"])["per_output_token"]["interval_method"].startswith("ratio of means")
    explained = per_token_text(row)
    assert f"{tokens.output_tokens_per_query:.4g} output tokens × " in explained
    assert f"= {result.scored_energy_wh_per_1k:.4g} Wh per 1,000 queries" in explained

    per_token_cell = f"x {tokens.output_tokens_per_query:.4g} tokens"
    exploratory = {**row, "stars": None, "rank": None, "rating_note": "exploratory, not rated"}
    assert row["exploratory_reason"]  # a short test run: fewer samples than the config's
    assert per_token_cell in format_results(pd.DataFrame([exploratory]), "table")
    ranked = {**row, "exploratory_reason": None, "stars": None, "rank": 1, "rating_note": "cohort too small (1 of 5)"}
    table = format_results(pd.DataFrame([ranked]), "table")
    assert "Wh per 1k output tokens [95% CI] x output tokens per query" in table
    assert per_token_cell in table


def test_the_space_shows_energy_per_token_beside_the_query_figure(tmp_path: Path) -> None:
    """The model view's table carries the per-token columns; the result view writes the per-query figure out as
    tokens x energy per token, and prefill as prompt tokens x prefill energy per token."""
    per_token = TokenEnergy(
        phase="total",
        device="gpu",
        per="output_tokens",
        mean_wh_per_1k_tokens=0.05,
        ci95_low_wh_per_1k_tokens=0.04,
        ci95_high_wh_per_1k_tokens=0.06,
        repetitions=5,
        measured=True,
        method="window",
    )
    prefill = per_token.model_copy(update={"phase": "prefill", "per": "input_tokens", "mean_wh_per_1k_tokens": 0.001})
    tokens = TokenFigures(
        output_tokens_per_query=12.0,
        output_tokens_per_query_ci95_low=11.0,
        output_tokens_per_query_ci95_high=13.0,
        input_tokens_per_query=300.0,
        per_output_token=per_token,
        prefill_per_input_token=prefill,
    )
    result = make_result(model_id="org/talker", task="text_generation", scored_energy_wh_per_1k=0.6, tokens=tokens)
    configs = load_task_configs()
    stores = local_stores(tmp_path)
    publish(stores, [result], configs)
    source = LeaderboardData(stores, configs)
    source.refresh()

    table = model_table(model_rows(source.snapshot(), "org/talker"), configs)
    assert table[C.PER_TOKEN.label].tolist() == [0.05]
    assert table[C.OUTPUT_TOKENS.label].tolist() == [12.0]
    caption = Views(source).result(result.result_id)[4]
    assert "Per query: 12 output tokens × 0.05 Wh per 1,000 output tokens (95% interval 0.04 – 0.06)" in caption
    assert "= 0.6 Wh per 1,000 queries" in caption
    assert "300 input tokens × 0.001 Wh per 1,000 input tokens" in caption
