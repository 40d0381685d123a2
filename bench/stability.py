"""Does the CPU figure hold still? `energy-score bench` on one demo model, quiet and beside a busy neighbour.

Runs `energy-score bench` (a subprocess each time, as a user would) on one demo text classifier `--runs` times;
the last `--busy-runs` of them beside `--busy-cores` single-threaded spin loops (default 1: one busy neighbour, as
on a laptop; the benchmark runs on its config's fixed threads, pinned to its own core). A busy run must either
score within 0.85-1.15 of the quiet runs, or be flagged as contaminated and not published (the command exits
non-zero with the reason, and `--out` records it). Then the demo's identical-architecture pairs
(bert-classifier-SIZE-0 and -1: same config, different random weights) are benchmarked and rated together by
quintile with the leaderboard's tie rule (overlapping intervals share stars), as the leaderboard rates a cohort:
a pair should get the same stars. Prints:

    cv_across_runs: CV of the scored figure over the published runs (goal <= 0.10)
    busy_vs_quiet_ratio: mean published busy / mean quiet (goal 0.85-1.15; n/a when no busy run was published)
    busy_runs_flagged: n/2 (busy runs refused as machine_busy)
    half_width_within_run_max: the largest relative half-width of a run's scored mean (its 95 % interval)
    identical_pairs_same_stars: n/m (m: pairs whose two results are both rated, neither failed nor unstable)

Small sizes check the script; the recorded run uses the defaults on a quiet machine:

    python bench/stability.py --samples 8 --repetitions 2 --min-window-s 0.2 --pair-sizes tiny --quiet-wait-s 5
    python bench/stability.py --record bench/results/stability-DATE.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from leaderboard_data.configs import Pipeline  # noqa: E402
from leaderboard_data.ratings import RatedFigure, quintile_cuts, stars_from_cuts  # noqa: E402
from runner.zoo import build_model, write_dataset  # noqa: E402

TASK = "text_classification"


@dataclass
class Run:
    """One `energy-score bench` run: its exit code, and what its `--out` file recorded."""

    label: str
    busy: bool
    exit_code: int
    published: bool
    scored_wh_per_1k: float | None
    half_width: float | None
    unstable: bool
    error_kind: str | None
    reason: str | None
    wall_s: float
    scored_ci95_wh_per_1k: tuple[float, float] | None = None

    @property
    def rated_figure(self) -> RatedFigure | None:
        """The scored figure and its interval when the leaderboard would give it stars, else None."""
        rated = self.rated_wh_per_1k
        interval = self.scored_ci95_wh_per_1k or (None, None)
        return None if rated is None else RatedFigure.of(rated, *interval)

    @property
    def rated_wh_per_1k(self) -> float | None:
        """The scored figure when the leaderboard would give it stars (published, not unstable), else None."""
        return None if self.unstable else self.scored_wh_per_1k

    @property
    def outcome(self) -> str:
        """What became of the run: the refusal's reason, or published (with no stars when unstable)."""
        return self.reason or ("published, unstable (no stars)" if self.unstable else "published")


def start_burners(count: int) -> list[int]:
    """`count` processes spinning on the CPU; returns their ids (this script started them, it stops them)."""
    code = "while True: pass"
    return [subprocess.Popen([sys.executable, "-c", code]).pid for _ in range(count)]


