"""Verifications: a published result re-measured by another worker of its hardware class, and the verdict.

They travel as results do. The verifier puts the record in the requests store's verification outbox (one commit);
`VerificationPublisher` copies it to the results store as `verifications/part-<verification_id>.parquet`,
together with the card that lists the `verifications` config, in one commit, then clears the outbox. A
verification id already in the results store is never added again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import pandas as pd
import pyarrow as pa

from leaderboard_data.configs import TaskConfig
from leaderboard_data.dataset_card import VERIFICATIONS_PREFIX
from leaderboard_data.errors import ConflictError, FileNotInStoreError, RecordValidationError
from leaderboard_data.outbox_files import add_to_outbox
from leaderboard_data.quality_agreement import QualityAgreement
from leaderboard_data.records import EnergyFigure, Result, Verification
from leaderboard_data.results import ResultsPublisher, read_parquet_bytes, table_to_parquet
from leaderboard_data.stores.base import AddFile, CommitOperation, DeleteFile, Store

logger = logging.getLogger(__name__)

OUTBOX_PREFIX = "outbox-verifications/"
_OUTBOX_PATH = re.compile(r"^outbox-verifications/([a-z0-9]{8,64})\.json$")
_UTC = pa.timestamp("us", tz="UTC")

VERIFICATION_SCHEMA = pa.schema(
    [
        ("verification_id", pa.string()),
        ("result_id", pa.string()),
        ("model_id", pa.string()),
        ("revision", pa.string()),
        ("task", pa.string()),
        ("config_version", pa.string()),
        ("scored_device", pa.string()),
        ("published_worker_id", pa.string()),
        ("verifier_worker_id", pa.string()),
        ("hardware_class", pa.string()),
        ("accelerator_name", pa.string()),
        ("cpu_model", pa.string()),
        ("node", pa.string()),
        ("published_wh_per_1k", pa.float64()),
        ("published_ci95_low", pa.float64()),
        ("published_ci95_high", pa.float64()),
        ("remeasured_wh_per_1k", pa.float64()),
        ("remeasured_ci95_low", pa.float64()),
        ("remeasured_ci95_high", pa.float64()),
        ("remeasured_measured", pa.bool_()),
        ("remeasured_repetitions", pa.int64()),
        ("ratio", pa.float64()),
        ("within_published_interval", pa.bool_()),
        ("intervals_overlap", pa.bool_()),
        ("verdict", pa.string()),
        ("measured_at", _UTC),
        ("record_json", pa.string()),
    ]
)
VERIFICATION_COLUMNS: list[str] = list(VERIFICATION_SCHEMA.names)


@dataclass(frozen=True)
class Comparison:
    """A published figure against its re-measurement (scored device, Wh per 1,000 queries)."""

    published: EnergyFigure
    remeasured: EnergyFigure
    hardware_match: bool

    @property
    def ratio(self) -> float:
        return self.remeasured.mean_wh_per_1k / self.published.mean_wh_per_1k

    @property
    def within_published_interval(self) -> bool:
        p = self.published
        return p.ci95_low_wh_per_1k <= self.remeasured.mean_wh_per_1k <= p.ci95_high_wh_per_1k

    @property
    def published_within_remeasured_interval(self) -> bool:
        r = self.remeasured
        return r.ci95_low_wh_per_1k <= self.published.mean_wh_per_1k <= r.ci95_high_wh_per_1k

    @property
    def intervals_overlap(self) -> bool:
        p, r = self.published, self.remeasured
        return p.ci95_low_wh_per_1k <= r.ci95_high_wh_per_1k and r.ci95_low_wh_per_1k <= p.ci95_high_wh_per_1k

    @property
    def verdict(self) -> str:
        """'disagrees' when each mean lies outside the other's interval, else 'agrees'."""
        agrees = self.within_published_interval or self.published_within_remeasured_interval
        return "agrees" if agrees else "disagrees"


def compare(published: Result, remeasured: Result) -> Comparison:
    """Compare the published result's scored-device total with the same figure of the re-measurement."""
    device = published.scored_device
    before, after = published.figure("total", device), remeasured.figure("total", device)
    if before is None or after is None:
        missing = "published result" if before is None else "re-measurement"
        raise RecordValidationError(published.result_id, f"the {missing} has no total {device} energy to compare")
    if after.mean_wh_per_1k <= 0:
        raise RecordValidationError(published.result_id, "the re-measurement read no energy")
    match = remeasured.hardware.hardware_class == published.hardware.hardware_class
    return Comparison(published=before, remeasured=after, hardware_match=match)


