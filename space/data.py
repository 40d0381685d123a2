"""Everything the Space shows, read through `leaderboard_data` and cached by the results store's revision.

`LeaderboardData.refresh()` reloads only when the store's revision moved; the views (`task_table`,
`model_table`, ...) then work on the cached `Snapshot`, whose per-task frames already hold every display
string, so a view is a filter, a sort and a column selection.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from leaderboard_data.configs import TaskConfig
from leaderboard_data.errors import RepositoryMissingError
from leaderboard_data.queue import RequestQueue
from leaderboard_data.queue_positions import lease_expired, queue_positions
from leaderboard_data.rated import RatedResults, load_rated_results, unrated
from leaderboard_data.ratings import SUPERSEDED_NOTE, RatingThresholds
from leaderboard_data.records import Request, RequestStatus
from leaderboard_data.results import empty_results_frame
from leaderboard_data.stores import Stores
from space import columns as C
from space.escape import model_link
from space.per_token import PER_TOKEN_COLUMNS
from space.quality_view import frontier_text, quality_text
from space.redact import redact_paths

log = logging.getLogger(__name__)

MAX_STARS = 5
DEVICES = ("gpu", "cpu", "ram")
PHASE_ORDER = ("load", "preprocess", "prefill", "decode", "forward", "denoise", "total")

# Raw columns kept beside the display columns of a task frame, for filtering, sorting and plots.
QUALITY_INPUTS = (
    "quality_metric",
    "quality_value",
    "quality_ci_low",
    "quality_ci_high",
    "quality_note",
    "below_quality_floor",
    "on_frontier",
    "frontier_note",
)
RAW_KEEP = (
    "result_id",
    "model_id",
    "task",
    "stars",
    "cohort",
    "rating_note",
    "size_class",
    "hardware_class",
    "num_parameters",
    "scored_device",
    "scored_energy_wh_per_1k",
    "scored_energy_measured",
    "scored_energy_ci95_low",
    "scored_energy_ci95_high",
    "total_energy_wh_per_1k",
    "gpu_energy_wh_per_1k",
    "cpu_energy_wh_per_1k",
    "ram_energy_wh_per_1k",
    "latency_s_mean",
    *PER_TOKEN_COLUMNS,
    "finished_at",
    "rank",
    "config_version",
    "accelerator_name",
    "phases_json",
    *QUALITY_INPUTS,
)


# Result columns the display strings are built from.
_DISPLAY_INPUTS = (
    "model_id",
    "rank",
    "stars",
    "rating_note",
    "scored_device",
    "scored_energy_wh_per_1k",
    "scored_energy_measured",
    "scored_energy_ci95_low",
    "scored_energy_ci95_high",
    *(f"{device}_energy_{what}" for device in DEVICES for what in ("wh_per_1k", "measured")),
    "num_parameters",
    "size_class",
    "hardware_class",
    "accelerator_name",
    "accelerator_count",
    "precision",
    "config_version",
    "latency_s_mean",
    "wh_per_1k_output_tokens",
    "output_tokens_per_query",
    "finished_at",
    *QUALITY_INPUTS,
)


@dataclass(frozen=True)
class Snapshot:
    """The results as of one store revision, rated, with one display-ready frame per task."""

    revision: str
    loaded_at: datetime
    frame: pd.DataFrame
    tasks: dict[str, pd.DataFrame]
    thresholds: RatingThresholds | None
    thresholds_published: bool
    model_ids: list[str] = field(default_factory=list)

    def task_frame(self, task: str) -> pd.DataFrame:
        """The task's rows (display and raw columns); an empty frame for a task without results."""
        return self.tasks.get(task, _empty_task_frame())


@dataclass(frozen=True)
class ViewFilter:
    """What people asked the leaderboard table for: a name search, filters and a sort."""

    query: str = ""
    size_classes: tuple[str, ...] = ()
    hardware: tuple[str, ...] = ()
    sort_by: str = C.ENERGY.label
    descending: bool = False


# The revision of a results repository that does not exist yet (a deployment whose first writer has not run): the
# Space serves an empty leaderboard instead of failing to start.
MISSING_REVISION = ""


