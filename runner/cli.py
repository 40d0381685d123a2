"""`energy-score`: the command line of the pipeline. Thin: it parses arguments and calls the library.

Every command takes `--store` (`local:PATH` or `hub:ORG`, default from ENERGY_SCORE_STORE, else
`local:./energy-score-data`). Bad input exits non-zero with one clear line on stderr and writes nothing.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from leaderboard_data.errors import EnergyScoreError
from runner.errors import BenchmarkFailure

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1

_Handler = Callable[[argparse.Namespace], int]


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=None,
        help="where requests and results live: local:PATH or hub:ORG (default: $ENERGY_SCORE_STORE, "
        "else local:./energy-score-data)",
    )


def _cmd_submit(args: argparse.Namespace) -> int:
    from leaderboard_data.configs import load_task_configs
    from leaderboard_data.queue import RequestQueue
    from leaderboard_data.stores import open_stores
    from leaderboard_data.submission import SubmissionBatcher, submit_model

    stores = open_stores(args.store, create=True)
    configs = load_task_configs()
    receipt = submit_model(
        stores,
        configs,
        args.model_id,
        task=args.task,
        revision=args.revision,
        precision=args.precision,
        submitter=args.submitter or getpass.getuser(),
        batcher=SubmissionBatcher(RequestQueue(stores.requests, configs), window_s=0),  # one submission: no wait
    )
    print(receipt.request.request_id)
    if receipt.task_suggested:
        print(
            f"no --task given: {receipt.request.task}, from the model's pipeline tag or architecture", file=sys.stderr
        )
    where = f"position {receipt.position} in the queue" if receipt.position else receipt.request.status.value
    print(
        f"queued {receipt.request.model_id}@{receipt.request.revision[:12]} for {receipt.request.task} "
        f"({receipt.request.precision}, {receipt.checked.num_parameters:,} parameters, size class "
        f"{receipt.checked.size_class}): {where}",
        file=sys.stderr,
    )
    return 0


def _cmd_queue(args: argparse.Namespace) -> int:
    from leaderboard_data.configs import load_task_configs
    from leaderboard_data.queue import RequestQueue
    from leaderboard_data.records import RequestStatus
    from leaderboard_data.stores import open_stores
    from runner.tables import format_queue_table

    queue = RequestQueue(open_stores(args.store).requests, load_task_configs())
    status = RequestStatus(args.status) if args.status else None
    requests = queue.list_requests(status)
    if args.format == "json":
        print(json.dumps([r.to_dict() for r in requests], indent=2))
    else:
        print(format_queue_table(requests))
    for problem in queue.invalid_records():
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    from leaderboard_data.configs import load_task_configs
    from leaderboard_data.stores import open_stores
    from runner.tables import format_results, ranked_results

    configs = load_task_configs()
    if args.task and args.task not in configs:
        raise EnergyScoreError(f"unknown task {args.task[:64]!r}; known tasks: {', '.join(sorted(configs))}")
    frame = ranked_results(open_stores(args.store).results, configs, args.task)
    print(format_results(frame, args.format))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from runner.bench_command import run_bench_command

    return run_bench_command(args)


def _cmd_run(args: argparse.Namespace) -> int:
    from leaderboard_data.stores import open_stores
    from runner.worker import run_worker_command

    open_stores(args.store, create=True)  # a worker writes: it may create the deployment's repositories
    return run_worker_command(args)


def _cmd_publish(args: argparse.Namespace) -> int:
    from leaderboard_data.configs import load_task_configs
    from leaderboard_data.results import ResultsPublisher
    from leaderboard_data.stores import open_stores
    from leaderboard_data.verifications import VerificationPublisher

    stores = open_stores(args.store, create=True)
    publisher = ResultsPublisher(stores.requests, stores.results, load_task_configs())
    published = publisher.publish_pending()
    print(f"published {len(published)} result(s)")
    verified = VerificationPublisher(stores.requests, stores.results, load_task_configs()).publish_pending()
    print(f"published {len(verified)} verification(s)")
    if args.compact:
        print(f"compacted {publisher.compact()} file(s)")
    if args.refresh:
        print(f"refreshed {publisher.refresh_metadata()} card, threshold and badge file(s)")
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    from leaderboard_data.configs import load_task_configs
    from leaderboard_data.queue import RequestQueue
    from leaderboard_data.stores import open_stores

    queue = RequestQueue(open_stores(args.store).requests, load_task_configs())
    request = queue.cancel(args.request_id, by=args.by or getpass.getuser())
    print(f"{request.request_id}: {request.status.value}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from leaderboard_data.stores import open_stores
    from space.app import launch_app

    launch_app(open_stores(args.store), host=args.host, port=args.port, block=True)
    return 0


def _cmd_deploy_space(args: argparse.Namespace) -> int:
    import tempfile

    from space.deploy import build_space_folder, push_space

    checkout = Path(__file__).resolve().parent.parent
    if args.dry_run:
        print(build_space_folder(checkout, args.dry_run))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_space_folder(checkout, Path(tmp) / "space-repo")
        print(
            push_space(folder, args.repo_id, token=os.environ.get("HF_TOKEN"), endpoint=os.environ.get("HF_ENDPOINT"))
        )
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from runner.import_command import run_import_command

    return run_import_command(args)


def _cmd_verify(args: argparse.Namespace) -> int:
    from runner.verification import run_verify_command

    return run_verify_command(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from runner.demo import run_demo_command

    return run_demo_command(args)


def build_parser() -> argparse.ArgumentParser:
    """The full command tree; `energy-score COMMAND --help` explains each command."""
    parser = argparse.ArgumentParser(
        prog="energy-score",
        description="Measure the energy AI models spend per 1,000 queries, per task, and rank them.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: _Handler, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        _add_store(cmd)
        cmd.set_defaults(handler=handler)
        return cmd

    submit = command("submit", _cmd_submit, "Check a model and queue it for benchmarking on one task.")
    submit.add_argument("model_id", metavar="MODEL_ID", help="Hub model id, e.g. org/name")
    submit.add_argument(
        "--task",
        help="task name, one of configs/*.yaml (default: suggested from the model's pipeline tag or architecture)",
    )
    submit.add_argument("--revision", help="branch, tag or commit (default: latest; always pinned to a commit)")
    submit.add_argument("--precision", choices=["float32", "float16", "bfloat16"], help="default: the task's")
    submit.add_argument("--submitter", help="who submits (default: the local user)")

    queue = command("queue", _cmd_queue, "List benchmark requests and their status.")
    queue.add_argument("--status", choices=["PENDING", "RUNNING", "FINISHED", "FAILED", "CANCELLED"])
    queue.add_argument("--format", choices=["table", "json"], default="table")

    results = command("results", _cmd_results, "Ranked results with stars, per task.")
    results.add_argument("--task", help="only this task")
    results.add_argument("--format", choices=["table", "json", "csv"], default="table")

    bench = command("bench", _cmd_bench, "Benchmark one model on one task, without the queue.")
    bench.add_argument("model", metavar="MODEL_OR_PATH", help="a local model folder, or a model id of the store")
    bench.add_argument("--task", required=True)
    bench.add_argument("--samples", type=int, help="queries per pass (default: the config's 1,000)")
    bench.add_argument("--repetitions", type=int, help="slices of the samples (default: the config's)")
    bench.add_argument("--rounds", type=int, help="base rounds, each a pass over every slice (default: the config's)")
    bench.add_argument(
        "--protocol", help="a protocol profile of configs/protocols/ (e.g. demo) instead of the task config's"
    )
    bench.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    bench.add_argument("--precision", choices=["float32", "float16", "bfloat16"])
    bench.add_argument("--dataset", help="dataset folder or Hub id (default: the config's source)")
    bench.add_argument("--out", type=Path, help="write the full result record as JSON here")
    bench.add_argument("--hardware-class", help="declare the hardware class (a reference machine)")
    bench.add_argument("--country", default="USA", help="ISO code of the grid region for CO2 (default USA)")
    bench.add_argument("--min-window-s", type=float, help="minimum measured window (default: the config's)")
    bench.add_argument(
        "--load-gate",
        choices=["gate", "record"],
        help="gate: re-measure windows with foreign CPU load, fail as machine_busy if never quiet (default); "
        "record: only record it (default from ENERGY_SCORE_LOAD_GATE)",
    )
    bench.add_argument("--quiet-wait-s", type=float, help="wait this long for a quiet machine (default: config's)")
    bench.add_argument(
        "--added-rounds-budget-s",
        type=float,
        help="measured time for rounds added while the mean is imprecise (default: config's)",
    )

    run = command("run", _cmd_run, "Run a worker: claim requests, benchmark them, publish results.")
    run.add_argument("--once", action="store_true", help="process one request, then exit")
    run.add_argument("--max-jobs", type=int, help="exit after this many requests")
    run.add_argument("--worker-id", help="default: host and pid")
    run.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    run.add_argument("--poll", type=float, default=10.0, metavar="SECONDS", help="sleep when the queue is empty")
    run.add_argument("--hardware-class", help="declare the hardware class (a reference machine)")
    run.add_argument(
        "--samples", type=int, help="override the protocol's sample count (smoke tests): results are exploratory"
    )
    run.add_argument("--repetitions", type=int, help="override the protocol's slices: results are exploratory")
    run.add_argument(
        "--protocol", help="a protocol profile of configs/protocols/ (e.g. demo) instead of each task config's"
    )
    run.add_argument(
        "--lease", type=float, metavar="SECONDS", help="lease length (default: the task's timeout plus 15 minutes)"
    )
    run.add_argument(
        "--finish-hold",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="how long a finished result may wait (spooled) for the next claim to share its commit",
    )
    run.add_argument("--exit-when-empty", action="store_true", help="exit instead of polling an empty queue")
    run.add_argument("--executor", choices=["local", "ray"], default="local", help="where benchmarks run")
    run.add_argument("--address", help="Ray cluster address (with --executor ray)")
    run.add_argument(
        "--verify-share",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of the worker's time spent re-measuring published results of its hardware class when the "
        "queue is empty (e.g. 0.05)",
    )

    publish = command("publish", _cmd_publish, "Publish finished results to the results dataset.")
    publish.add_argument("--compact", action="store_true", help="also merge per-result files per task")
    publish.add_argument(
        "--refresh",
        action="store_true",
        help="also rewrite the dataset card, star thresholds and every badge from the results present: run it "
        "after a config change, which unrates the old config's results",
    )

    cancel = command("cancel", _cmd_cancel, "Cancel a pending request.")
    cancel.add_argument("request_id")
    cancel.add_argument("--by", help="who cancels (default: the local user)")

    serve = command("serve", _cmd_serve, "Serve the leaderboard Space locally.")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7860)

    deploy = command("deploy-space", _cmd_deploy_space, "Push the leaderboard app to a Hugging Face Space.")
    deploy.add_argument("repo_id", metavar="ORG/NAME", help="the Space to create or update")
    deploy.add_argument("--dry-run", type=Path, metavar="DIR", help="only write the Space's files into DIR")

    imported = command("import", _cmd_import, "Publish an optimum-benchmark energy_star report as an imported result.")
    imported.add_argument("report", metavar="REPORT.json", help="benchmark.json, or benchmark_report.json")
    imported.add_argument("--model", required=True, metavar="ORG/NAME", help="the model the report measured")
    imported.add_argument("--task", required=True, help="task name, one of configs/*.yaml")
    imported.add_argument("--revision", help="pinned model revision (40-hex commit sha or 64-hex content hash)")
    imported.add_argument("--hardware-class", help="default: derived from the report's environment")
    imported.add_argument("--submitter", help="who imports (default: the local user)")

    verify = command("verify", _cmd_verify, "Re-measure a published result with its exact setup and compare.")
    verify.add_argument("result_id", metavar="RESULT_ID")
    verify.add_argument("--device", choices=["cpu", "cuda"], help="default: the published result's device")
    verify.add_argument("--hardware-class", help="declare the hardware class (a reference machine)")
    verify.add_argument("--worker-id", help="who verifies (default: host and pid)")

    demo = command("demo", _cmd_demo, "Build small models offline, benchmark them on CPU, rank and serve them.")
    demo.add_argument("--no-serve", action="store_true", help="print the rankings and exit")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=7860)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    try:
        return int(args.handler(args))
    except EnergyScoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BenchmarkFailure as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
