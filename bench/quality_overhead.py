"""What scoring quality adds to a demo benchmark's wall time.

The same demo benchmark (a tiny model, the demo's generated data, the demo's 12 samples x 3 repetitions) runs
with and without quality scoring, in alternating rounds so both see the same machine; each side's best round is
compared (the least disturbed by other processes, as timeit does). Scoring sits after the measured windows, so
only the benchmark's wall time can grow, never its energy figures. The last line is `ratio: X.XXX`, the wall time
with scoring over the time without (target <= 1.05).

    python bench/quality_overhead.py [--pipeline text_classification] [--samples 12] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leaderboard_data.configs import Pipeline, load_task_configs
from runner.engine import BenchmarkSpec, run_benchmark
from runner.zoo import build_model, write_dataset


def timed_run(spec: BenchmarkSpec) -> float:
    start = time.perf_counter()
    run_benchmark(spec)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="text_classification")
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("ENERGY_SCORE_LOAD_GATE", "record")  # as the demo: a shared machine is never quiet
    config = load_task_configs()[args.task]
    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(Pipeline(config.pipeline), Path(tmp) / "model", size="tiny")
        data = write_dataset(config.pipeline, Path(tmp) / "data", 1000)
        spec = BenchmarkSpec(
            model_id="demo/model",
            model_dir=model,
            revision="demo",
            task_config=config,
            samples=args.samples,
            repetitions=args.repetitions,
            dataset_path=str(data),
        )
        timed_run(spec)  # first run: caches, imports and the dataset's arrow copy, on neither side
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.rounds):
            for scoring in (False, True):
                spec.score_quality = scoring
                times[scoring].append(timed_run(spec))
    without, with_scoring = min(times[False]), min(times[True])
    print(f"task: {args.task}")
    print(f"samples: {args.samples} x {args.repetitions} repetitions, {args.rounds} rounds per side")
    print(f"without_scoring_s: {without:.3f} (rounds: {', '.join(f'{t:.3f}' for t in times[False])})")
    print(f"with_scoring_s: {with_scoring:.3f} (rounds: {', '.join(f'{t:.3f}' for t in times[True])})")
    print(f"ratio: {with_scoring / without:.3f}")


if __name__ == "__main__":
    main()
