"""The Hub budget of a simulated fleet: commits, API calls and file resolves against the fake Hub.

A discrete-event simulation on an accelerated clock: submitters arrive at `--rate` models an hour (Poisson), their
submissions are gathered per `--window-s` and queued in one commit (`RequestQueue.submit_many`, what the Space's
`SubmissionBatcher` does); `--workers` workers with `--slots` benchmark slots each claim, "benchmark" for about
`--benchmark-min` simulated minutes (no model runs), then finish and claim the next request in one commit and
publish the result. Every queue and publisher call is the real code over a real `HubStore` (one per worker, as
separate processes would have) talking HTTP to `tests/hub_server.py`; only time is simulated.

The fake Hub enforces the real limits on the simulated clock (tests/hub_limits.py) and counts: commits per
repository in any sliding hour, API calls and resolves per 5-minute window (one token for the whole fleet), and
the 429s it answered (`limit_hits`). It behaves as the production Hub does: `--busy-rate` of the commits are
answered 409 "Another commit operation is in progress", heads and resolves of `main` lag `--lag-s` (real)
seconds behind, and `--settled` settled requests are in the archive before the run starts. Submissions spread
over `--tasks` tasks (11, every task, by default).

Production-shape figures: `worker_exits` (a worker action that raised anything but a transient store error),
`cold_space_start_calls` (HTTP calls of a Space starting cold at the end: the results, and the Queue tab's live
queue and summary), `publish_downloads_per_result` (file downloads of the publishes, per result published),
`max_entries_per_folder` (direct entries of the fullest folder of either repository at the end) and
`files_per_repo_after_30_days` (the files of the larger repository, projected from this run's growth per hour).
`lost` and `duplicated` audit the end state. `http_calls_per_poll_at_10k`
measures one worker's poll on a requests repository holding 10,000 settled requests. `max_models_per_hour` is
the highest rate whose amortised costs, as measured in this run, fit every limit (see `--verify-max`).

    .venv/bin/python -m bench.hub_budget --workers 16 --slots 2 --rate 100 --benchmark-min 15 --hours 2

Prints one figure per line as `name: value`.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import random
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.errors import StoreError, TransientStoreError
from leaderboard_data.queue import SETTLED_STATUSES, RequestQueue, Submission, SubmissionQuota, archive_path
from leaderboard_data.rated import load_rated_results
from leaderboard_data.records import (
    EnergyFigure,
    HardwareFingerprint,
    Outputs,
    Request,
    RequestStatus,
    Result,
    StatusChange,
)
from leaderboard_data.results import ResultsPublisher, load_results_frame
from leaderboard_data.stores.hub import HubStore
from tests.hub_limits import HubLimits, SystemClock
from tests.hub_server import FakeHub, FaultPlan

ORG = "budget"
TASK = "text_classification"
SHA = "c" * 40
COMMITS_PER_HOUR_LIMIT = 128
API_PER_5MIN_LIMIT = 1000
RESOLVES_PER_5MIN_LIMIT = 5000
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


class SimClock:
    """The simulated now; the queue reads it for submissions, leases and reaping."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    @property
    def elapsed_s(self) -> float:
        return (self.now - START).total_seconds()


