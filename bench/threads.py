"""Which threads and wait policy hold the CPU figure still beside a busy neighbour? The measurement behind `runtime:`.

Runs `energy-score bench` (a subprocess each time, as a user would) on one demo text classifier, for each runtime
variant (intra-op threads, OpenMP wait policy, pinned cores; written into a copy of the configs), quiet and beside
one process that keeps one core busy (a single-threaded spin loop, stopped when the run ends). The load gate only
records here, so every figure is kept. Prints one line per run and, per variant, `busy_vs_quiet_<variant>:` the
busy figure over the quiet one (goal 0.85-1.15).

    python -m bench.threads [--size small] [--samples 60] [--repetitions 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from leaderboard_data.configs import Pipeline, default_config_dir  # noqa: E402
from runner.zoo import build_model, write_dataset  # noqa: E402

TASK = "text_classification"
CORES = os.cpu_count() or 1
VARIANTS: dict[str, dict[str, object]] = {
    f"threads{CORES}-active": {"threads": CORES, "wait": "active", "cores": CORES},
    f"threads{CORES}-passive": {"threads": CORES, "wait": "passive", "cores": CORES},
    "threads1-passive-unpinned": {"threads": 1, "wait": "passive", "cores": CORES},
    "threads1-passive-pinned1": {"threads": 1, "wait": "passive", "cores": 1},
}


def write_configs(folder: Path, threads: int, wait: str, cores: int) -> Path:
    """A copy of the configs whose text classification runtime is the variant's."""
    shutil.copytree(default_config_dir(), folder)
    path = folder / f"{TASK}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["runtime"] = {
        "intra_op_threads": {"cpu": threads, "cuda": threads},
        "inter_op_threads": {"cpu": threads, "cuda": threads},
        "omp_wait_policy": wait,
        "pinned_cores": {"cpu": cores, "cuda": cores},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return folder


def bench(model: Path, data: Path, configs: Path, out: Path, args: argparse.Namespace, busy: bool) -> dict:
    command = [
        sys.executable, "-m", "runner.cli", "bench", str(model), "--task", TASK, "--dataset", str(data),
        "--samples", str(args.samples), "--repetitions", str(args.repetitions), "--out", str(out),
        "--load-gate", "record", "--added-rounds-budget-s", "0", "--store", f"local:{out.parent / 'store'}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "ENERGY_SCORE_CONFIGS": str(configs)}
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, timeout=600, check=True)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small")
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    pipeline = Pipeline.TEXT_CLASSIFICATION
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_dataset(pipeline, root / "data", args.samples)
        model = build_model(pipeline, root / "model", size=args.size, seed=0)
        ratios = {}
        for name, variant in VARIANTS.items():
            configs = write_configs(root / f"configs-{name}", **variant)  # type: ignore[arg-type]
            figures = {}
            for busy in (False, True):
                record = bench(model, data, configs, root / f"{name}-{busy}.json", args, busy)
                check, runtime = record["load_check"], record["runtime"]
                figures[busy] = record["scored_energy_wh_per_1k"]
                print(
                    f"{name:28} {'busy ' if busy else 'quiet'}  {figures[busy]:.5f} Wh/1k  "
                    f"latency {record['latency_s_mean'] * 1e3:6.2f} ms  own CPU {check['own_cpu_s']:6.2f} s  "
                    f"max foreign share {check['max_foreign_share']:.2f} of {runtime['pinned_cores'] or 'all cores'}  "
                    f"(threads {runtime['intra_op_threads']}, wait {runtime['omp_wait_policy']})",
                    flush=True,
                )
            ratios[name] = figures[True] / figures[False]
    for name, ratio in ratios.items():
        print(f"busy_vs_quiet_{name}: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
