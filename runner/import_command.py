"""`energy-score import`: an optimum-benchmark report published as an imported result, through the outbox.

Everything is checked before anything is written: the file size (before reading), the JSON, the scenario, every
energy figure, the model id, revision and submitter. The result id follows from the report's content, the model,
the task and the revision, so importing the same report twice adds nothing.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path

from leaderboard_data.configs import load_task_configs
from leaderboard_data.errors import EnergyScoreError
from leaderboard_data.imports.optimum_benchmark import (
    MAX_REPORT_BYTES,
    NATIVE_PROTOCOL,
    OptimumBenchmarkReport,
    ReportImportError,
    parse_report,
    report_to_result,
)
from leaderboard_data.model_checks import size_class
from leaderboard_data.model_ids import validate_model_id, validate_revision, validate_submitter
from leaderboard_data.outbox_files import add_to_outbox
from leaderboard_data.queue import outbox_path
from leaderboard_data.records import Result
from leaderboard_data.results import ResultsPublisher, load_results_frame
from leaderboard_data.stores import Stores, open_stores
from runner.hardware import slug

UNPINNED = "unpinned"
_CONFIG_BESIDE = "benchmark_config.json"


def read_limited(path: Path) -> bytes:
    """The file's bytes, refusing one over the size limit before reading it."""
    try:
        size = path.stat().st_size
        if size > MAX_REPORT_BYTES:
            raise ReportImportError(
                f"optimum-benchmark report refused: {path.name} is {size:,} bytes; the limit is {MAX_REPORT_BYTES:,}"
            )
        with path.open("rb") as handle:
            content = handle.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise ReportImportError(f"cannot read {path}: {exc.strerror}") from exc
    if len(content) > MAX_REPORT_BYTES:
        raise ReportImportError(f"optimum-benchmark report refused: {path.name} grew past {MAX_REPORT_BYTES:,} bytes")
    return content


def load_report(path: Path) -> OptimumBenchmarkReport:
    """benchmark.json, or benchmark_report.json with the benchmark_config.json optimum-benchmark wrote beside it."""
    content = read_limited(path)
    beside = path.with_name(_CONFIG_BESIDE)
    config = read_limited(beside) if beside.is_file() and beside != path else None
    return parse_report(content, config)


def default_hardware_class(report: OptimumBenchmarkReport) -> str:
    """The class the native runner would give that machine: '<gpu slug>x<count>' or 'cpu-<cpu slug>-<n>c'."""
    env = report.environment
    if report.device == "cuda":
        gpus = env.get("gpu")
        name = gpus[0] if isinstance(gpus, list) and gpus else "unknown-gpu"
        return f"{slug(str(name))}x{env.get('gpu_count') or 1}"[:100]
    return f"cpu-{slug(str(env.get('cpu') or 'unknown'))}-{env.get('cpu_count') or 1}c"[:100]


def _parameters(stores: Stores, model_id: str, revision: str | None) -> int | None:
    """The model's parameter count when the deployment's model source knows the model, else None."""
    try:
        return stores.models.info(model_id, revision).num_parameters
    except EnergyScoreError:
        return None


def build_imported_result(args: argparse.Namespace, stores: Stores) -> Result:
    """Check every input and map the report; raises an EnergyScoreError before anything is written."""
    configs = load_task_configs()
    if args.task not in configs:
        raise EnergyScoreError(f"unknown task {args.task[:64]!r}; known tasks: {', '.join(sorted(configs))}")
    model_id = validate_model_id(args.model)
    revision = validate_revision(args.revision) if args.revision else None
    submitter = validate_submitter(args.submitter or getpass.getuser())
    report = load_report(Path(args.report))
    parameters = _parameters(stores, model_id, revision)
    return report_to_result(
        report,
        configs[args.task],
        model_id=model_id,
        revision=revision or UNPINNED,
        hardware_class=args.hardware_class or default_hardware_class(report),
        submitter=submitter,
        num_parameters=parameters,
        size_class=size_class(parameters) if parameters else "unknown",
        now=datetime.now(UTC),
    )


def _measured(result: Result) -> str:
    figure = result.figure("total", result.scored_device)
    return "measured" if figure is not None and figure.measured else "estimated"


def run_import_command(args: argparse.Namespace) -> int:
    """The CLI's `import`: prints the result id; says so when it was already imported."""
    result = build_imported_result(args, open_stores(args.store))
    stores = open_stores(args.store, create=True)  # checked: now it may create the deployment's repositories
    published = load_results_frame(stores.results, result.task)
    if result.result_id in set(published["result_id"]):
        print(result.result_id)
        print(f"already imported as {result.result_id}: nothing added", file=sys.stderr)
        return 0
    added = add_to_outbox(
        stores.requests,
        outbox_path(result.task, result.result_id),
        result.to_json().encode(),
        f"Import {result.model_id} for {result.task} ({result.source})",
    )
    ResultsPublisher(stores.requests, stores.results, load_task_configs()).publish_pending()
    provenance = result.provenance or {}
    differences = provenance.get("protocol_differences") or []
    cohort = (
        "ranked with native results"
        if provenance.get("cohort_protocol") == NATIVE_PROTOCOL
        else ("own cohort, differs from native: " + "; ".join(differences))
    )
    print(result.result_id)
    print(
        f"{'imported' if added else 'already in the outbox, published'} {result.model_id} for {result.task}: "
        f"{result.scored_energy_wh_per_1k:.4g} Wh per 1,000 queries ({result.scored_device}, one run, no interval, "
        f"{_measured(result)}) on "
        f"{result.hardware.hardware_class}; {cohort}",
        file=sys.stderr,
    )
    return 0
