"""`energy-score verify` and the worker's `--verify-share`: re-measure a published result with its exact setup.

The re-run goes through the same path as a worker's benchmark (model checks, download of the pinned revision,
an isolated child process) with the published model revision, precision, task config version and plan: the
same samples in the same slices, and as many rounds as the published result measured (its base and added rounds
together, none added), so both figures are means over the same passes. A result measured under an older config
version is refused: the config has moved on, so the same setup no longer exists. Only a re-measurement on the
same hardware class is published, as a verification record.
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.errors import EnergyScoreError
from leaderboard_data.model_checks import check_model, inspect_model_folder
from leaderboard_data.protocols import STANDARD_PROTOCOL, ProtocolProfile, load_protocol_profile
from leaderboard_data.quality_agreement import QualityAgreement
from leaderboard_data.records import EnergyFigure, Result, Verification
from leaderboard_data.results import load_result_records
from leaderboard_data.stores import Stores, open_stores
from leaderboard_data.verifications import (
    Comparison,
    VerificationPublisher,
    build_verification,
    compare,
    load_verifications_frame,
    submit_verification,
)
from runner.engine import BenchmarkSpec
from runner.executors import Executor, LocalProcessExecutor

log = logging.getLogger("energy_score.verify")


class VerificationRefused(EnergyScoreError):
    """A result that cannot be re-measured as published; the message says why."""


class VerificationStopped(EnergyScoreError):
    """The worker was asked to stop while re-measuring; nothing was kept."""


@dataclass(frozen=True)
class VerifyOutcome:
    published: Result
    remeasured: Result
    comparison: Comparison
    verification: Verification | None  # None when the hardware class differs: nothing is published


def find_published(stores: Stores, result_id: str) -> Result:
    """The published record with this id, or a refusal naming it."""
    for record in load_result_records(stores.results):
        if record.result_id == result_id:
            return record
    raise VerificationRefused(f"no published result {result_id[:64]!r} in {stores.results.location}")


def check_reproducible(published: Result, configs: Mapping[str, TaskConfig], verifier_worker_id: str) -> TaskConfig:
    """The task config the result can be re-run under; refusals say why it cannot."""
    if published.source != "native":
        raise VerificationRefused(
            f"result {published.result_id} is {published.source}: it was not measured by this pipeline, so there is "
            "no setup here to re-run"
        )
    if published.worker_id == verifier_worker_id:
        raise VerificationRefused(f"worker {verifier_worker_id} measured result {published.result_id} itself")
    config = configs.get(published.task)
    if config is None:
        raise VerificationRefused(f"task {published.task} of result {published.result_id} has no config any more")
    if published.base_rounds is None:
        raise VerificationRefused(
            f"result {published.result_id} was measured before rounds: its plan cannot be replayed"
        )
    if config.config_version != published.config_version:
        raise VerificationRefused(
            f"result {published.result_id} was measured under {published.task} config {published.config_version}; "
            f"the config has moved on to {config.config_version}, so its setup can no longer be re-run"
        )
    return config


def published_protocol(published: Result) -> ProtocolProfile | None:
    """The protocol profile the result was measured under (None: its task config's); refused when it moved on."""
    if published.protocol == STANDARD_PROTOCOL:
        return None
    profile = load_protocol_profile(published.protocol)
    if profile.protocol_version != published.protocol_version:
        raise VerificationRefused(
            f"result {published.result_id} was measured under protocol {published.protocol} "
            f"{published.protocol_version}; it has moved on to {profile.protocol_version}"
        )
    return profile


def replay_spec(
    published: Result, config: TaskConfig, folder: Path, dataset_path: str, *, device: str, hardware_class: str | None,
    worker_id: str,
) -> BenchmarkSpec:  # fmt: skip
    """The published result's plan: its protocol, its samples in the same slices, and its base and added rounds as
    the rounds to measure, none added, so the re-measurement is a mean over the same passes."""
    return BenchmarkSpec(
        model_id=published.model_id,
        model_dir=folder,
        revision=published.revision,
        task_config=config,
        device="cuda" if device == "cuda" else "cpu",
        protocol=published_protocol(published),
        precision=published.precision,
        samples=published.samples,
        repetitions=published.repetitions,
        rounds=(published.base_rounds or 0) + (published.added_rounds or 0),
        added_rounds_budget_s=0.0,
        dataset_path=dataset_path,
        worker_id=worker_id,
        hardware_class=hardware_class,
    )


def remeasure(
    stores: Stores,
    config: TaskConfig,
    published: Result,
    *,
    device: str,
    hardware_class: str | None,
    worker_id: str,
    executor: Executor | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Result:
    """Benchmark the published model revision with the published precision and plan (`replay_spec`)."""
    info = stores.models.info(published.model_id, published.revision)
    check_model(info, config)
    folder = stores.models.download(published.model_id, published.revision)
    inspect_model_folder(folder, published.model_id, published.revision, config)
    spec = replay_spec(
        published,
        config,
        folder,
        stores.dataset_path(config),
        device=device,
        hardware_class=hardware_class,
        worker_id=worker_id,
    )
    handle = (executor or LocalProcessExecutor()).start(spec, config.timeout_s)
    while True:
        if should_stop():
            handle.terminate()
            raise VerificationStopped(f"stopped while re-measuring {published.result_id}")
        result = handle.poll(0.5)
        if result is not None:
            return result


def verify(
    stores: Stores,
    configs: Mapping[str, TaskConfig],
    published: Result,
    *,
    device: str,
    hardware_class: str | None,
    worker_id: str,
    executor: Executor | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> VerifyOutcome:
    """Re-measure, compare, and publish a verification when the hardware class matches."""
    config = check_reproducible(published, configs, worker_id)
    remeasured = remeasure(
        stores,
        config,
        published,
        device=device,
        hardware_class=hardware_class,
        worker_id=worker_id,
        executor=executor,
        should_stop=should_stop,
    )
    comparison = compare(published, remeasured)
    verification = None
    if comparison.hardware_match:
        verification = build_verification(published, remeasured, comparison)
        submit_verification(stores.requests, verification)
        VerificationPublisher(stores.requests, stores.results, configs).publish_pending()
    return VerifyOutcome(published, remeasured, comparison, verification)


def _figure_text(figure: EnergyFigure, result: Result) -> str:
    mark = "measured" if figure.measured else "estimated"
    return (
        f"{figure.mean_wh_per_1k:.6g} Wh per 1,000 queries [95% CI {figure.ci95_low_wh_per_1k:.6g}, "
        f"{figure.ci95_high_wh_per_1k:.6g}] ({figure.device}, {mark}, {figure.repetitions} rounds, "
        f"{result.hardware.hardware_class}, config {result.config_version}, worker {result.worker_id})"
    )


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def format_outcome(outcome: VerifyOutcome) -> list[str]:
    """One figure per line, as `energy-score verify` prints them."""
    c = outcome.comparison
    hardware = f"{outcome.remeasured.hardware.hardware_class} vs {outcome.published.hardware.hardware_class}"
    return [
        f"published: {_figure_text(c.published, outcome.published)}",
        f"remeasured: {_figure_text(c.remeasured, outcome.remeasured)}",
        f"ratio: {c.ratio:.4f}",
        f"within_published_interval: {_yes(c.within_published_interval)}",
        f"intervals_overlap: {_yes(c.intervals_overlap)}",
        f"hardware_match: {_yes(c.hardware_match)} ({hardware})",
        QualityAgreement(outcome.published.quality, outcome.remeasured.quality).text(),
    ]


def run_verify_command(args: argparse.Namespace) -> int:
    """The CLI's `verify`: prints the comparison; publishes a verification when the hardware class matches."""
    from runner.worker import default_worker_id

    stores = open_stores(args.store)
    configs = load_task_configs()
    published = find_published(stores, args.result_id)
    worker_id = args.worker_id or default_worker_id()
    outcome = verify(
        stores,
        configs,
        published,
        device=args.device or published.device,
        hardware_class=args.hardware_class,
        worker_id=worker_id,
    )
    for line in format_outcome(outcome):
        print(line)
    if outcome.verification is None:
        print("verification: not published (another hardware class)")
    else:
        print(f"verification: {outcome.verification.verification_id} ({outcome.verification.verdict}), published")
    return 0


class VerifyScheduler:
    """A worker's `--verify-share`: when its queue is empty, re-measure a random published result of its
    hardware class (never its own) while verifying has used less than `share` of the worker's time."""

    def __init__(
        self,
        stores: Stores,
        configs: Mapping[str, TaskConfig],
        *,
        share: float,
        worker_id: str,
        device: str,
        hardware_class: str,
        executor: Executor | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < share < 1:
            raise EnergyScoreError(f"--verify-share must be between 0 and 1 (exclusive), not {share}")
        self.stores = stores
        self.configs = configs
        self.share = share
        self.worker_id = worker_id
        self.device = device
        self.hardware_class = hardware_class
        self.executor = executor
        self.rng = rng or random.Random()
        self.started = time.monotonic()
        self.spent_s = 0.0
        self.verified: list[str] = []

    def due(self) -> bool:
        return self.spent_s <= self.share * (time.monotonic() - self.started)

    def candidates(self) -> list[Result]:
        """Published native results of this hardware class and config version, by other workers, not yet
        verified by this one."""
        frame = load_verifications_frame(self.stores.results)
        mine = set(frame.loc[frame["verifier_worker_id"] == self.worker_id, "result_id"])
        return [
            r
            for r in load_result_records(self.stores.results)
            if r.hardware.hardware_class == self.hardware_class
            and r.worker_id != self.worker_id
            and r.source == "native"
            and r.result_id not in mine
            and r.task in self.configs
            and self.configs[r.task].config_version == r.config_version
        ]

    def run_if_due(self, should_stop: Callable[[], bool] = lambda: False) -> VerifyOutcome | None:
        """Verify one random candidate if verifying is due; None when not due, nothing to verify, or it failed."""
        if not self.due():
            return None
        begin = time.monotonic()
        try:
            candidates = self.candidates()
            if not candidates:
                return None
            published = self.rng.choice(candidates)
            log.info("verifying %s (%s on %s)", published.result_id, published.model_id, published.task)
            outcome = verify(
                self.stores,
                self.configs,
                published,
                device=self.device,
                hardware_class=self.hardware_class,
                worker_id=self.worker_id,
                executor=self.executor,
                should_stop=should_stop,
            )
            self.verified.append(published.result_id)
            for line in format_outcome(outcome):
                log.info("verification of %s: %s", published.result_id, line)
            return outcome
        except VerificationStopped:
            return None
        except Exception as exc:  # a verification problem must never stop the worker's own work
            log.warning("verification failed: %s: %s", type(exc).__name__, exc)
            return None
        finally:
            self.spent_s += time.monotonic() - begin
