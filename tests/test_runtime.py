"""The benchmark's threads, wait policy and cores (`runtime:` of each config), on real benchmarks beside a real busy
process: torch's default threads spin-wait and burn CPU beside a neighbour; the protocol's runtime does not, is
applied in the benchmark process before torch starts, is recorded, and the pinned cores are what the load gate
judges (load on them is still caught)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from leaderboard_data.configs import CountPerDevice, Pipeline, RuntimeSettings, get_task_config
from leaderboard_data.records import ErrorKind, Result
from runner.engine import BenchmarkSpec
from runner.errors import BenchmarkFailure
from runner.isolation import run_isolated
from runner.runtime import thread_env
from runner.zoo import build_model, write_dataset
from tests import helpers_engine as h

SPIN_LIMIT_S = 300
"""A spinner stops on its own after this long, even if the test that started it was killed."""

CORES = sorted(os.sched_getaffinity(0))
needs_two_cores = pytest.mark.skipif(len(CORES) < 2, reason="needs two cores: one for the benchmark, one busy")


@contextmanager
def spinners(cores: list[int | None]) -> Iterator[None]:
    """One single-threaded spin loop per entry, pinned to that core (None: wherever the scheduler puts it)."""
    code = (
        "import os, sys, time\n"
        "core = sys.argv[1]\n"
        "if core != 'any': os.sched_setaffinity(0, {int(core)})\n"
        f"end = time.monotonic() + {SPIN_LIMIT_S}\n"
        "while time.monotonic() < end: pass\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, "any" if c is None else str(c)]) for c in cores]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A demo text classifier (a real BERT, scaled down) and its dataset."""
    root = tmp_path_factory.mktemp("bert")
    pipeline = Pipeline.TEXT_CLASSIFICATION
    return build_model(pipeline, root / "model", size="small"), write_dataset(pipeline, root / "data", 12)


def bert_spec(bert: tuple[Path, Path], runtime: RuntimeSettings) -> BenchmarkSpec:
    config = get_task_config("text_classification").model_copy(update={"runtime": runtime})
    return BenchmarkSpec(
        model_id="demo/bert-classifier-small", model_dir=bert[0], revision="local", task_config=config,
        samples=12, repetitions=2, dataset_path=str(bert[1]), min_window_s=0.5, load_gate="record",
        added_rounds_budget_s=0.0,
    )  # fmt: skip


def torch_defaults() -> RuntimeSettings:
    """What a process gets without the protocol: a thread per core, threads spinning while they wait."""
    every_core = CountPerDevice(cpu=len(CORES), cuda=len(CORES))
    return RuntimeSettings(
        intra_op_threads=every_core, inter_op_threads=every_core, omp_wait_policy="active", pinned_cores=every_core
    )


@needs_two_cores
def test_beside_a_busy_core_default_threads_burn_cpu_and_the_protocols_runtime_does_not(
    bert: tuple[Path, Path],
) -> None:
    """The finding: beside one process that keeps a core busy, OpenMP threads spin-wait for each other and the
    CPU figure (process CPU time) grows many-fold for the same work. The protocol's runtime (one thread, passive
    wait, pinned) is applied in the benchmark's own process and recorded."""
    with spinners([None]):
        default = run_isolated(bert_spec(bert, torch_defaults()), timeout_s=600)
        fixed = run_isolated(bert_spec(bert, RuntimeSettings()), timeout_s=600)
    assert default.runtime is not None and fixed.runtime is not None
    assert (default.runtime.intra_op_threads, default.runtime.omp_wait_policy) == (len(CORES), "active")
    assert (fixed.runtime.intra_op_threads, fixed.runtime.inter_op_threads) == (1, 1)
    assert fixed.runtime.omp_wait_policy == "passive"
    assert fixed.runtime.pinned_cores is not None and len(fixed.runtime.pinned_cores) == 1
    assert fixed.runtime.pinned_cores[0] in CORES
    assert default.scored_energy_wh_per_1k > 2 * fixed.scored_energy_wh_per_1k
    assert own_cpu_per_window_s(default) > own_cpu_per_window_s(fixed)


def own_cpu_per_window_s(result: Result) -> float:
    assert result.load_check is not None
    return float(result.load_check["own_cpu_s"]) / float(result.load_check["window_s"])


@needs_two_cores
def test_load_on_the_benchmarks_own_cores_is_still_caught(tmp_path: Path) -> None:
    """Pinned and judged by its own cores, the gate stays honest: with every core busy the benchmark's core is
    contended, and the run fails as machine_busy instead of publishing a slowed figure."""
    spec = BenchmarkSpec(
        model_id="tests/mlp", model_dir=h.build_mlp(tmp_path / "mlp"), revision="0" * 40,
        task_config=h.task_config(), dataset_path=str(h.write_samples(tmp_path / "data")), load_gate="gate",
        quiet_wait_s=1.0,
    )  # fmt: skip
    with spinners(list(CORES)), pytest.raises(BenchmarkFailure) as failure:
        run_isolated(spec, timeout_s=300, task_class=h.MlpTask)
    assert failure.value.kind == ErrorKind.MACHINE_BUSY
    assert "core" in failure.value.message and "python" in failure.value.message


def test_the_thread_environment_is_the_configs() -> None:
    env = thread_env(
        RuntimeSettings(intra_op_threads=CountPerDevice(cpu=1, cuda=4), pinned_cores=CountPerDevice(cpu=1, cuda=4)),
        "cuda",
    )
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "4"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    with pytest.raises(ValueError, match=r"pinned_cores\.cpu must be at least intra_op_threads\.cpu"):
        RuntimeSettings(intra_op_threads=CountPerDevice(cpu=2, cuda=1), pinned_cores=CountPerDevice(cpu=1, cuda=1))
