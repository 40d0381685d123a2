"""Plain-text and machine-readable views of the queue and the ranked results, for the CLI."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from leaderboard_data.configs import TaskConfig
from leaderboard_data.rated import load_rated_results
from leaderboard_data.ratings import TIE_RULE_TEXT
from leaderboard_data.records import Request
from leaderboard_data.stores import Store
from runner import imported_view


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def format_queue_table(requests: Sequence[Request]) -> str:
    """One line per request: id, status, model, task, precision, submitter, worker or failure reason."""
    if not requests:
        return "(no requests)"
    rows = []
    for r in requests:
        if r.lease is not None:
            detail = f"worker {r.lease.worker_id} since {r.lease.claimed_at:%Y-%m-%d %H:%M:%S}Z"
        elif r.error_kind is not None:
            detail = f"{r.error_kind.value}: {(r.error_message or '')[:80]}"
        else:
            detail = ""
        rows.append(
            [r.request_id, r.status.value, r.model_id, r.task, r.precision, r.submitter, str(r.attempts), detail]
        )
    return _table(["request", "status", "model", "task", "precision", "submitter", "attempts", "detail"], rows)


def ranked_results(results_store: Store, task_configs: dict[str, TaskConfig], task: str | None) -> pd.DataFrame:
    """Results with stars, ranked within their cohort; stars come from the published thresholds when present."""
    rated = load_rated_results(results_store, task_configs, task).frame
    if rated.empty:
        return rated
    return rated.sort_values(["task", "cohort", "rank", "model_id"], kind="stable").reset_index(drop=True)


def _stars(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "-"
    return "*" * int(value)


def _energy(row: pd.Series) -> str:
    if imported_view.is_imported(row):
        return imported_view.energy_text(row)
    mark = "measured" if row["scored_energy_measured"] else "estimated"
    low, high = row["scored_energy_ci95_low"], row["scored_energy_ci95_high"]
    return f"{row['scored_energy_wh_per_1k']:.4g} [{low:.3g}, {high:.3g}] ({row['scored_device']}, {mark})"


def _per_token(row: pd.Series) -> str:
    """'0.05 [0.04, 0.06] x 10 tokens': energy per 1,000 output tokens and output tokens per query, or '-'."""
    per_token = row.get("wh_per_1k_output_tokens")
    if per_token is None or pd.isna(per_token):
        return "-"
    low, high = row["wh_per_1k_output_tokens_ci95_low"], row["wh_per_1k_output_tokens_ci95_high"]
    return f"{per_token:.4g} [{low:.3g}, {high:.3g}] x {row['output_tokens_per_query']:.4g} tokens"


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _quality(row: pd.Series) -> str:
    """'accuracy 0.82 [0.79, 0.85]' (plus a frontier or floor mark), or '-' with no figure."""
    value = row.get("quality_value")
    if _missing(value):
        return "-"
    low, high = row.get("quality_ci_low"), row.get("quality_ci_high")
    interval = "" if _missing(low) or _missing(high) else f" [{low:.3g}, {high:.3g}]"
    mark = (
        " BELOW FLOOR"
        if bool(row.get("below_quality_floor"))
        else (" F" if not _missing(row.get("on_frontier")) and bool(row.get("on_frontier")) else "")
    )
    return f"{row['quality_metric']} {value:.3g}{interval}{mark}"


def _note(row: pd.Series) -> str:
    """The rating note, then the quality note (the frontier verdict, or why there is no quality figure)."""
    notes = [str(row["rating_note"] or ""), str(row.get("frontier_note") or ""), str(row.get("output_guard") or "")]
    return "; ".join(note for note in notes if note and note != "on the frontier")


def _table_for_task(task: str, frame: pd.DataFrame) -> str:
    per_token = "wh_per_1k_output_tokens" in frame.columns and bool(frame["wh_per_1k_output_tokens"].notna().any())
    rows = [
        [
            "-" if pd.isna(row["rank"]) else str(row["rank"]),
            _stars(row["stars"]),
            str(row["model_id"]),
            f"{int(row['num_parameters']):,}",
            str(row["size_class"]),
            _energy(row),
            *([_per_token(row)] if per_token else []),
            str(row["hardware_class"]),
            str(row["config_version"]),
            f"{int(row['samples'])}x{int(row['repetitions'])}",
            str(row.get("cohort_protocol") or "native"),
            _quality(row),
            _note(row),
        ]
        for _, row in frame.iterrows()
    ]
    headers = [
        "rank",
        "stars",
        "model",
        "params",
        "class",
        "Wh per 1k queries [95% CI]",
        *(["Wh per 1k output tokens [95% CI] x output tokens per query"] if per_token else []),
        "hardware",
        "config",
        "samples",
        "protocol",
        "quality [95% CI]",
        "note",
    ]
    return f"== {task} ==\n" + _table(headers, rows)


def _exploratory(frame: pd.DataFrame) -> pd.Series:
    """Rows measured otherwise than their protocol says: shown apart, never rated."""
    if "exploratory_reason" not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame["exploratory_reason"].fillna("").astype(str) != ""


def _format_exploratory_section(frame: pd.DataFrame) -> str:
    """One line per exploratory result, with its figures as the ranked tables show them, saying why it is not
    rated."""
    lines = ["== exploratory (measured otherwise than its protocol: not rated) =="]
    for _, row in frame.iterrows():
        per_token = _per_token(row)
        lines.append(
            f"{row['task']}  {row['model_id']}  {_energy(row)}"
            + (f"  per 1k output tokens {per_token}" if per_token != "-" else "")
            + f"  quality {_quality(row)}  {row['hardware_class']}  "
            f"protocol {row['cohort_protocol']}  why: {row['exploratory_reason']}"
        )
    return "\n".join(lines)


def format_results(frame: pd.DataFrame, fmt: str) -> str:
    """Render ranked results as a table per task, JSON rows, or CSV."""
    if fmt in ("json", "csv"):
        frame = imported_view.with_differences(frame)
    if fmt == "json":
        records = json.loads(frame.drop(columns=["record_json"], errors="ignore").to_json(orient="records"))
        return json.dumps(records, indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        frame.drop(columns=["record_json"], errors="ignore").to_csv(buffer, index=False)
        return buffer.getvalue()
    if frame.empty:
        return "(no results yet)"
    apart = imported_view.in_own_cohort(frame)
    exploratory = _exploratory(frame) & ~apart
    ranked = frame[~apart & ~exploratory]
    parts = [_table_for_task(str(task), group) for task, group in ranked.groupby("task", sort=True)]
    if exploratory.any():
        parts.append(_format_exploratory_section(frame[exploratory]))
    if apart.any():
        parts.append(imported_view.format_imported_section(frame[apart]))
    legend = (
        "Energy: inference energy of the scored device in Wh per 1,000 queries, mean over all the samples with "
        "its 95% interval; 'estimated' means a model of the hardware, not a counter. Stars: 5 = least energy, by "
        "quintile within task, hardware class, protocol (and size class for text generation); " + TIE_RULE_TEXT + ". "
        "Text generation also shows the energy per 1,000 output tokens and the output tokens per query, whose "
        "product is the energy per query; the rank stays per query. Quality: the task's metric on the same run's "
        "outputs, with its bootstrap interval; F = on the energy-quality frontier of its cohort (no model uses less "
        "energy at equal or better quality); BELOW FLOOR = under the task's trivial baseline plus a margin."
    )
    return "\n\n".join(parts) + "\n\n" + legend