def build_verification(published: Result, remeasured: Result, comparison: Comparison) -> Verification:
    """The record of one re-measurement; its id follows from the result, the verifier and the re-run."""
    key = json.dumps([published.result_id, remeasured.worker_id, remeasured.result_id])
    p, r = comparison.published, comparison.remeasured
    quality = QualityAgreement(published.quality, remeasured.quality)
    return Verification(
        published_quality=quality.published.value if quality.published else None,
        rescored_quality=quality.rescored.value if quality.rescored else None,
        quality_agrees=quality.agrees,
        verification_id=hashlib.sha256(key.encode()).hexdigest()[:16],
        result_id=published.result_id,
        model_id=published.model_id,
        revision=published.revision,
        task=published.task,
        config_version=published.config_version,
        scored_device=published.scored_device,
        published_worker_id=published.worker_id,
        verifier_worker_id=remeasured.worker_id,
        hardware=remeasured.hardware,
        published_wh_per_1k=p.mean_wh_per_1k,
        published_ci95_low_wh_per_1k=p.ci95_low_wh_per_1k,
        published_ci95_high_wh_per_1k=p.ci95_high_wh_per_1k,
        remeasured_wh_per_1k=r.mean_wh_per_1k,
        remeasured_ci95_low_wh_per_1k=r.ci95_low_wh_per_1k,
        remeasured_ci95_high_wh_per_1k=r.ci95_high_wh_per_1k,
        remeasured_measured=r.measured,
        remeasured_repetitions=r.repetitions,
        ratio=comparison.ratio,
        within_published_interval=comparison.within_published_interval,
        intervals_overlap=comparison.intervals_overlap,
        verdict=comparison.verdict,  # type: ignore[arg-type]
        measured_at=remeasured.finished_at,
    )


def verification_to_row(v: Verification) -> dict[str, Any]:
    """One flat row (VERIFICATION_COLUMNS) for one verification."""
    moment = v.measured_at if v.measured_at.tzinfo else v.measured_at.replace(tzinfo=UTC)
    return {
        "verification_id": v.verification_id,
        "result_id": v.result_id,
        "model_id": v.model_id,
        "revision": v.revision,
        "task": v.task,
        "config_version": v.config_version,
        "scored_device": v.scored_device,
        "published_worker_id": v.published_worker_id,
        "verifier_worker_id": v.verifier_worker_id,
        "hardware_class": v.hardware.hardware_class,
        "accelerator_name": v.hardware.accelerator_name,
        "cpu_model": v.hardware.cpu_model,
        "node": v.hardware.node,
        "published_wh_per_1k": v.published_wh_per_1k,
        "published_ci95_low": v.published_ci95_low_wh_per_1k,
        "published_ci95_high": v.published_ci95_high_wh_per_1k,
        "remeasured_wh_per_1k": v.remeasured_wh_per_1k,
        "remeasured_ci95_low": v.remeasured_ci95_low_wh_per_1k,
        "remeasured_ci95_high": v.remeasured_ci95_high_wh_per_1k,
        "remeasured_measured": v.remeasured_measured,
        "remeasured_repetitions": v.remeasured_repetitions,
        "ratio": v.ratio,
        "within_published_interval": v.within_published_interval,
        "intervals_overlap": v.intervals_overlap,
        "verdict": v.verdict,
        "measured_at": moment.astimezone(UTC),
        "record_json": v.to_json(),
    }


def part_path(verification_id: str) -> str:
    return f"{VERIFICATIONS_PREFIX}part-{verification_id}.parquet"


def outbox_path(verification_id: str) -> str:
    return f"{OUTBOX_PREFIX}{verification_id}.json"


def submit_verification(requests_store: Store, verification: Verification) -> bool:
    """Put a verification in the outbox (one commit); False if it is already there."""
    return add_to_outbox(
        requests_store,
        outbox_path(verification.verification_id),
        verification.to_json().encode(),
        f"Verification {verification.verification_id} of result {verification.result_id}: {verification.verdict}",
    )


def _verification_files(results_store: Store) -> list[str]:
    return [p for p in results_store.list_files(VERIFICATIONS_PREFIX) if p.endswith(".parquet")]


