"""Soak test of the whole pipeline: real worker processes on one deployment, a seeded mix of good and hostile
requests, workers killed with SIGKILL mid-benchmark and replaced, and (hub backend) a fake Hub enforcing the real
rate limits (tests/hub_limits.py) and injecting 412s, 409s (racing commits, besides those the fake answers to
commits that really race), 429s, 5xx, dropped connections and slow answers, with heads and resolves lagging
`--lag-s` behind. At the end
every request must be settled exactly once.

    .venv/bin/python -m bench.soak --requests 40 --workers 3 --seed 0 --backend local

Prints one figure per line as `name: value`; `--json PATH` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from subprocess import Popen

from leaderboard_data.records import ErrorKind, RequestStatus
from tests.helpers_reliability import (
    HOSTILE_KINDS,
    Audit,
    Rig,
    audit,
    benchmark_children,
    hostile_model,
    hub_rig,
    kill_hard,
    local_rig,
    stop_all,
)
from tests.hub_server import FakeHub, FaultPlan

HOSTILE_SHARE = 0.1
SETTLED = (RequestStatus.FINISHED, RequestStatus.FAILED, RequestStatus.CANCELLED)


def hub_faults(seed: int) -> FaultPlan:
    """Faults on every endpoint at rates a busy Hub shows on a bad day."""
    return FaultPlan(
        conflict_rate=0.05,
        busy_rate=0.05,
        rate_limit_rate=0.02,
        retry_after_s=0.2,
        server_error_rate=0.02,
        drop_rate=0.01,
        slow_rate=0.05,
        slow_s=0.3,
        seed=seed,
    )


def submit_mix(rig: Rig, count: int, rng: random.Random) -> dict[str, ErrorKind | None]:
    """`count` requests, about HOSTILE_SHARE of them hostile models; request id -> the reason it must fail."""
    good = rig.tiny_model()
    expected: dict[str, ErrorKind | None] = {}
    for index in range(count):
        model_id = f"soak/model-{index:04d}"
        if rng.random() < HOSTILE_SHARE:
            variant = rng.choice(sorted(HOSTILE_KINDS))
            folder = hostile_model(good, rig.root / "hostile" / f"{index:04d}", variant, rig.root / "MARKER")
            expected[rig.submit(model_id, rig.add_model(model_id, folder))] = HOSTILE_KINDS[variant]
        else:
            expected[rig.submit(model_id, rig.add_model(model_id, good))] = None
    return expected


def drive(
    rig: Rig, workers: int, rng: random.Random, lease_s: float, kill_every_s: float, limit_s: float, poll_s: float
) -> Counter[str]:
    """Keep `workers` worker processes running until every request is settled, killing one at random (while it
    benchmarks) about every `kill_every_s`; returns counts of kills and unexpected worker exits."""
    events: Counter[str] = Counter()
    args = ("--lease", str(lease_s), "--poll", str(poll_s), "--finish-hold", "5")
    pool: list[Popen[str]] = [rig.worker(*args, worker_id=f"soak-{i}") for i in range(workers)]
    started = time.monotonic()
    next_kill = started + rng.expovariate(1 / kill_every_s)
    queue = rig.queue()
    while time.monotonic() - started < limit_s:
        time.sleep(1.0)
        for index, process in enumerate(pool):
            if process.poll() is not None:
                events["worker_exits_unexpected"] += 1
                pool[index] = rig.worker(*args, worker_id=f"soak-{index}-r{events['worker_exits_unexpected']}")
        if time.monotonic() >= next_kill:
            busy = [i for i, p in enumerate(pool) if benchmark_children(p.pid)]
            if busy:
                index = rng.choice(busy)
                kill_hard(pool[index])
                events["worker_sigkill"] += 1
                pool[index] = rig.worker(*args, worker_id=f"soak-{index}-k{events['worker_sigkill']}")
            next_kill = time.monotonic() + rng.expovariate(1 / kill_every_s)
        if all(r.status in SETTLED for r in queue.list_requests()):
            break
    stop_all(pool)
    return events


def figures(
    args: argparse.Namespace,
    rig: Rig,
    expected: dict[str, ErrorKind | None],
    result: Audit,
    events: Counter[str],
    hub_faults_injected: dict[str, int],
    elapsed_s: float,
) -> dict[str, object]:
    """The figures of one run, in print order."""
    requests = {r.request_id: r for r in rig.queue().list_requests()}
    wrong = [
        rid
        for rid, kind in expected.items()
        if rid in requests
        and (requests[rid].status != RequestStatus.FINISHED if kind is None else requests[rid].error_kind != kind)
    ]
    settled = result.statuses.get("FINISHED", 0) + result.statuses.get("FAILED", 0)
    out: dict[str, object] = {
        "backend": args.backend,
        "requests": len(expected),
        "workers": args.workers,
        "seed": args.seed,
        "hostile_requests": sum(kind is not None for kind in expected.values()),
        "faults_worker_sigkill": events["worker_sigkill"],
        "worker_exits_unexpected": events["worker_exits_unexpected"],
    }
    for kind, count in sorted(hub_faults_injected.items()):
        out[f"faults_hub_{kind}"] = count
    out["finished"] = result.statuses.get("FINISHED", 0)
    out["failed"] = result.statuses.get("FAILED", 0)
    for kind, count in sorted(result.failed_by_kind.items()):
        out[f"failed_{kind}"] = count
    out.update(
        unsettled=len(result.unsettled),
        lost=len(result.lost),
        duplicated=len(result.duplicated),
        orphan_results=len(result.orphans),
        results_published=result.results,
        outcome_not_as_expected=len(wrong),
        trap_marker_appeared=(rig.root / "MARKER").exists(),
        elapsed_s=round(elapsed_s, 1),
        requests_per_minute=round(settled / (elapsed_s / 60), 2),
    )
    return out


def run(args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="energy-score-soak-"))
    hub = FakeHub(seed=args.seed) if args.backend == "hub" else None
    if hub is not None:
        hub.start()
    try:
        rig = hub_rig(root, hub) if hub is not None else local_rig(root)
        expected = submit_mix(rig, args.requests, rng)
        if hub is not None:
            hub.faults = hub_faults(args.seed)
            hub.read_lag_s = args.lag_s
        started = time.monotonic()
        events = drive(rig, args.workers, rng, args.lease, args.kill_every, args.limit, args.poll)
        elapsed = time.monotonic() - started
        faults: dict[str, int] = {}
        limits: dict[str, object] = {}
        if hub is not None:
            faults = hub.fault_counts
            hub.faults = FaultPlan()  # the audit reads the end state, not through faults or lag
            hub.read_lag_s = 0.0
            counters = hub.counters()
            limits = {f"hub_limit_hits_{kind}": n for kind, n in sorted(counters.limit_hits.items())}
            requests_repo = rig.stores.requests.location
            limits["hub_max_commits_in_an_hour_requests"] = counters.max_commits_per_window(requests_repo)
            limits["hub_max_api_calls_per_5min"] = counters.max_api_calls_per_window
            limits["hub_max_resolves_per_5min"] = counters.max_resolves_per_window
        return figures(args, rig, expected, audit(rig, expected), events, faults, elapsed) | limits
    finally:
        if hub is not None:
            hub.stop()


def main(argv: Sequence[str] | None = None) -> int:
    # The soak checks the pipeline, not the figures, with several workers on one machine: its workers (which
    # inherit this environment) record foreign load instead of waiting for a quiet machine.
    os.environ.setdefault("ENERGY_SCORE_LOAD_GATE", "record")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=["local", "hub"], default="local")
    parser.add_argument("--lease", type=float, default=20.0, help="lease length of the workers, seconds")
    parser.add_argument("--poll", type=float, default=0.5, help="the workers' poll interval, seconds")
    parser.add_argument("--kill-every", type=float, default=60.0, help="mean seconds between SIGKILLs")
    parser.add_argument("--limit", type=float, default=3600.0, help="give up after this many seconds")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--lag-s", type=float, default=2.0, help="hub backend: seconds heads and resolves lag")
    args = parser.parse_args(argv)
    out = run(args)
    for name, value in out.items():
        print(f"{name}: {value}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    clean = out["lost"] == out["duplicated"] == out["unsettled"] == out["orphan_results"] == 0
    return 0 if clean and not out["trap_marker_appeared"] else 1


if __name__ == "__main__":
    sys.exit(main())
