"""`energy-score bench`: one benchmark of one model on one task, outside the queue."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from leaderboard_data.configs import get_task_config
from leaderboard_data.model_checks import inspect_model_folder
from leaderboard_data.protocols import load_protocol_profile
from leaderboard_data.records import Result
from leaderboard_data.stores import open_stores
from runner.engine import BenchmarkSpec, run_benchmark
from runner.errors import BenchmarkFailure
from runner.runtime import apply_runtime
from runner.tables import _table

EXIT_FAILED = 1
"""As `energy-score` exits for any failed benchmark."""


def summary_table(result: Result) -> str:
    """Wh per 1,000 queries per phase and device with the 95% interval and its measured/estimated mark."""
    rows = [
        [
            figure.phase,
            figure.device,
            f"{figure.mean_wh_per_1k:.5g}",
            f"[{figure.ci95_low_wh_per_1k:.4g}, {figure.ci95_high_wh_per_1k:.4g}]",
            "measured" if figure.measured else "estimated",
            figure.method,
            _net(figure.net_of_idle_mean_wh_per_1k, figure.net_of_idle_note),
            figure.source,
        ]
        for figure in result.energy
    ]
    table = _table(["phase", "device", "Wh/1k", "95% CI", "kind", "method", "net of idle", "source"], rows)
    missing = "".join(f"\nnot measured: {m.device} ({m.source}): {m.reason}" for m in result.unavailable_meters)
    missing += "".join(f"\nmissing: {m.phase} on {m.device}: {m.reason}" for m in result.missing_figures)
    return (
        f"{result.model_id} on {result.task} (config {result.config_version}), {result.device}, "
        f"hardware {result.hardware.hardware_class}, {result.samples} queries in {result.repetitions} slices x "
        f"{_rounds_text(result)}"
        f"{_distinct_note(result)}\n"
        f"{table}{missing}\n"
        f"scored ({result.scored_device}): {result.scored_energy_wh_per_1k:.5g} Wh per 1,000 queries; "
        f"latency {result.latency_s_mean * 1000:.1f} ms mean, {result.latency_s_p95 * 1000:.1f} ms p95; "
        f"throughput {result.throughput_queries_per_s:.2f} queries/s; peak memory {result.peak_memory_mb:.0f} MB\n"
        f"{_checks_line(result)}\n"
        f"{_quality_line(result)}"
    )


def _quality_line(result: Result) -> str:
    """The quality of the run's own outputs, with its interval and floor, or why there is none."""
    quality = result.quality
    if quality is None:
        return "quality: not scored"
    if quality.value is None:
        return f"quality: none ({quality.note})"
    floor = (
        "" if quality.floor is None else f"; floor {quality.floor:.3g}: {'passed' if quality.floor_passed else 'BELOW'}"
    )
    interval = f" [{quality.ci_low:.3g}, {quality.ci_high:.3g}]" if quality.ci_low is not None else ""
    return f"quality: {quality.metric} {quality.value:.4g}{interval} over {quality.samples} samples{floor}"


def _net(value: float | None, note: str | None) -> str:
    return f"{value:.5g}" if value is not None else (note.split(":")[0] if note else "-")


def _rounds_text(result: Result) -> str:
    """'3 rounds (2 + 1 added)', or the slices' count alone for a result measured before rounds."""
    if result.base_rounds is None:
        return "1 round"
    added = result.added_rounds or 0
    total = result.base_rounds + added
    return f"{total} rounds" + (f" ({result.base_rounds} + {added} added)" if added else "")