def _read(results_store: Store) -> pa.Table:
    paths = _verification_files(results_store)
    tables = []
    for path, content in (results_store.read_files(paths) if paths else {}).items():
        try:
            table = read_parquet_bytes(content)
        except (pa.ArrowException, OSError, ValueError) as exc:
            logger.error("results store: skipping unreadable %s: %s", path, exc)
            continue
        if not table.schema.equals(VERIFICATION_SCHEMA):
            logger.error("results store: skipping %s: its schema differs from VERIFICATION_SCHEMA", path)
            continue
        tables.append(table)
    if not tables:
        return VERIFICATION_SCHEMA.empty_table()
    combined = pa.concat_tables(tables).sort_by([("measured_at", "ascending"), ("verification_id", "ascending")])
    keep = ~pd.Index(combined.column("verification_id").to_pylist()).duplicated(keep="first")
    return combined.filter(pa.array(keep))


def load_verifications_frame(results_store: Store) -> pd.DataFrame:
    """Every published verification, once each, oldest first; columns VERIFICATION_COLUMNS."""
    return _read(results_store).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get).reset_index(drop=True)


class VerificationPublisher:
    """Moves verifications from the requests store's outbox into the results store, each once."""

    def __init__(
        self,
        requests_store: Store,
        results_store: Store,
        task_configs: Mapping[str, TaskConfig],
        *,
        max_attempts: int = 20,
    ) -> None:
        self.requests_store = requests_store
        self.results_store = results_store
        self.metadata = ResultsPublisher(requests_store, results_store, task_configs, max_attempts=max_attempts)
        self.max_attempts = max_attempts
        self.invalid: list[str] = []

    def publish_pending(self) -> list[str]:
        """Publish every valid outbox verification in one results-store commit; the ids added now."""
        pending = self._read_outbox()
        added = self._add(list(pending.values())) if pending else []
        if pending:
            self._clear_outbox(sorted(pending))
        return added

    def _read_outbox(self) -> dict[str, Verification]:
        self.invalid = []
        for _ in range(self.max_attempts):
            paths = self.requests_store.list_files(OUTBOX_PREFIX)
            try:
                contents = self.requests_store.read_files(paths) if paths else {}
            except FileNotInStoreError:
                continue  # cleared under us by another publisher: list again
            pending: dict[str, Verification] = {}
            for path in paths:
                match = _OUTBOX_PATH.match(path)
                try:
                    if match is None:
                        raise RecordValidationError(path, "verification outbox files are named <verification_id>.json")
                    record = Verification.from_json(contents[path], path)
                    if record.verification_id != match.group(1):
                        raise RecordValidationError(path, f"holds verification {record.verification_id}")
                    pending[path] = record
                except RecordValidationError as exc:
                    logger.error("left invalid verification in the outbox: %s", exc)
                    self.invalid.append(path)
            return pending
        raise ConflictError(f"could not read the verification outbox over {self.max_attempts} attempts")

    def _add(self, records: Sequence[Verification]) -> list[str]:
        for _ in range(self.max_attempts):
            parent = self.results_store.revision()
            present = set(_read(self.results_store).column("verification_id").to_pylist())
            new = {r.verification_id: r for r in records if r.verification_id not in present}
            if not new:
                return []
            operations: list[CommitOperation] = [
                AddFile(part_path(v.verification_id), table_to_parquet(_table([v]))) for v in new.values()
            ]
            operations += self.metadata.current_metadata_operations(verifications=True)
            try:
                self.results_store.commit(
                    operations, parent_revision=parent, message=f"Publish {len(new)} verification(s): {', '.join(new)}"
                )
                return list(new)
            except ConflictError:
                logger.info("results store moved while publishing verifications; retrying")
        raise ConflictError(f"could not publish verifications over {self.max_attempts} attempts")

    def _clear_outbox(self, paths: Sequence[str]) -> None:
        for _ in range(self.max_attempts):
            parent = self.requests_store.revision()
            remaining = set(self.requests_store.list_files(OUTBOX_PREFIX))
            operations: list[CommitOperation] = [DeleteFile(p) for p in paths if p in remaining]
            if not operations:
                return
            try:
                self.requests_store.commit(
                    operations, parent_revision=parent, message=f"Clear {len(operations)} published verification(s)"
                )
                return
            except ConflictError:
                logger.info("requests store moved while clearing the verification outbox; retrying")
        raise ConflictError(f"could not clear the verification outbox over {self.max_attempts} attempts")


def _table(records: Sequence[Verification]) -> pa.Table:
    return pa.Table.from_pylist([verification_to_row(v) for v in records], schema=VERIFICATION_SCHEMA)
