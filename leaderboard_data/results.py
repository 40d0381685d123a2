"""Publishing results to the results store, and reading them back fast.

Layout of the results store (a Hub dataset such as ORG/results, or a LocalStore folder):
- `data/<task>/part-<result_id>.parquet`: one small file per published result, so concurrent publishers never
  write the same file;
- `data/<task>/compacted-<hash>.parquet`: many part files merged into one (`ResultsPublisher.compact`);
- `ratings/thresholds.json`: the star cut points (`leaderboard_data.ratings`);
- `README.md`: the dataset card, whose `configs:` section lets `datasets.load_dataset(repo, task)` read a task.

Every parquet file has RESULT_SCHEMA: one flat row per result plus the full record in `record_json`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from leaderboard_data.badges import badge_files
from leaderboard_data.configs import TaskConfig
from leaderboard_data.dataset_card import VERIFICATIONS_PREFIX, render_dataset_card
from leaderboard_data.errors import ConflictError, FileNotInStoreError, RecordValidationError
from leaderboard_data.quality import FRONTIER_PATH, add_quality_columns, frontier_parquet
from leaderboard_data.quality_columns import QUALITY_DEFAULTS, QUALITY_FIELDS, quality_columns
from leaderboard_data.ratings import (
    RATING_INPUT_COLUMNS,
    RATING_OPTIONAL_COLUMNS,
    RatingMethod,
    apply_ratings,
    compute_thresholds,
    thresholds_to_json,
)
from leaderboard_data.records import EnergyFigure, Result, TokenFigures
from leaderboard_data.stores.base import AddFile, CommitOperation, DeleteFile, Store
from leaderboard_data.stores.transact import Backoff, Plan, transact

logger = logging.getLogger(__name__)
T = TypeVar("T")

DATA_PREFIX = "data/"
OUTBOX_PREFIX = "outbox/"
THRESHOLDS_PATH = "ratings/thresholds.json"
CARD_PATH = "README.md"
_DEVICES = ("gpu", "cpu", "ram")
_OUTBOX_PATH = re.compile(r"^outbox/([a-z0-9_]{1,64})/([a-z0-9]{8,64})\.json$")
_UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")


def _device_fields(device: str) -> list[tuple[str, pa.DataType]]:
    return [
        (f"{device}_energy_wh_per_1k", pa.float64()),
        (f"{device}_energy_std", pa.float64()),
        (f"{device}_energy_ci95_low", pa.float64()),
        (f"{device}_energy_ci95_high", pa.float64()),
        (f"{device}_energy_measured", pa.bool_()),
    ]


# Per-token figures of text generation (`Result.tokens`); None for other tasks.
_TOKEN_FIELDS: list[tuple[str, pa.DataType]] = [
    ("output_tokens_per_query", pa.float64()),
    ("input_tokens_per_query", pa.float64()),
    ("wh_per_1k_output_tokens", pa.float64()),
    ("wh_per_1k_output_tokens_ci95_low", pa.float64()),
    ("wh_per_1k_output_tokens_ci95_high", pa.float64()),
    ("prefill_wh_per_1k_input_tokens", pa.float64()),
    ("prefill_wh_per_1k_input_tokens_ci95_low", pa.float64()),
    ("prefill_wh_per_1k_input_tokens_ci95_high", pa.float64()),
    ("tokens_json", pa.string()),
]


RESULT_SCHEMA: pa.Schema = pa.schema(
    [
        ("result_id", pa.string()),
        ("request_id", pa.string()),
        ("model_id", pa.string()),
        ("revision", pa.string()),
        ("task", pa.string()),
        ("config_version", pa.string()),
        ("precision", pa.string()),
        ("device", pa.string()),
        ("num_parameters", pa.int64()),
        ("size_class", pa.string()),
        ("hardware_class", pa.string()),
        ("accelerator_name", pa.string()),
        ("accelerator_count", pa.int64()),
        ("driver_version", pa.string()),
        ("power_limit_w", pa.float64()),
        ("cpu_model", pa.string()),
        ("cpu_count", pa.int64()),
        ("ram_gb", pa.float64()),
        ("node", pa.string()),
        ("worker_id", pa.string()),
        ("scored_device", pa.string()),
        ("scored_energy_wh_per_1k", pa.float64()),
        ("scored_energy_measured", pa.bool_()),
        ("scored_energy_ci95_low", pa.float64()),
        ("scored_energy_ci95_high", pa.float64()),
        *(field for device in _DEVICES for field in _device_fields(device)),
        ("total_energy_wh_per_1k", pa.float64()),
        ("idle_power_w_json", pa.string()),
        ("decode_method", pa.string()),
        ("latency_s_mean", pa.float64()),
        ("latency_s_p95", pa.float64()),
        ("throughput_queries_per_s", pa.float64()),
        ("queries", pa.int64()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("images", pa.int64()),
        ("audio_seconds", pa.float64()),
        *_TOKEN_FIELDS,
        ("peak_memory_mb", pa.float64()),
        ("samples", pa.int64()),
        ("repetitions", pa.int64()),
        ("unstable", pa.bool_()),
        ("co2_g_per_1k", pa.float64()),
        ("country_iso_code", pa.string()),
        ("started_at", _UTC_TIMESTAMP),
        ("finished_at", _UTC_TIMESTAMP),
        ("source", pa.string()),
        ("cohort_protocol", pa.string()),
        ("exploratory_reason", pa.string()),
        ("phases_json", pa.string()),
        ("record_json", pa.string()),
        *QUALITY_FIELDS,
    ]
)
RESULT_COLUMNS: list[str] = list(RESULT_SCHEMA.names)

# What publishing needs to know about the results already there: ids, and the inputs of ratings and the card.
_SUMMARY_COLUMNS = [
    "result_id",
    *RATING_INPUT_COLUMNS,
    *(c for c in RATING_OPTIONAL_COLUMNS if c in RESULT_COLUMNS),
    "quality_dataset",
    "quality_metric",
    "quality_value",
    "quality_floor_passed",
    "quality_note",
    "queries",
    "output_tokens",
]


def _as_utc(moment: datetime) -> datetime:
    """Records may carry naive datetimes; they are UTC by convention."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _device_columns(device: str, figure: EnergyFigure | None) -> dict[str, Any]:
    return {
        f"{device}_energy_wh_per_1k": figure.mean_wh_per_1k if figure else None,
        f"{device}_energy_std": figure.std_wh_per_1k if figure else None,
        f"{device}_energy_ci95_low": figure.ci95_low_wh_per_1k if figure else None,
        f"{device}_energy_ci95_high": figure.ci95_high_wh_per_1k if figure else None,
        f"{device}_energy_measured": figure.measured if figure else None,
    }