class LeaderboardData:
    """Loads results and requests from the stores; the results frame is cached per store revision."""

    def __init__(self, stores: Stores, task_configs: dict[str, TaskConfig]) -> None:
        self.stores = stores
        self.task_configs = task_configs
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        """The cached snapshot, loading it on first use; never checks the store for news."""
        current = self._snapshot
        return current if current is not None else self.refresh()

    def refresh(self) -> Snapshot:
        """Reload if the results store moved since the cached snapshot; cheap when it did not.

        Stars come from `leaderboard_data.rated` (published thresholds, else thresholds computed over the loaded
        results, which the About page then says).
        """
        try:
            revision = self.stores.results.revision()
        except RepositoryMissingError:
            revision = MISSING_REVISION
        with self._lock:
            if self._snapshot is None or self._snapshot.revision != revision:
                self._snapshot = build_snapshot(self._rated(revision), revision)
            return self._snapshot

    def _rated(self, revision: str) -> RatedResults:
        if revision != MISSING_REVISION:
            return load_rated_results(self.stores.results, self.task_configs)
        log.info("the results dataset %s does not exist yet: no result is published", self.stores.results.location)
        return RatedResults(unrated(empty_results_frame()), None, False)

    def requests(self) -> list[Request]:
        """The live queue and the recently settled requests (never the archive, which grows with history); none
        while the requests repository does not exist yet."""
        queue = RequestQueue(self.stores.requests, self.task_configs)
        try:
            live = queue.list_requests(include_settled=False)
            shown = {r.request_id for r in live}
            return [*live, *(r for r in queue.recent_settled() if r.request_id not in shown)]
        except RepositoryMissingError:
            return []


def build_snapshot(rated: RatedResults, revision: str) -> Snapshot:
    """Precompute every task's display frame from the rated results."""
    frame = rated.frame
    tasks = {str(task): _task_display_frame(group) for task, group in frame.groupby("task", sort=False)}
    model_ids = sorted(frame["model_id"].astype(str).unique().tolist()) if not frame.empty else []
    return Snapshot(
        revision=revision,
        loaded_at=datetime.now(UTC),
        frame=frame,
        tasks=tasks,
        thresholds=rated.thresholds,
        thresholds_published=rated.published,
        model_ids=model_ids,
    )


# --- formatting -------------------------------------------------------------------------------------------


def stars_text(stars: Any, note: Any) -> str:
    """'★★★☆☆' for a rated result, else the rating note (e.g. 'cohort too small (3 of 5)')."""
    if present(stars):
        count = int(stars)
        return "★" * count + "☆" * (MAX_STARS - count)
    return str(note) if present(note) and str(note) else "not rated"


def sig(value: Any, digits: int = 4) -> float:
    """A float rounded to `digits` significant figures, NaN for a missing value."""
    if not present(value):
        return float("nan")
    return float(f"{float(value):.{digits}g}")


def interval_text(low: Any, high: Any) -> str:
    """'a – b' with 4 significant figures, or 'n/a' when the interval is missing."""
    if not (present(low) and present(high)):
        return "n/a"
    return f"{sig(low):g} – {sig(high):g}"


def measured_word(measured: Any) -> str:
    """'measured' for a hardware counter reading, 'estimated' for a model of the hardware."""
    return "measured" if present(measured) and bool(measured) else "estimated"


def meters_text(row: dict[str, Any]) -> str:
    """Per device: 'GPU measured · CPU estimated · RAM estimated'; devices without a figure say so."""
    parts = []
    for device in DEVICES:
        if present(row.get(f"{device}_energy_wh_per_1k")):
            parts.append(f"{device.upper()} {measured_word(row.get(f'{device}_energy_measured'))}")
        else:
            parts.append(f"{device.upper()} not measured")
    return " · ".join(parts)


def date_text(value: Any) -> str:
    """The UTC date of a timestamp, 'YYYY-MM-DD'."""
    if not present(value):
        return ""
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def hardware_text(row: dict[str, Any]) -> str:
    """The hardware class, with the accelerator count and name when there is one."""
    hw = str(row.get("hardware_class") or "")
    name = row.get("accelerator_name")
    count = row.get("accelerator_count")
    if present(name) and name and str(name) not in hw:
        prefix = f"{count}× " if present(count) and int(str(count)) > 1 else ""
        return f"{hw} ({prefix}{name})"
    return hw