def stop(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def bench(model: Path, data: Path, out: Path, args: argparse.Namespace, label: str, busy: bool) -> Run:
    command = [
        sys.executable, "-m", "runner.cli", "bench", str(model), "--task", TASK, "--dataset", str(data),
        "--samples", str(args.samples), "--repetitions", str(args.repetitions), "--out", str(out),
        "--load-gate", args.load_gate, "--quiet-wait-s", str(args.quiet_wait_s),
        "--added-rounds-budget-s", str(args.added_budget_s), "--store", f"local:{out.parent / 'store'}",
    ]  # fmt: skip
    if args.min_window_s is not None:
        command += ["--min-window-s", str(args.min_window_s)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    burners = start_burners(args.busy_cores) if busy else []
    started = time.monotonic()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    finally:
        stop(burners)
    wall = time.monotonic() - started
    record = json.loads(out.read_text()) if out.exists() else {}
    if done.returncode == 0:
        scored = next(f for f in record["energy"] if f["phase"] == "total" and f["device"] == record["scored_device"])
        return Run(label, busy, 0, True, record["scored_energy_wh_per_1k"], record.get("relative_half_width"),
                   bool(record.get("unstable")), None, None, wall,
                   (scored["ci95_low_wh_per_1k"], scored["ci95_high_wh_per_1k"]))  # fmt: skip
    reason = record.get("error_message") or done.stderr.strip().splitlines()[-1:] or ["no output"]
    return Run(label, busy, done.returncode, False, None, None, False, record.get("error_kind"),
               reason if isinstance(reason, str) else reason[0], wall)  # fmt: skip


def cv(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)) / mean


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small", help="demo classifier size for the repeated runs")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--busy-runs", type=int, default=2)
    parser.add_argument("--busy-cores", type=int, default=1, help="spin loops beside a busy run (one core each)")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-window-s", type=float, help="default: the config's")
    parser.add_argument("--pair-sizes", default="tiny,small,medium", help="identical-architecture pairs to rate")
    parser.add_argument("--load-gate", choices=["gate", "record"], default="gate")
    parser.add_argument("--quiet-wait-s", type=float, default=60.0, help="how long a run waits for quiet")
    parser.add_argument(
        "--added-budget-s", type=float, default=60.0, help="time for rounds added while the mean is imprecise"
    )
    parser.add_argument("--record", type=Path, help="write every run and the summary as JSON here")
    args = parser.parse_args()

    pipeline = Pipeline.TEXT_CLASSIFICATION
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_dataset(pipeline, root / "data", 64)
        model = build_model(pipeline, root / f"bert-classifier-{args.size}-0", size=args.size, seed=0)
        for i in range(args.runs):
            busy = i >= args.runs - args.busy_runs
            run = bench(model, data, root / f"run-{i}.json", args, f"{args.size}-0 run {i + 1}", busy)
            runs.append(run)
            print(f"{run.label}{' (busy)' if busy else ''}: exit {run.exit_code}, "
                  f"{fmt(run.scored_wh_per_1k, '.5g')} Wh/1k, half-width {fmt(run.half_width, '.1%')}, "
                  f"{run.outcome} [{run.wall_s:.0f} s]", flush=True)  # fmt: skip
        pairs: dict[str, list[Run]] = {}
        for size in [s for s in args.pair_sizes.split(",") if s]:
            for seed in (0, 1):
                folder = build_model(pipeline, root / f"bert-classifier-{size}-{seed}", size=size, seed=seed)
                run = bench(folder, data, root / f"pair-{size}-{seed}.json", args, f"{size}-{seed}", False)
                pairs.setdefault(size, []).append(run)
                print(f"pair {run.label}: {fmt(run.scored_wh_per_1k, '.5g')} Wh/1k, {run.outcome}",
                      flush=True)  # fmt: skip

    quiet = [r.scored_wh_per_1k for r in runs if not r.busy and r.scored_wh_per_1k is not None]
    busy_published = [r.scored_wh_per_1k for r in runs if r.busy and r.scored_wh_per_1k is not None]
    published = quiet + busy_published
    ratio = (
        (math.fsum(busy_published) / len(busy_published)) / (math.fsum(quiet) / len(quiet))
        if quiet and busy_published
        else None
    )
    flagged = sum(1 for r in runs if r.busy and r.error_kind == "machine_busy")
    within = [r.half_width for r in runs + [p for ps in pairs.values() for p in ps] if r.half_width is not None]
    rated = {size: [p.rated_figure for p in ps] for size, ps in pairs.items()}
    cuts = quintile_cuts([f for fs in rated.values() for f in fs if f is not None])
    # As on the leaderboard: an unstable result is shown without stars, so only pairs of two rated results count.
    complete = {size: [f for f in fs if f is not None] for size, fs in rated.items() if None not in fs}
    same = sum(1 for fs in complete.values() if len({stars_from_cuts(f.energy_wh_per_1k, cuts) for f in fs}) == 1)
    summary = {
        "cv_across_runs": cv(published),
        "busy_vs_quiet_ratio": ratio,
        "busy_runs_flagged": f"{flagged}/{args.busy_runs}",
        "half_width_within_run_max": max(within) if within else None,
        "identical_pairs_same_stars": f"{same}/{len(complete)}",
        "pairs_not_rated": len(pairs) - len(complete),
    }
    print(f"cv_across_runs: {fmt(summary['cv_across_runs'])}")  # type: ignore[arg-type]
    print(f"busy_vs_quiet_ratio: {fmt(ratio)}")
    print(f"busy_runs_flagged: {summary['busy_runs_flagged']}")
    print(f"half_width_within_run_max: {fmt(summary['half_width_within_run_max'])}")  # type: ignore[arg-type]
    unrated = summary["pairs_not_rated"]
    note = f" ({unrated} pair(s) not rated: a run failed or was unstable)" if unrated else ""
    print(f"identical_pairs_same_stars: {summary['identical_pairs_same_stars']}{note}")
    if args.record:
        record = {
            "command": " ".join(sys.argv),
            "settings": vars(args) | {"record": str(args.record)},
            "cpu_count": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
            "runs": [asdict(r) for r in runs],
            "pairs": {size: [asdict(p) for p in ps] for size, ps in pairs.items()},
            "summary": summary,
        }
        args.record.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