def cohort_protocol_of(result: Result) -> str:
    """'native' (a task config's standard protocol), a profile's own cohort ('demo:1.0'), or the imported
    protocol's own cohort ('imported:<signature>') when its workload differs."""
    if result.source == "native":
        return "native" if result.protocol == "standard" else f"{result.protocol}:{result.protocol_version}"
    return str((result.provenance or {}).get("cohort_protocol", "imported:unknown"))


def result_to_row(result: Result) -> dict[str, Any]:
    """One flat row (RESULT_COLUMNS) for one result; device figures are the phase 'total' ones, None if absent."""
    hardware = result.hardware
    totals = {device: result.figure("total", device) for device in _DEVICES}
    scored = totals[result.scored_device]
    available = [figure.mean_wh_per_1k for figure in totals.values() if figure is not None]
    row: dict[str, Any] = {
        "result_id": result.result_id,
        "request_id": result.request_id,
        "model_id": result.model_id,
        "revision": result.revision,
        "task": result.task,
        "config_version": result.config_version,
        "precision": result.precision,
        "device": result.device,
        "num_parameters": result.num_parameters,
        "size_class": result.size_class,
        "hardware_class": hardware.hardware_class,
        "accelerator_name": hardware.accelerator_name,
        "accelerator_count": hardware.accelerator_count,
        "driver_version": hardware.driver_version,
        "power_limit_w": hardware.power_limit_w,
        "cpu_model": hardware.cpu_model,
        "cpu_count": hardware.cpu_count,
        "ram_gb": hardware.ram_gb,
        "node": hardware.node,
        "worker_id": result.worker_id,
        "scored_device": result.scored_device,
        "scored_energy_wh_per_1k": result.scored_energy_wh_per_1k,
        "scored_energy_measured": scored.measured if scored else None,
        "scored_energy_ci95_low": scored.ci95_low_wh_per_1k if scored else None,
        "scored_energy_ci95_high": scored.ci95_high_wh_per_1k if scored else None,
    }
    for device, figure in totals.items():
        row.update(_device_columns(device, figure))
    carbon = result.carbon
    row.update(
        {
            "total_energy_wh_per_1k": sum(available) if available else None,
            "idle_power_w_json": json.dumps({b.device: b.mean_power_w for b in result.idle}, sort_keys=True),
            "decode_method": result.decode_method,
            "latency_s_mean": result.latency_s_mean,
            "latency_s_p95": result.latency_s_p95,
            "throughput_queries_per_s": result.throughput_queries_per_s,
            "queries": result.outputs.queries,
            "input_tokens": result.outputs.input_tokens,
            "output_tokens": result.outputs.output_tokens,
            "images": result.outputs.images,
            "audio_seconds": result.outputs.audio_seconds,
            **_token_columns(result.tokens),
            "peak_memory_mb": result.peak_memory_mb,
            "samples": result.samples,
            "repetitions": result.repetitions,
            "unstable": result.unstable,
            "co2_g_per_1k": carbon.co2_g_per_1k if carbon else None,
            "country_iso_code": carbon.country_iso_code if carbon else None,
            "started_at": _as_utc(result.started_at),
            "finished_at": _as_utc(result.finished_at),
            "source": result.source,
            "cohort_protocol": cohort_protocol_of(result),
            "exploratory_reason": "; ".join(result.exploratory_reasons) or None,
            "phases_json": json.dumps([figure.to_dict() for figure in result.energy], sort_keys=True),
            "record_json": result.to_json(),
            **quality_columns(result),
        }
    )
    return row