def present(value: Any) -> bool:
    """False for None, NA and NaN; True for any other value (including empty strings)."""
    if value is None or value is pd.NA:
        return False
    try:
        return not bool(pd.isna(value))
    except (TypeError, ValueError):
        return True


# --- task views -------------------------------------------------------------------------------------------


def _empty_task_frame() -> pd.DataFrame:
    return pd.DataFrame(columns=[*C.labels(C.LEADERBOARD_COLUMNS), *RAW_KEEP])


def _task_display_frame(group: pd.DataFrame) -> pd.DataFrame:
    """Display strings for every row of one task, computed once per snapshot."""
    records = group[[c for c in _DISPLAY_INPUTS if c in group.columns]].to_dict("records")
    display = {
        C.RANK.label: [r["rank"] if present(r.get("rank")) else np.nan for r in records],
        C.MODEL.label: [model_link(str(r["model_id"])) for r in records],
        C.RATING.label: [stars_text(r.get("stars"), r.get("rating_note")) for r in records],
        C.ENERGY.label: [sig(r["scored_energy_wh_per_1k"]) for r in records],
        C.ENERGY_CI.label: [
            interval_text(r.get("scored_energy_ci95_low"), r.get("scored_energy_ci95_high")) for r in records
        ],
        C.PER_TOKEN.label: [sig(r.get("wh_per_1k_output_tokens")) for r in records],
        C.OUTPUT_TOKENS.label: [sig(r.get("output_tokens_per_query")) for r in records],
        C.QUALITY.label: [quality_text(r) for r in records],
        C.FRONTIER.label: [frontier_text(r) for r in records],
        C.SCORED_ON.label: [
            f"{str(r['scored_device']).upper()}, {measured_word(r.get('scored_energy_measured'))}" for r in records
        ],
        C.GPU.label: [sig(r.get("gpu_energy_wh_per_1k")) for r in records],
        C.CPU.label: [sig(r.get("cpu_energy_wh_per_1k")) for r in records],
        C.RAM.label: [sig(r.get("ram_energy_wh_per_1k")) for r in records],
        C.METERS.label: [meters_text(r) for r in records],
        C.PARAMETERS.label: [sig(float(r["num_parameters"]) / 1e6) for r in records],
        C.SIZE_CLASS.label: [str(r.get("size_class") or "") for r in records],
        C.HARDWARE.label: [hardware_text(r) for r in records],
        C.PRECISION.label: [str(r.get("precision") or "") for r in records],
        C.CONFIG.label: [str(r.get("config_version") or "") for r in records],
        C.LATENCY.label: [sig(r.get("latency_s_mean")) for r in records],
        C.DATE.label: [date_text(r.get("finished_at")) for r in records],
    }
    out = pd.DataFrame(display, index=group.index)
    for name in RAW_KEEP:
        out[name] = group[name] if name in group.columns else None
    out["_search"] = group["model_id"].astype(str).str.lower()
    out["_history"] = (group["rating_note"] == SUPERSEDED_NOTE).to_numpy() if "rating_note" in group else False
    return out.sort_values("scored_energy_wh_per_1k", kind="stable")


def filter_task_frame(task_frame: pd.DataFrame, view: ViewFilter) -> pd.DataFrame:
    """The current rows (no superseded history) matching the search and the filters, sorted as asked."""
    mask = np.ones(len(task_frame), dtype=bool)
    if "_history" in task_frame:
        mask &= ~task_frame["_history"].to_numpy(dtype=bool)  # superseded rows stay in the model view, not ranked
    query = view.query.strip().lower()
    if query and len(task_frame):
        mask &= task_frame["_search"].str.contains(query, regex=False).to_numpy()
    if view.size_classes:
        mask &= task_frame["size_class"].isin(view.size_classes).to_numpy()
    if view.hardware:
        mask &= task_frame["hardware_class"].isin(view.hardware).to_numpy()
    rows = task_frame[mask]
    sort_key = _sort_key(view.sort_by)
    if sort_key == "scored_energy_wh_per_1k" and not view.descending:
        return rows  # already in this order
    return rows.sort_values(sort_key, ascending=not view.descending, na_position="last", kind="stable")