class HubClock:
    """The same simulated time as the fake Hub's clock, so its limits (per hour, per 5 minutes) run on it."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock.elapsed_s

    def sleep(self, seconds: float) -> None:  # the simulation moves time itself, event by event
        return None


@dataclass
class Ledger:
    """Commits seen by the fake Hub per repository and simulated hour (its own counters give sliding hours)."""

    hub: FakeHub
    clock: SimClock
    seen: int = 0
    commits: Counter[tuple[str, int]] = field(default_factory=Counter)  # (repo, hour) -> commits

    def take(self) -> None:
        """Attribute the requests made since the last take to the current simulated hour."""
        log = self.hub.request_log
        fresh, self.seen = log[self.seen :], len(log)
        hour = int(self.clock.elapsed_s // 3600)
        for method, path, status in fresh:
            if method == "POST" and "/commit/" in path and status == 200:
                repo = "requests" if f"/{ORG}/requests/" in path else "results"
                self.commits[(repo, hour)] += 1


def _result(request: Request, rng: random.Random, at: datetime) -> Result:
    energy = rng.uniform(0.5, 5.0)
    figure = EnergyFigure(
        phase="total",
        device="gpu",
        mean_wh_per_1k=energy,
        std_wh_per_1k=energy * 0.02,
        ci95_low_wh_per_1k=energy * 0.97,
        ci95_high_wh_per_1k=energy * 1.03,
        repetitions=3,
        measured=True,
        source="simulated",
    )
    return Result(
        result_id=f"{rng.getrandbits(64):016x}",
        request_id=request.request_id,
        model_id=request.model_id,
        revision=request.revision,
        task=request.task,
        config_version="1.0",
        precision=request.precision,
        device="cuda",
        num_parameters=1_000_000,
        size_class="A",
        hardware=HardwareFingerprint(hardware_class="sim-h100", cpu_model="sim", cpu_count=8, ram_gb=64.0),
        software={"python": "3.11"},
        energy=[figure],
        scored_device="gpu",
        scored_energy_wh_per_1k=energy,
        latency_s_mean=0.01,
        latency_s_p95=0.02,
        throughput_queries_per_s=100.0,
        outputs=Outputs(queries=1000),
        peak_memory_mb=100.0,
        samples=1000,
        repetitions=3,
        started_at=at,
        finished_at=at,
        worker_id=request.lease.worker_id if request.lease else "sim",
    )


@dataclass
class SimWorker:
    """One worker process: its own stores (own caches), queue and publisher, and its benchmark slots."""

    worker_id: str
    queue: RequestQueue
    publisher: ResultsPublisher
    idle: int
    outbox_done: set[str] = field(default_factory=set)
    polling: bool = False


@dataclass
class Fleet:
    hub: FakeHub
    clock: SimClock
    ledger: Ledger
    configs: dict[str, TaskConfig]
    rng: random.Random
    benchmark_s: float
    poll_s: float
    hold_s: float
    events: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    sequence: Any = field(default_factory=itertools.count)
    submitted: set[str] = field(default_factory=set)
    finishes: Counter[str] = field(default_factory=Counter)
    submission_commits: int = 0
    submission_hours: Counter[int] = field(default_factory=Counter)  # hour -> submission commits
    finish_hours: Counter[int] = field(default_factory=Counter)  # hour -> benchmarks finished
    polls: int = 0
    refused: int = 0
    worker_exits: int = 0
    publish_downloads: int = 0
    published: int = 0

    @property
    def hour(self) -> int:
        return int(self.clock.elapsed_s // 3600)

    def at(self, elapsed_s: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.events, (elapsed_s, next(self.sequence), action))

    def run_until(self, end_s: float) -> None:
        """Run events in time order; one the store refuses (a 429 the retries did not outlast) is tried again a
        minute later, as a worker's loop would, and counted."""
        while self.events and self.events[0][0] <= end_s:
            elapsed, _, action = heapq.heappop(self.events)
            self.clock.now = START + timedelta(seconds=elapsed)
            try:
                action()
            except TransientStoreError:
                self.refused += 1
                self.at(elapsed + 60, action)
            except StoreError as exc:  # a worker process would have died of it: counted, tried again
                print(f"worker exit: {exc}", file=sys.stderr)
                self.worker_exits += 1
                self.at(elapsed + 60, action)
            self.ledger.take()

    def hub_store(self, name: str) -> HubStore:
        # A 429's wait is simulated time: the store does not sleep it in real time; an operation it gives up on
        # is tried again by `run_until` a simulated minute later.
        return HubStore(
            f"{ORG}/{name}", endpoint=self.hub.url, token=self.hub.token, create=False, sleep=lambda _: None
        )