def _checks_line(result: Result) -> str:
    """Precision of the mean, stability, idle agreement and the foreign-load check, in one line."""
    width = "n/a" if result.relative_half_width is None else f"+-{result.relative_half_width:.1%}"
    parts = [f"95% interval of the mean {width}" + (" (UNSTABLE: shown, no stars)" if result.unstable else "")]
    if result.exploratory_reasons:
        parts.append("EXPLORATORY (not rated): " + ", ".join(result.exploratory_reasons))
    parts += [f"idle {b.device} before/after disagree ({b.before_power_w:.3g} vs {b.after_power_w:.3g} W)"
              for b in result.idle if b.disagrees]  # fmt: skip
    if result.load_check:
        check = result.load_check
        parts.append(
            f"foreign load: max {check['max_foreign_share']:.0%} of cores over {check['windows']} windows "
            f"(gate {check['gate']}, {check['windows_contaminated']} contaminated, "
            f"{check['windows_remeasured']} re-measured)"
        )
    if result.runtime:
        runtime = result.runtime
        cores = ",".join(map(str, runtime.pinned_cores)) if runtime.pinned_cores else "not pinned"
        parts.append(
            f"runtime: {runtime.intra_op_threads} thread(s), wait policy {runtime.omp_wait_policy}, cores {cores}"
        )
    if result.cpu_power_model:
        model = result.cpu_power_model
        parts.append(
            f"cpu power model: {model.get('mode')} ({model.get('tracking_mode')} tracking), TDP "
            f"{model.get('tdp_w', '?')} W{' (generic default)' if model.get('generic_tdp') == 'true' else ''}"
        )
    return "; ".join(parts)


def reused_rows_warning(result: Result) -> str | None:
    """A warning when the dataset held fewer distinct rows than the samples asked for, so rows were reused."""
    distinct = result.distinct_samples
    if distinct is None or distinct >= result.samples:
        return None
    return (
        f"warning: the dataset holds {distinct} distinct rows, fewer than the {result.samples} samples asked for; "
        f"rows were reused ({result.samples / distinct:.1f}x on average). The figure is per query, but the inputs "
        "are less varied than the config intends."
    )


def _distinct_note(result: Result) -> str:
    distinct = result.distinct_samples
    return "" if distinct is None else f" ({distinct} distinct dataset rows)"


def run_bench_command(args: argparse.Namespace) -> int:
    config = get_task_config(args.task)
    # This process runs one benchmark: its threads, wait policy and cores are set before anything starts torch.
    apply_runtime(config.runtime, args.device, pin=True)
    folder = Path(args.model)
    stores = open_stores(args.store)
    if folder.is_dir():
        model_id, revision = folder.name, "local-folder"
    else:
        info = stores.models.info(args.model)
        folder = stores.models.download(args.model, info.sha)
        model_id, revision = args.model, info.sha
    inspect_model_folder(folder, model_id, revision, config)
    spec = BenchmarkSpec(
        model_id=model_id,
        model_dir=folder,
        revision=revision,
        task_config=config,
        device=args.device,
        precision=args.precision,
        samples=args.samples,
        repetitions=args.repetitions,
        dataset_path=args.dataset or stores.dataset_path(config),
        hardware_class=args.hardware_class,
        country_iso_code=args.country,
        progress=True,
        min_window_s=getattr(args, "min_window_s", None),
        load_gate=getattr(args, "load_gate", None),
        quiet_wait_s=getattr(args, "quiet_wait_s", None),
        rounds=getattr(args, "rounds", None),
        protocol=load_protocol_profile(args.protocol) if getattr(args, "protocol", None) else None,
        added_rounds_budget_s=getattr(args, "added_rounds_budget_s", None),
    )
    try:
        result = run_benchmark(spec)
    except BenchmarkFailure as failure:
        # A failed run is recorded too (e.g. machine_busy, with the load that caused it), and exits non-zero.
        print(f"benchmark failed: {failure}", file=sys.stderr)
        if args.out:
            record = {"failed": True, "error_kind": failure.kind.value, "error_message": failure.message}
            args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
            print(f"failure written to {args.out}", file=sys.stderr)
        return EXIT_FAILED
    print(summary_table(result))
    warning = reused_rows_warning(result)
    if warning:
        print(warning, file=sys.stderr)
    if args.out:
        args.out.write_text(result.to_json(), encoding="utf-8")
        print(f"full record written to {args.out}", file=sys.stderr)
    return 0