def _sort_key(label: str) -> str:
    try:
        key = C.by_label(label).sort_key
    except KeyError:
        key = None
    return key or "scored_energy_wh_per_1k"


def task_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Only the displayed leaderboard columns, in order."""
    return rows[C.labels(C.LEADERBOARD_COLUMNS)].reset_index(drop=True)


def filter_choices(snapshot: Snapshot, task: str) -> tuple[list[str], list[str]]:
    """The size classes and hardware classes present in one task, for the filter widgets."""
    frame = snapshot.task_frame(task)
    sizes = sorted({str(v) for v in frame["size_class"].dropna()})
    hardware = sorted({str(v) for v in frame["hardware_class"].dropna()})
    return sizes, hardware


def task_summary(snapshot: Snapshot, task: str, shown: int, config: TaskConfig | None) -> str:
    """One line under the table: how many results, which config, which data revision."""
    total = len(snapshot.task_frame(task))
    if total == 0:
        return "No results for this task yet. Submit a model on the Submit tab."
    version = f" · current config version {config.config_version}" if config else ""
    return (
        f"{shown} of {total} results shown{version} · data revision {snapshot.revision[:12]}"
        f" · loaded {snapshot.loaded_at:%Y-%m-%d %H:%M} UTC"
    )


def task_counts(snapshot: Snapshot) -> dict[str, int]:
    """Number of results per task that has any."""
    return {task: len(frame) for task, frame in snapshot.tasks.items()}


def default_task(snapshot: Snapshot, tasks: list[str]) -> str:
    """The task the leaderboard opens on: the one with the most results (the first of `tasks` on a tie)."""
    counts = task_counts(snapshot)
    return max(tasks, key=lambda t: (counts.get(t, 0), -tasks.index(t)))


def task_choices(snapshot: Snapshot, task_configs: dict[str, TaskConfig], tasks: list[str]) -> list[tuple[str, str]]:
    """(label, task) pairs for the task selector; the label says how many results, or that there are none."""
    counts = task_counts(snapshot)
    choices = []
    for task in tasks:
        title = task_configs[task].title
        count = counts.get(task, 0)
        choices.append((f"{title} ({count})" if count else f"{title} (no results yet)", task))
    return choices


def top_model(snapshot: Snapshot, task: str) -> str | None:
    """The model the Model tab opens on: the first row of the task's default table (least energy)."""
    frame = snapshot.task_frame(task)
    return str(frame["model_id"].iloc[0]) if len(frame) else (snapshot.model_ids[0] if snapshot.model_ids else None)


# --- model views ------------------------------------------------------------------------------------------


def model_rows(snapshot: Snapshot, model_id: str) -> pd.DataFrame:
    """Every result of one model across tasks, with display columns, most recent first per task."""
    parts = [frame[frame["model_id"] == model_id] for frame in snapshot.tasks.values()]
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty_task_frame()
    rows = pd.concat(parts)
    return rows.sort_values(["task", "finished_at"], ascending=[True, False], kind="stable")


def model_table(rows: pd.DataFrame, task_configs: dict[str, TaskConfig]) -> pd.DataFrame:
    """The model's figures on every task it was measured on."""
    out = rows.copy()
    out[C.TASK.label] = [task_configs[t].title if t in task_configs else str(t) for t in rows["task"]]
    return out[C.labels(C.MODEL_COLUMNS)].reset_index(drop=True)


def result_choices(rows: pd.DataFrame, task_configs: dict[str, TaskConfig]) -> list[tuple[str, str]]:
    """(label, result_id) pairs for picking one of a model's results."""
    choices = []
    for r in rows.to_dict("records"):
        title = task_configs[r["task"]].title if r["task"] in task_configs else str(r["task"])
        label = f"{title} · {r['hardware_class']} · config {r['config_version']} · {date_text(r['finished_at'])}"
        choices.append((label, str(r["result_id"])))
    return choices


