"""Per-token figures of a text generation run: tokens per query and the energy of each token.

A per-query figure mixes how long a model answers with how efficiently it produces each token. Each repetition
covers its own slice of the samples, so the means over repetitions weigh every sample alike (a pooled sum would
weigh a short slice, run more than once to fill the minimum window, by its passes). The energy per 1,000 tokens
is the ratio of two such means, the phase's Wh per 1,000 queries over its tokens per query, so the published
per-query figure is exactly tokens per query x energy per token; its interval is the ratio estimator's
(linearised: residuals E_i - R * T_i over repetitions, Student-t with n - 1 degrees of freedom).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from leaderboard_data.records import EnergyFigure, Outputs, TokenEnergy, TokenFigures
from runner.figures import Figures, wh_per_1k
from runner.readings import DecodeMethod, RepetitionReading, RunReadings
from runner.stats import summarize, t_quantile_95


def pooled_outputs(reps: Sequence[RepetitionReading]) -> Outputs:
    """What every repetition's measured passes produced, added up."""
    return Outputs(
        queries=sum(r.outputs.queries for r in reps),
        input_tokens=sum(r.outputs.input_tokens for r in reps),
        output_tokens=sum(r.outputs.output_tokens for r in reps),
        images=sum(r.outputs.images for r in reps),
        audio_seconds=math.fsum(r.outputs.audio_seconds for r in reps),
    )


def ratio_half_width(energies: Sequence[float], tokens: Sequence[float], ratio: float) -> float:
    """Half-width of the 95% interval of `ratio` = mean(energies) / mean(tokens), over paired repetitions."""
    n = len(energies)
    if n < 2:
        return 0.0
    mean_tokens = math.fsum(tokens) / n
    residuals = [e - ratio * t for e, t in zip(energies, tokens, strict=True)]
    sem = math.sqrt(math.fsum(r * r for r in residuals) / (n - 1) / n) / mean_tokens
    return t_quantile_95(n - 1) * sem


def _token_energy(
    figure: EnergyFigure, per: Literal["output_tokens", "input_tokens"], energies_j: list[float], tokens: list[float]
) -> TokenEnergy:
    """`figure` per 1,000 tokens: its published mean over the mean tokens per query, with the ratio's interval."""
    mean = figure.mean_wh_per_1k / (math.fsum(tokens) / len(tokens))
    half = ratio_half_width([wh_per_1k(j) for j in energies_j], tokens, mean)
    return TokenEnergy(
        phase=figure.phase,
        device=figure.device,
        per=per,
        mean_wh_per_1k_tokens=mean,
        ci95_low_wh_per_1k_tokens=max(mean - half, 0.0),
        ci95_high_wh_per_1k_tokens=mean + half,
        repetitions=len(tokens),
        measured=figure.measured,
        method=figure.method,
    )


def _total_j(r: RepetitionReading, device: str) -> float:
    """Joules per query of one repetition: preprocessing per prepared input plus inference per query."""
    return r.preprocess.joules.get(device, 0.0) / r.preprocess_queries + r.inference.joules.get(device, 0.0) / r.queries


def _prefill_j(r: RepetitionReading, device: str, method: DecodeMethod | None) -> float:
    """Joules per query of one repetition's prefill: its own window (subtracted decode), or the phase marks."""
    if method == DecodeMethod.SUBTRACTED and r.first_phase is not None:
        return r.first_phase.joules.get(device, 0.0) / r.first_phase_queries
    return r.phase_j.get(("prefill", device), 0.0) / r.queries


def token_figures(readings: RunReadings, figures: Figures) -> TokenFigures | None:
    """The per-token figures on the scored device, or None when a repetition produced no output token."""
    reps = readings.repetitions
    if not reps or any(r.outputs.output_tokens <= 0 or r.queries <= 0 for r in reps):
        return None
    scored = figures.scored_total
    device = scored.device
    output_rates = [r.outputs.output_tokens / r.queries for r in reps]
    input_rates = [r.outputs.input_tokens / r.queries for r in reps]
    low, high = summarize(output_rates, "output tokens per query").ci95
    prefill = next((f for f in figures.energy if f.phase == "prefill" and f.device == device), None)
    return TokenFigures(
        output_tokens_per_query=math.fsum(output_rates) / len(reps),
        output_tokens_per_query_ci95_low=max(low, 0.0),
        output_tokens_per_query_ci95_high=high,
        input_tokens_per_query=math.fsum(input_rates) / len(reps),
        per_output_token=_token_energy(scored, "output_tokens", [_total_j(r, device) for r in reps], output_rates),
        prefill_per_input_token=(
            _token_energy(
                prefill,
                "input_tokens",
                [_prefill_j(r, device, readings.decode_method) for r in reps],
                input_rates,
            )
            if prefill is not None and all(rate > 0 for rate in input_rates)
            else None
        ),
    )