def _token_columns(tokens: TokenFigures | None) -> dict[str, Any]:
    """The per-token columns of a row: None throughout when the result has no per-token figures."""
    if tokens is None:
        return {name: None for name, _ in _TOKEN_FIELDS}
    prefill = tokens.prefill_per_input_token
    return {
        "output_tokens_per_query": tokens.output_tokens_per_query,
        "input_tokens_per_query": tokens.input_tokens_per_query,
        "wh_per_1k_output_tokens": tokens.per_output_token.mean_wh_per_1k_tokens,
        "wh_per_1k_output_tokens_ci95_low": tokens.per_output_token.ci95_low_wh_per_1k_tokens,
        "wh_per_1k_output_tokens_ci95_high": tokens.per_output_token.ci95_high_wh_per_1k_tokens,
        "prefill_wh_per_1k_input_tokens": prefill.mean_wh_per_1k_tokens if prefill else None,
        "prefill_wh_per_1k_input_tokens_ci95_low": prefill.ci95_low_wh_per_1k_tokens if prefill else None,
        "prefill_wh_per_1k_input_tokens_ci95_high": prefill.ci95_high_wh_per_1k_tokens if prefill else None,
        "tokens_json": json.dumps(tokens.model_dump(mode="json"), sort_keys=True),
    }


def results_to_table(results: Sequence[Result]) -> pa.Table:
    """Rows of RESULT_SCHEMA for the given results."""
    return pa.Table.from_pylist([result_to_row(r) for r in results], schema=RESULT_SCHEMA)