def _poll(fleet: Fleet, worker: SimWorker) -> None:
    """A worker with free slots polls, and fills them all in one commit when work waits (`claim_many`)."""
    worker.polling = False
    if worker.idle == 0:
        return
    fleet.polls += 1
    claimed = worker.queue.claim_many(worker.worker_id, worker.idle, clear_outbox=set(worker.outbox_done))
    if claimed:
        worker.outbox_done.clear()
    _start(fleet, worker, claimed)


def _start(fleet: Fleet, worker: SimWorker, claimed: list[Request]) -> None:
    now = fleet.clock.elapsed_s
    worker.idle -= len(claimed)
    for request in claimed:
        duration = fleet.benchmark_s * fleet.rng.uniform(0.8, 1.2)
        beat = worker.queue.lease_for(request.task) / 4
        for k in range(1, int(duration // beat) + 1):  # liveness checks while it runs: reads, not commits
            fleet.at(now + k * beat, lambda r=request: _heartbeat(worker, r))
        fleet.at(now + duration, lambda r=request: _done(fleet, worker, r, None))
    if worker.idle and not worker.polling:
        worker.polling = True
        fleet.at(now + fleet.poll_s * fleet.rng.uniform(0.5, 1.5), lambda: _poll(fleet, worker))


def _done(fleet: Fleet, worker: SimWorker, running: Request, held: tuple[Result, float] | None) -> None:
    """A benchmark ended, as `runner.worker` handles it: the result is held (spooled) until something waits to be
    claimed or `hold_s` passed, then finished with the next claims in one commit and published."""
    now = fleet.clock.elapsed_s
    result, since = held if held is not None else (_result(running, fleet.rng, fleet.clock.now), now)
    if now - since < fleet.hold_s and worker.queue.claimable() == 0:
        retry = now + fleet.poll_s * fleet.rng.uniform(0.5, 1.5)
        fleet.at(retry, lambda: _done(fleet, worker, running, (result, since)))
        return
    clear = set(worker.outbox_done)
    worker.idle += 1
    _, claimed = worker.queue.finish_and_claim(
        running.request_id, worker.worker_id, result, claim_count=worker.idle, clear_outbox=clear
    )
    worker.outbox_done -= clear
    fleet.finishes[running.request_id] += 1
    fleet.finish_hours[fleet.hour] += 1
    mark = len(fleet.hub.request_log)
    fleet.published += len(worker.publisher.publish_pending(clear_outbox=False))
    fleet.publish_downloads += sum(1 for _, path, _ in fleet.hub.request_log[mark:] if "/resolve/" in path)
    worker.outbox_done.update(worker.publisher.settled_outbox)
    _start(fleet, worker, claimed)


def _heartbeat(worker: SimWorker, request: Request) -> None:
    worker.queue.heartbeat(request.request_id, worker.worker_id)


def _submissions(
    fleet: Fleet, rate_per_h: float, window_s: float, end_s: float, submitters: int, tasks: list[str]
) -> None:
    """Poisson arrivals; the first of a window opens it, its close queues the whole window in one commit."""
    queue = RequestQueue(fleet.hub_store("requests"), fleet.configs, quota=SubmissionQuota(max_requests=10_000))
    counter = itertools.count()
    window: list[Submission] = []

    def close() -> None:
        batch = list(window)
        window.clear()
        outcomes = queue.submit_many(batch)
        fleet.submission_commits += 1
        fleet.submission_hours[fleet.hour] += 1
        fleet.submitted.update(o.request_id for o in outcomes if isinstance(o, Request))

    def arrive() -> None:
        index = next(counter)
        if not window:
            fleet.at(fleet.clock.elapsed_s + window_s, close)
        submitter = f"user-{fleet.rng.randrange(submitters)}"
        task = tasks[index % len(tasks)]
        window.append(Submission(f"sim/model-{index:05d}", task, SHA, "float16", submitter))
        following = fleet.clock.elapsed_s + fleet.rng.expovariate(rate_per_h / 3600)
        if following < end_s:
            fleet.at(following, arrive)

    fleet.at(fleet.rng.expovariate(rate_per_h / 3600), arrive)


def simulate(args: argparse.Namespace, rate: float, workers: int) -> dict[str, float]:
    """One simulated run; returns its figures."""
    configs = load_task_configs()
    clock = SimClock()
    # The real limits, enforced on the simulated clock; the lag runs on real time, because the simulated clock
    # stands still while an operation retries (on the Hub, a writer's retries outlast the lag).
    with FakeHub(seed=args.seed, limits=HubLimits(), clock=HubClock(clock), lag_clock=SystemClock()) as hub:
        hub.create_repo(f"{ORG}/requests")
        hub.create_repo(f"{ORG}/results")
        if args.settled:
            hub.upload_files(f"{ORG}/requests", _history(args.settled), message=f"{args.settled} settled requests")
        seeded = {repo: len(hub.list_files(f"{ORG}/{repo}")) for repo in ("requests", "results")}
        hub.faults = FaultPlan(busy_rate=args.busy_rate, endpoints=frozenset({"commit"}), seed=args.seed)
        hub.read_lag_s = args.lag_s
        fleet = Fleet(
            hub,
            clock,
            Ledger(hub, clock),
            configs,
            random.Random(args.seed),
            args.benchmark_min * 60,
            args.poll_s,
            args.hold_s,
        )
        end_s = args.hours * 3600
        tasks = sorted(configs)[: args.tasks]
        _submissions(fleet, rate, args.window_s, end_s, args.submitters, tasks)
        for index in range(workers):
            requests_store, results_store = fleet.hub_store("requests"), fleet.hub_store("results")
            worker = SimWorker(
                f"sim-worker-{index:02d}",
                RequestQueue(requests_store, configs, clock=clock),
                ResultsPublisher(requests_store, results_store, configs),
                idle=args.slots,
            )
            worker.polling = True
            fleet.at(fleet.rng.uniform(0, args.poll_s), lambda w=worker: _poll(fleet, w))
        fleet.run_until(end_s)
        fleet.ledger.take()
        hub.faults = FaultPlan()
        figures = _figures(fleet, args, rate, workers)
        figures.update(_production_shape(fleet, seeded, args.hours))
        return figures


def _final_requests(hub: FakeHub) -> dict[str, Request]:
    """Every request at the end, read from the fake Hub's own state: the audit is not traffic, and reading
    thousands of settled requests over HTTP would spend the rate limits the run is measured against."""
    repo = f"{ORG}/requests"
    requests = [
        Request.from_json(hub.read_file(repo, path), path)
        for path in hub.list_files(repo)
        if path.startswith(("requests/", "archive/")) and path.endswith(".json")
    ]
    return {r.request_id: r for r in sorted(requests, key=lambda r: r.status not in SETTLED_STATUSES)}  # live wins


def _history(count: int) -> dict[str, bytes]:
    """`count` settled requests of long ago, at their archive paths."""
    at = START - timedelta(days=40)
    files = {}
    for index in range(count):
        request = Request(
            request_id=f"{index:016x}",
            model_id=f"old/model-{index}",
            revision=SHA,
            task=TASK,
            precision="float16",
            submitter="history",
            submitted_at=at,
            status=RequestStatus.CANCELLED,
            updated_at=at,
            history=[StatusChange(at=at, status=RequestStatus.CANCELLED, note="cancelled")],
        )
        files[archive_path(request)] = request.to_json().encode()
    return files


def _production_shape(fleet: Fleet, seeded: dict[str, int], hours: float) -> dict[str, float]:
    """The figures of the production shape (module docstring), read from the fake Hub at the end of the run."""
    hub = fleet.hub
    mark = len(hub.request_log)
    load_rated_results(fleet.hub_store("results"), fleet.configs)
    space_queue = RequestQueue(fleet.hub_store("requests"), fleet.configs)
    space_queue.list_requests(include_settled=False)
    space_queue.recent_settled()
    cold_calls = len(hub.request_log) - mark
    entries = 0
    growth = 0.0
    for repo in ("requests", "results"):
        files = hub.list_files(f"{ORG}/{repo}")
        direct: Counter[str] = Counter()  # folder -> its direct entries (files and folders)
        seen: set[str] = set()
        for path in files:
            parts = path.split("/")
            for depth in range(1, len(parts) + 1):
                entry = "/".join(parts[:depth])
                if entry not in seen:
                    seen.add(entry)
                    direct["/".join(parts[: depth - 1])] += 1
        entries = max(entries, max(direct.values(), default=0))
        growth = max(growth, seeded[repo] + (len(files) - seeded[repo]) / hours * 24 * 30)
    return {
        "worker_exits": fleet.worker_exits,
        "cold_space_start_calls": cold_calls,
        "publish_downloads_per_result": fleet.publish_downloads / max(fleet.published, 1),
        "max_entries_per_folder": entries,
        "files_per_repo_after_30_days": growth,
        "racing_409s": hub.fault_counts.get("busy", 0) + hub.racing_commits_refused,
    }


def _figures(fleet: Fleet, args: argparse.Namespace, rate: float, workers: int) -> dict[str, float]:
    ledger, hours = fleet.ledger, args.hours
    requests_commits = sum(n for (repo, _), n in ledger.commits.items() if repo == "requests")
    results_commits = sum(n for (repo, _), n in ledger.commits.items() if repo == "results")
    benchmarked = len(fleet.finishes)
    final = _final_requests(fleet.hub)
    lost = len(fleet.submitted - final.keys())
    frame = load_results_frame(fleet.hub_store("results"))
    published = Counter(frame["request_id"].tolist()) if not frame.empty else Counter()
    finished_twice = sum(
        1 for r in final.values() if sum(1 for h in r.history if h.status == RequestStatus.FINISHED) > 1
    )
    duplicated = sum(n - 1 for n in published.values() if n > 1) + finished_twice
    worst_hour_requests = max((n for (repo, _), n in ledger.commits.items() if repo == "requests"), default=0)
    worst_hour_results = max((n for (repo, _), n in ledger.commits.items() if repo == "results"), default=0)
    counters = fleet.hub.counters()  # the fake Hub's own counts, on the simulated clock
    kinds = Counter(title.split(" ")[0].lower() for title, _ in fleet.hub.commit_messages(f"{ORG}/requests"))
    unpublished = sum(1 for r in final.values() if r.status == RequestStatus.FINISHED) - len(published)
    last = max(math.ceil(hours) - 1, 0)  # the last hour: the fleet is warm, every slot has claimed once
    last_finished = max(fleet.finish_hours[last], 1)
    return {
        "last_hour_finished": fleet.finish_hours[last],
        "last_hour_commits_per_model_requests": ledger.commits[("requests", last)] / last_finished,
        "last_hour_commits_per_model_results": ledger.commits[("results", last)] / last_finished,
        "last_hour_queue_commits_per_model": (ledger.commits[("requests", last)] - fleet.submission_hours[last])
        / last_finished,
        "rate": rate,
        "workers": workers,
        "submitted": len(fleet.submitted),
        "benchmarked": benchmarked,
        "requests_commits": requests_commits,
        "results_commits": results_commits,
        "submission_commits": fleet.submission_commits,
        "commits_per_hour_requests": requests_commits / hours,
        "commits_per_hour_results": results_commits / hours,
        "worst_hour_requests": worst_hour_requests,
        "worst_hour_results": worst_hour_results,
        "sliding_hour_max_requests": counters.max_commits_per_window(f"{ORG}/requests"),
        "sliding_hour_max_results": counters.max_commits_per_window(f"{ORG}/results"),
        "api_calls_per_5min_max": counters.max_api_calls_per_window,
        "resolves_per_5min_max": counters.max_resolves_per_window,
        "limit_hits": counters.total_limit_hits,
        "refused_operations": fleet.refused,
        "requests_commit_kinds": ", ".join(f"{k} {n}" for k, n in kinds.most_common()),
        "lost": lost + max(0, unpublished),
        "duplicated": duplicated,
        "polls": fleet.polls,
    }


def poll_cost_at(history: int, seed: int) -> tuple[int, int]:
    """HTTP calls of one worker poll over `history` settled requests: (nothing changed, one file changed)."""
    configs = load_task_configs()
    with FakeHub(seed=seed) as hub:
        hub.create_repo(f"{ORG}/requests")
        hub.upload_files(f"{ORG}/requests", _history(history))
        store = HubStore(f"{ORG}/requests", endpoint=hub.url, token=hub.token, create=False)
        submitter = RequestQueue(HubStore(f"{ORG}/requests", endpoint=hub.url, token=hub.token, create=False), configs)
        waiting = submitter.submit("org/waiting", task=TASK, revision=SHA, precision="float16", submitter="bob")
        worker = RequestQueue(store, configs)
        worker.claim("w1", tasks={"summarization"})  # a worker that has polled before
        mark = len(hub.request_log)
        worker.claim("w1", tasks={"summarization"})
        unchanged = len(hub.request_log) - mark
        submitter.cancel(waiting.request_id, "bob")
        submitter.submit("org/another", task=TASK, revision=SHA, precision="float16", submitter="bob")
        mark = len(hub.request_log)
        worker.claim("w1", tasks={"summarization"})
        changed = len(hub.request_log) - mark
        return unchanged, changed


def max_rate(figures: dict[str, float], args: argparse.Namespace) -> float:
    """The highest rate whose costs, scaled from this run's amortised ones, fit every limit.

    Per model: requests commits (submissions aside) and results commits as measured over the last, warm hour;
    per hour: one submission commit per window at most; reads scaled from the busiest 5-minute windows; 10 %
    of every commit limit kept as headroom for the spread of arrivals. The binding limit is the requests
    repository's commits.
    """
    hours = args.hours
    per_model_requests = figures["last_hour_queue_commits_per_model"]
    per_model_results = figures["last_hour_commits_per_model_results"]
    submissions_per_hour = 3600 / args.window_s
    usable = COMMITS_PER_HOUR_LIMIT * 0.9  # headroom for the hour-to-hour spread of arrivals
    by_requests = (usable - submissions_per_hour) / max(per_model_requests, 1e-9)
    by_results = usable / max(per_model_results, 1e-9)
    rate = figures["benchmarked"] / hours
    api_headroom = API_PER_5MIN_LIMIT / max(figures["api_calls_per_5min_max"], 1)
    resolve_headroom = RESOLVES_PER_5MIN_LIMIT / max(figures["resolves_per_5min_max"], 1)
    by_reads = rate * min(api_headroom, resolve_headroom)
    return math.floor(min(by_requests, by_results, by_reads))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--slots", type=int, default=2, help="benchmarks each worker runs at once (GPUs per node)")
    parser.add_argument("--rate", type=float, default=100.0, help="submitted models per hour")
    parser.add_argument("--benchmark-min", type=float, default=15.0)
    parser.add_argument("--hours", type=float, default=2.0, help="simulated hours")
    parser.add_argument("--window-s", type=float, default=600.0, help="submission window (the Space's default)")
    parser.add_argument("--poll-s", type=float, default=60.0, help="an idle slot's poll interval")
    parser.add_argument("--hold-s", type=float, default=600.0, help="how long a result waits for a claim to share")
    parser.add_argument("--submitters", type=int, default=40)
    parser.add_argument("--history", type=int, default=10_000, help="settled requests for the poll-cost figure")
    parser.add_argument("--verify-max", action="store_true", help="rerun at the max rate with a fleet that keeps up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", type=int, default=11, help="tasks the submissions spread over (11: all)")
    parser.add_argument("--busy-rate", type=float, default=0.05, help="share of commits answered 409")
    parser.add_argument("--lag-s", type=float, default=0.5, help="real seconds heads and resolves lag behind")
    parser.add_argument("--settled", type=int, default=100_000, help="settled requests present before the run")
    args = parser.parse_args(argv)

    capacity = args.workers * args.slots * 60 / args.benchmark_min
    figures = simulate(args, args.rate, args.workers)
    unchanged, changed = poll_cost_at(args.history, args.seed)
    best = max_rate(figures, args)
    lines = {
        "fleet": f"{args.workers} workers x {args.slots} slots, capacity {capacity:.0f} models/h",
        "submitted_models": int(figures["submitted"]),
        "benchmarked_models": int(figures["benchmarked"]),
        "commits_per_hour_requests": f"{figures['commits_per_hour_requests']:.1f}",
        "commits_per_hour_results": f"{figures['commits_per_hour_results']:.1f}",
        "max_commits_in_any_hour_requests": int(figures["sliding_hour_max_requests"]),
        "max_commits_in_any_hour_results": int(figures["sliding_hour_max_results"]),
        "commits_per_model_requests": f"{figures['requests_commits'] / max(figures['benchmarked'], 1):.3f}",
        "commits_per_model_results": f"{figures['results_commits'] / max(figures['benchmarked'], 1):.3f}",
        "last_hour_models_finished": int(figures["last_hour_finished"]),
        "last_hour_commits_per_model_requests": f"{figures['last_hour_commits_per_model_requests']:.3f}",
        "last_hour_commits_per_model_results": f"{figures['last_hour_commits_per_model_results']:.3f}",
        "submission_commits": int(figures["submission_commits"]),
        "api_calls_per_5min_max": int(figures["api_calls_per_5min_max"]),
        "resolves_per_5min_max": int(figures["resolves_per_5min_max"]),
        "limit_hits": int(figures["limit_hits"]),
        "operations_refused_then_retried": int(figures["refused_operations"]),
        "requests_commits_by_kind": figures["requests_commit_kinds"],
        "lost": int(figures["lost"]),
        "duplicated": int(figures["duplicated"]),
        "worker_exits": int(figures["worker_exits"]),
        "injected_409s": int(figures["racing_409s"]),
        "cold_space_start_calls": int(figures["cold_space_start_calls"]),
        "publish_downloads_per_result": f"{figures['publish_downloads_per_result']:.2f}",
        "max_entries_per_folder": int(figures["max_entries_per_folder"]),
        "files_per_repo_after_30_days": int(figures["files_per_repo_after_30_days"]),
        "http_calls_per_poll_at_10k": unchanged,
        "http_calls_per_poll_at_10k_after_a_change": changed,
        "max_models_per_hour": best,
    }
    if args.verify_max:
        keep_up = math.ceil(best * args.benchmark_min / 60 / args.slots * 1.15)
        check = simulate(args, best, keep_up)
        lines["max_rate_verified_with_workers"] = keep_up
        lines["max_rate_max_commits_in_any_hour_requests"] = int(check["sliding_hour_max_requests"])
        lines["max_rate_limit_hits"] = int(check["limit_hits"])
        lines["max_rate_lost"] = int(check["lost"])
        lines["max_rate_duplicated"] = int(check["duplicated"])
    for name, value in lines.items():
        print(f"{name}: {value}")
    ok = figures["limit_hits"] == 0 and figures["lost"] == 0 and figures["duplicated"] == 0
    ok = ok and figures["worker_exits"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