def phases_frame(phases_json: Any) -> pd.DataFrame:
    """A result's per-phase figures (without 'total' and 'load'), ordered as the pipeline runs them."""
    cols = ["phase", "device", "mean_wh_per_1k", "ci95_low_wh_per_1k", "ci95_high_wh_per_1k", "measured", "source"]
    cols.append("method")  # how the figure was obtained; records before it existed were all own-window figures
    if not present(phases_json) or not str(phases_json):
        return pd.DataFrame(columns=cols)
    items = json.loads(str(phases_json))
    frame = pd.DataFrame([{c: item.get(c, "window" if c == "method" else None) for c in cols} for item in items])
    frame = frame[~frame["phase"].isin(["total", "load"])]
    order = {p: i for i, p in enumerate(PHASE_ORDER)}
    frame = frame.assign(_order=frame["phase"].map(lambda p: order.get(p, len(order))))
    return frame.sort_values(["_order", "device"]).drop(columns="_order").reset_index(drop=True)


def find_result(snapshot: Snapshot, result_id: str) -> dict[str, Any] | None:
    """One result's row (display and raw columns) by id."""
    for frame in snapshot.tasks.values():
        hit = frame[frame["result_id"] == result_id]
        if len(hit):
            return dict(hit.iloc[0].to_dict())
    return None


def percentile_in_task(snapshot: Snapshot, row: dict[str, Any]) -> float:
    """Share (0-100) of the task's results on the same hardware that use more energy than this one."""
    frame = snapshot.task_frame(str(row["task"]))
    peers = frame[frame["hardware_class"] == row["hardware_class"]]["scored_energy_wh_per_1k"].astype(float)
    if len(peers) <= 1:
        return float("nan")
    return float((peers > float(row["scored_energy_wh_per_1k"])).sum() / (len(peers) - 1) * 100)


# --- queue view -------------------------------------------------------------------------------------------

_STATUS_ORDER = {
    RequestStatus.RUNNING: 0,
    RequestStatus.PENDING: 1,
    RequestStatus.FAILED: 2,
    RequestStatus.FINISHED: 3,
    RequestStatus.CANCELLED: 4,
}


def queue_table(requests: list[Request], task_configs: dict[str, TaskConfig], now: datetime) -> pd.DataFrame:
    """Running first, then waiting in queue order (with their place), then failed and finished, newest first.

    Places come from `queue_positions`, as the submission receipt's do: a lease that expired unreaped is waiting.
    """
    positions = queue_positions(requests, now)
    ordered = sorted(
        requests,
        key=lambda r: (
            _STATUS_ORDER.get(r.status, 9) if r.request_id not in positions else _STATUS_ORDER[RequestStatus.PENDING],
            positions.get(r.request_id, 0),
            -r.updated_at.timestamp(),
        ),
    )
    rows = [
        {
            C.Q_STATUS.label: r.status.value,
            C.Q_MODEL.label: model_link(r.model_id),
            C.Q_TASK.label: task_configs[r.task].title if r.task in task_configs else r.task,
            C.Q_PRECISION.label: r.precision,
            C.Q_SUBMITTED.label: f"{r.submitted_at:%Y-%m-%d %H:%M}",
            C.Q_DETAIL.label: request_detail(r, positions.get(r.request_id), now),
            C.Q_REQUEST_ID.label: r.request_id,
        }
        for r in ordered
    ]
    return pd.DataFrame(rows, columns=C.labels(C.QUEUE_COLUMNS))


def request_detail(request: Request, position: int | None, now: datetime) -> str:
    """What the queue says about one request: its place, who runs it since when, its result or failure."""
    if request.status == RequestStatus.PENDING:
        return f"#{position} in the queue" if position else "waiting"
    if request.status == RequestStatus.RUNNING and request.lease is not None:
        if lease_expired(request, now):
            expired = f"lease of {request.lease.worker_id} expired {request.lease.expires_at:%Y-%m-%d %H:%M} UTC"
            return f"{expired}; #{position} in the queue" if position else f"{expired}; out of attempts"
        return f"running on {request.lease.worker_id} since {request.lease.claimed_at:%Y-%m-%d %H:%M} UTC"
    if request.status == RequestStatus.FINISHED:
        return f"result {request.result_id}"
    if request.status == RequestStatus.FAILED:
        kind = request.error_kind.value if request.error_kind else "failed"
        return redact_paths(f"{kind}: {request.error_message or ''}".strip())
    return request.status.value.lower()