def table_to_parquet(table: pa.Table) -> bytes:
    """Parquet bytes (zstd: the JSON columns compress well)."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def part_path(task: str, result_id: str) -> str:
    return f"{DATA_PREFIX}{task}/part-{result_id}.parquet"


def _task_of(path: str) -> str:
    return path[len(DATA_PREFIX) :].split("/", 1)[0]


def _is_part(path: str) -> bool:
    return path.rsplit("/", 1)[-1].startswith("part-")


def _is_compacted(path: str) -> bool:
    return path.rsplit("/", 1)[-1].startswith("compacted-")


def data_files(results_store: Store, task: str | None = None) -> list[str]:
    """Every parquet file of one task, or of all tasks."""
    prefix = f"{DATA_PREFIX}{task}/" if task else DATA_PREFIX
    return [p for p in results_store.list_files(prefix) if p.endswith(".parquet") and p.count("/") == 2]


def read_parquet_bytes(content: bytes, columns: Sequence[str] | None = None) -> pa.Table:
    """One small parquet file, read on the calling thread.

    pyarrow 26's threaded reader can abort the interpreter ("terminate called without an active exception") when
    the process exits right after a read, as a short CLI command does; our files are one result each or a
    compacted task, so the thread pool buys nothing here."""
    return pq.read_table(pa.BufferReader(content), columns=list(columns) if columns else None, use_threads=False)


def _parse_table(path: str, content: bytes, columns: Sequence[str] | None) -> pa.Table:
    """One parquet file, checked against RESULT_SCHEMA; a damaged file is a RecordValidationError naming it."""
    try:
        read = list(columns) if columns else None
        if read:  # an older file may lack an added column: read what it has, fill the rest below
            present = set(pq.read_schema(pa.BufferReader(content)).names)
            read = [c for c in read if c in present or c not in _ADDED_COLUMNS]
        table = read_parquet_bytes(content, columns=read)
        table.validate(full=True)  # parquet has no checksums: damaged strings are caught here, not when read
        names = table.schema.names
    except (pa.ArrowException, OSError, ValueError) as exc:  # damaged names decode as UnicodeDecodeError
        raise RecordValidationError(path, f"not a readable parquet file: {exc}") from exc
    wanted = list(columns) if columns else RESULT_COLUMNS
    table, names = _with_added_columns(table, names, wanted)
    if names != wanted or not table.schema.equals(pa.schema([RESULT_SCHEMA.field(name) for name in wanted])):
        raise RecordValidationError(
            path, f"schema differs from RESULT_SCHEMA: columns {names[:8]}, types {table.schema.types[:8]}"
        )
    return table


# Columns added after results were first published, with the value older rows stand for.
_ADDED_COLUMNS: dict[str, object] = {
    "unstable": False,
    "source": "native",
    "cohort_protocol": "native",
    **{name: None for name, _ in _TOKEN_FIELDS},
    **QUALITY_DEFAULTS,
    "exploratory_reason": None,
}


def _with_added_columns(table: pa.Table, names: list[str], wanted: Sequence[str]) -> tuple[pa.Table, list[str]]:
    """An older file lacks the added columns: fill them with their defaults, in schema order."""
    missing = [name for name in wanted if name not in names and name in _ADDED_COLUMNS]
    if not missing or any(name not in wanted for name in names):
        return table, names
    for name in missing:
        filler = pa.array([_ADDED_COLUMNS[name]] * table.num_rows, RESULT_SCHEMA.field(name).type)
        table = table.append_column(name, filler)
    table = table.select([name for name in wanted if name in table.schema.names])
    return table, table.schema.names


def _read_tables(
    results_store: Store, paths: Sequence[str], columns: Sequence[str] | None = None
) -> dict[str, pa.Table]:
    contents = results_store.read_files(paths) if paths else {}
    return {path: _parse_table(path, content, columns) for path, content in contents.items()}


def _read_readable_tables(
    results_store: Store, paths: Sequence[str], columns: Sequence[str] | None = None
) -> tuple[dict[str, pa.Table], list[str]]:
    """Like _read_tables, but a damaged file is logged and skipped, so one bad file cannot stop publishing;
    returns the readable tables and the paths of the damaged files."""
    contents = results_store.read_files(paths) if paths else {}
    tables: dict[str, pa.Table] = {}
    damaged: list[str] = []
    for path, content in contents.items():
        try:
            tables[path] = _parse_table(path, content, columns)
        except RecordValidationError as exc:
            logger.error("results store: skipping %s", exc)
            damaged.append(path)
    return tables, damaged


def _first_per_result_id(table: pa.Table) -> pa.Table:
    """Drop rows whose result_id appeared earlier: a result counts once whichever files hold it."""
    duplicated = pd.Index(table.column("result_id").to_pylist()).duplicated(keep="first")
    return table if not duplicated.any() else table.filter(pa.array(~duplicated))


def _concat_sorted(tables: Sequence[pa.Table], schema: pa.Schema) -> pa.Table:
    """All rows once each, ordered by task, finish time and id so every read gives the same order."""
    if not tables:
        return schema.empty_table()
    combined = pa.concat_tables(tables)
    combined = combined.sort_by([("task", "ascending"), ("finished_at", "ascending"), ("result_id", "ascending")])
    return _first_per_result_id(combined)


def _to_frame(table: pa.Table) -> pd.DataFrame:
    """A pandas frame whose boolean columns stay nullable (a device not measured is None, not False)."""
    mapping = {pa.bool_(): pd.BooleanDtype()}
    return table.to_pandas(types_mapper=mapping.get).reset_index(drop=True)


def empty_results_frame() -> pd.DataFrame:
    """No results, with the columns and dtypes a loaded frame has (for a results repository not created yet)."""
    return _to_frame(RESULT_SCHEMA.empty_table())


def load_results_frame(results_store: Store, task: str | None = None) -> pd.DataFrame:
    """All published results of one task (or all tasks), one row per result_id, columns RESULT_COLUMNS."""
    tables = _read_tables(results_store, data_files(results_store, task))
    return _to_frame(_concat_sorted(list(tables.values()), RESULT_SCHEMA))


def load_result_records(results_store: Store, task: str | None = None) -> list[Result]:
    """The full validated records; a row that fails validation raises RecordValidationError naming its file."""
    seen: set[str] = set()
    records = []
    for path, table in _read_tables(
        results_store, data_files(results_store, task), ["result_id", "record_json"]
    ).items():
        for result_id, text in zip(
            table.column("result_id").to_pylist(), table.column("record_json").to_pylist(), strict=True
        ):
            if result_id in seen:
                continue
            where = f"{path} (row {result_id})"
            if text is None:
                raise RecordValidationError(where, "record_json is empty")
            record = Result.from_json(text, where)
            if record.result_id != result_id:
                raise RecordValidationError(where, f"record_json holds result {record.result_id}")
            seen.add(result_id)
            records.append(record)
    return records


def _load_summary(results_store: Store) -> tuple[pd.DataFrame, list[str]]:
    """The columns publishing needs of every readable published result, and the data files that are damaged."""
    tables, damaged = _read_readable_tables(results_store, data_files(results_store), _SUMMARY_COLUMNS)
    summary_schema = pa.schema([RESULT_SCHEMA.field(c) for c in _SUMMARY_COLUMNS])
    return _to_frame(_concat_sorted(list(tables.values()), summary_schema)), damaged


def _parse_outbox_file(path: str, content: bytes, task_configs: Mapping[str, TaskConfig]) -> Result:
    """A result from the outbox, checked against where it was filed; any problem names the path."""
    match = _OUTBOX_PATH.match(path)
    if match is None:
        raise RecordValidationError(path, "outbox files are named outbox/<task>/<result_id>.json")
    result = Result.from_json(content, path)
    if (result.task, result.result_id) != match.groups():
        raise RecordValidationError(path, f"holds result {result.result_id} of task {result.task}")
    if result.task not in task_configs:
        raise RecordValidationError(path, f"unknown task {result.task}; known: {', '.join(sorted(task_configs))}")
    return result


class ResultsPublisher:
    """Moves finished results from the requests store's outbox into the results store.

    Every commit goes through `stores.transact`: on ConflictError the publisher re-reads and tries again after a
    jittered pause, up to `max_attempts` times. Publishing is idempotent: a result_id already in the results
    store is never added again, so a publisher that died between its two commits clears the outbox on the next run.

    Example:
        >>> publisher = ResultsPublisher(stores.requests, stores.results, load_task_configs())
        >>> publisher.publish_pending()
        ['3f2a9c0d1e4b5a67']
        >>> publisher.invalid  # outbox files that failed validation, left in place
        []
    """

    def __init__(
        self,
        requests_store: Store,
        results_store: Store,
        task_configs: Mapping[str, TaskConfig],
        *,
        compact_after: int = 50,
        rating_method: RatingMethod = "quintile",
        min_cohort_size: int = 5,
        batch_size: int = 100,
        max_attempts: int = 20,
        backoff: Backoff | None = None,
    ) -> None:
        self.requests_store = requests_store
        self.results_store = results_store
        self.task_configs = dict(task_configs)
        self.compact_after = compact_after
        self.rating_method: RatingMethod = rating_method
        self.min_cohort_size = min_cohort_size
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self.invalid: list[str] = []
        self.damaged: list[str] = []
        self.settled_outbox: list[str] = []

    def publish_pending(self, *, clear_outbox: bool = True) -> list[str]:
        """Publish every valid outbox file; return the result_ids added now (in outbox order).

        Corrupt outbox files are logged, listed in `self.invalid` and left in place; damaged data files in the
        results store are logged, listed in `self.damaged`, left in place and left out. Tasks left with more than
        `compact_after` part files are compacted afterwards.

        With `clear_outbox=False` the published outbox files are not deleted here but listed in
        `self.settled_outbox`, for the caller to delete in a commit it makes anyway (a worker folds them into its
        next queue commit, which saves the requests repository one commit per result).
        """
        self.invalid = []
        self.damaged = []
        self.settled_outbox = []
        pending = self._read_outbox()
        published: list[str] = []
        for start in range(0, len(pending), self.batch_size):
            batch = pending[start : start + self.batch_size]
            published += self._add_to_results([result for _, result in batch])
            if clear_outbox:
                self._clear_outbox([path for path, _ in batch])
            else:
                self.settled_outbox += [path for path, _ in batch]
        for task, parts in self._part_counts().items():
            if parts > self.compact_after:
                self.compact(task)
        return published

    def refresh_metadata(self) -> int:
        """Rewrite the card, the star thresholds and every badge from the results present, in one commit; the
        number of files changed (0: all up to date). After a config change (a new `config_version` rates none of
        the old results) nothing else redraws the badges of a task that gets no new result."""

        def step() -> tuple[str, Plan[int]]:
            parent = self.results_store.revision()
            summary, _ = _load_summary(self.results_store)
            tasks = sorted({_task_of(p) for p in data_files(self.results_store)})
            candidates = [*self._metadata_operations(summary), *self._badge_operations(tasks)]
            operations = [op for op in candidates if self._differs(op)]
            message = f"Refresh dataset card, star thresholds and badges: {len(operations)} file(s)"
            return parent, Plan(len(operations), operations, message)

        return self._transact(self.results_store, step, "refresh metadata")

    def _transact(self, store: Store, step: Callable[[], tuple[str, Plan[T]]], what: str) -> T:
        return transact(store, step, what=what, max_attempts=self.max_attempts, backoff=self.backoff, gave_up=_gave_up)

    def compact(self, task: str | None = None) -> int:
        """Merge each task's part files (and older compacted files) into one compacted file.

        Returns the number of part files merged away. Every result is kept exactly once.
        """
        tasks = [task] if task else sorted({_task_of(p) for p in data_files(self.results_store)})
        return sum(self._compact_task(t) for t in tasks)

    def _read_outbox(self) -> list[tuple[str, Result]]:
        """Valid outbox results in path order; a file deleted under us (another publisher) is re-listed."""
        for _ in range(self.max_attempts):
            paths = self.requests_store.list_files(OUTBOX_PREFIX)
            try:
                contents = self.requests_store.read_files(paths)
            except FileNotInStoreError:
                continue
            pending = []
            for path in paths:
                try:
                    pending.append((path, _parse_outbox_file(path, contents[path], self.task_configs)))
                except RecordValidationError as exc:
                    logger.error("left invalid outbox file in place: %s", exc)
                    self.invalid.append(path)
            return pending
        raise _gave_up(self.requests_store, "read the outbox", self.max_attempts)

    def _add_to_results(self, results: Sequence[Result]) -> list[str]:
        """One commit adding the results not yet present, with the card and thresholds regenerated."""

        def step() -> tuple[str, Plan[list[str]]]:
            parent = self.results_store.revision()
            summary, self.damaged = _load_summary(self.results_store)
            present = set(summary["result_id"])
            new: dict[str, Result] = {}
            for result in results:
                if result.result_id not in present:
                    new.setdefault(result.result_id, result)
            if not new:
                return parent, Plan([])
            operations: list[CommitOperation] = [
                AddFile(part_path(r.task, r.result_id), table_to_parquet(results_to_table([r]))) for r in new.values()
            ]
            added = _to_frame(results_to_table(list(new.values())).select(_SUMMARY_COLUMNS))
            operations += self._metadata_operations(pd.concat([summary, added], ignore_index=True))
            operations += self._badge_operations(sorted({r.task for r in new.values()}), list(new.values()))
            message = f"Publish {len(new)} result(s): " + ", ".join(list(new)[:10])
            return parent, Plan(list(new), operations, message)

        return self._transact(self.results_store, step, "publish results")

    def current_metadata_operations(self, *, verifications: bool = False) -> list[AddFile]:
        """The card and thresholds for the results present now, for a commit that adds other records with them
        (verifications: `verifications=True` when that commit adds some)."""
        summary, _ = _load_summary(self.results_store)
        return self._metadata_operations(summary, verifications=verifications)

    def _metadata_operations(self, summary: pd.DataFrame, *, verifications: bool = False) -> list[AddFile]:
        thresholds = compute_thresholds(summary, self.task_configs, self.rating_method, self.min_cohort_size)
        verifications = verifications or bool(self.results_store.list_files(VERIFICATIONS_PREFIX))
        card = render_dataset_card(
            self.task_configs, summary, thresholds, repo_id=self.results_store.location, verifications=verifications
        )
        operations = [
            AddFile(THRESHOLDS_PATH, thresholds_to_json(thresholds).encode()),
            AddFile(CARD_PATH, card.encode()),
        ]
        if not summary.empty:
            rated = add_quality_columns(apply_ratings(summary, thresholds), self.task_configs)
            operations.append(AddFile(FRONTIER_PATH, frontier_parquet(rated)))
        return operations

    def _badge_operations(self, tasks: Sequence[str], new: Sequence[Result] = ()) -> list[AddFile]:
        """The badges (`leaderboard_data.badges`) of every model in these tasks, with `new` results joining them.

        A new result can move the stars of its whole cohort, so each touched task's badges are redrawn, rated
        as the thresholds of the same commit rate them; unchanged files are skipped by the Hub client.
        """
        tables, _ = _read_readable_tables(
            self.results_store, [p for t in tasks for p in data_files(self.results_store, t)]
        )
        frame = _to_frame(_concat_sorted([*tables.values(), results_to_table(list(new))], RESULT_SCHEMA))
        thresholds = compute_thresholds(frame, self.task_configs, self.rating_method, self.min_cohort_size)
        rated = add_quality_columns(apply_ratings(frame, thresholds), self.task_configs)
        files = badge_files(rated, self.task_configs)
        return [AddFile(path, content) for path, content in files.items()]

    def _differs(self, operation: AddFile) -> bool:
        """Whether writing this file changes the store, ignoring the thresholds' computation time."""
        try:
            current = self.results_store.read_file(operation.path)
        except FileNotInStoreError:
            return True
        return _without_timestamps(current) != _without_timestamps(operation.content)

    def _clear_outbox(self, paths: Sequence[str]) -> None:
        """Delete published outbox files (those still there) in one requests-store commit."""

        def step() -> tuple[str, Plan[None]]:
            parent = self.requests_store.revision()
            remaining = set(self.requests_store.list_files(OUTBOX_PREFIX, revision=parent))
            operations: list[CommitOperation] = [DeleteFile(p) for p in paths if p in remaining]
            return parent, Plan(None, operations, f"Clear {len(operations)} published result(s) from outbox")

        self._transact(self.requests_store, step, "clear the outbox")

    def _part_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for path in data_files(self.results_store):
            if _is_part(path):
                counts[_task_of(path)] = counts.get(_task_of(path), 0) + 1
        return counts

    def _compact_task(self, task: str) -> int:
        def step() -> tuple[str, Plan[int]]:
            parent = self.results_store.revision()
            paths = data_files(self.results_store, task)
            parts = [p for p in paths if _is_part(p)]
            compacted = [p for p in paths if _is_compacted(p)]
            if not parts and len(compacted) <= 1:
                return parent, Plan(0)
            tables, damaged = _read_readable_tables(self.results_store, parts + compacted)
            parts = [p for p in parts if p not in damaged]
            compacted = [p for p in compacted if p not in damaged]
            if not parts and len(compacted) <= 1:
                return parent, Plan(0)
            merged = _concat_sorted(list(tables.values()), RESULT_SCHEMA)
            ids = "\n".join(sorted(merged.column("result_id").to_pylist()))
            target = f"{DATA_PREFIX}{task}/compacted-{hashlib.sha256(ids.encode()).hexdigest()[:16]}.parquet"
            operations: list[CommitOperation] = [AddFile(target, table_to_parquet(merged))]
            operations += [DeleteFile(p) for p in parts + compacted if p != target]
            message = f"Compact {task}: {len(parts)} part file(s) and {len(compacted)} compacted file(s)"
            return parent, Plan(len(parts), operations, message)

        return self._transact(self.results_store, step, f"compact {task}")


def _gave_up(store: Store, what: str, attempts: int) -> ConflictError:
    return ConflictError(f"could not {what}: {store} kept moving over {attempts} attempts")


_COMPUTED_AT = re.compile(rb'"computed_at": "[^"]*"|computed at [^\n]*')


def _without_timestamps(content: bytes) -> bytes:
    return _COMPUTED_AT.sub(b"", content)
