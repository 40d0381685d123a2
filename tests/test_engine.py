"""The engine end to end on CPU with real tiny torch models: every figure, the sum-of-phases invariant, the
two ways of splitting prefill from decode, and failure classification."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from leaderboard_data.records import ErrorKind, Result
from runner.engine import DECODE_DIRECT, DECODE_SUBTRACTED, BenchmarkSpec, classify_exception, run_benchmark
from runner.errors import BenchmarkFailure
from runner.meters import EnergyMeter, NullMeter, detect_meters
from tests import helpers_engine as h
from tests.helpers_meters import FakeCounter


class ConstantPowerMeter(FakeCounter):
    """A "measured" CPU counter at constant power per CPU-second of this process (as a per-process counter would
    read: other processes' work does not move it), whose resolution is too coarse for per-query phases."""

    source = "fake_counter"
    sample_period_s = 0.05

    def __init__(self, watts: float = 50.0, resolution_s: float = 10.0) -> None:
        super().__init__()
        self.watts, self.resolution, self.t0 = watts, resolution_s, 0.0

    def _open(self) -> None:
        self.t0 = time.process_time()

    def _read(self) -> dict[str, float]:
        return {"cpu": self.watts * (time.process_time() - self.t0)}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("engine")
    return {
        "data": h.write_samples(root / "data"),
        "mlp": h.build_mlp(root / "mlp"),
        "lm": h.build_tiny_lm(root / "lm"),
    }


def spec_for(folders: dict[str, Path], kind: str = "mlp", **overrides: Any) -> BenchmarkSpec:
    pipeline = "text_classification" if kind == "mlp" else "text_generation"
    fields: dict[str, Any] = {
        "model_id": f"tests/{kind}",
        "model_dir": folders[kind],
        "revision": "0" * 40,
        "task_config": h.task_config(pipeline),
        "dataset_path": str(folders["data"]),
        "worker_id": "test-worker",
    }
    fields.update(overrides)
    return BenchmarkSpec(**fields)


@pytest.fixture(scope="module")
def mlp_result(folders: dict[str, Path]) -> Result:
    return run_benchmark(spec_for(folders, min_window_s=0.2), task_class=h.MlpTask)


@pytest.fixture(scope="module")
def lm_result(folders: dict[str, Path]) -> Result:
    # 0.3 s windows: codecarbon's process tracking counts CPU time in 10 ms ticks, so each window gets a few.
    return run_benchmark(spec_for(folders, "lm", request_id="req0000001", min_window_s=0.3), task_class=h.TinyLmTask)


def _sum_of_phases(result: Result, device: str, phases: tuple[str, ...]) -> None:
    parts = [result.figure(p, device) for p in phases]
    total = result.figure("total", device)
    assert total is not None and all(p is not None for p in parts)
    assert math.fsum(p.mean_wh_per_1k for p in parts if p) == pytest.approx(total.mean_wh_per_1k, rel=1e-9)


def test_single_phase_result_has_every_figure(mlp_result: Result) -> None:
    r = mlp_result
    published = {(f.phase, f.device) for f in r.energy}
    missing = {(m.phase, m.device) for m in r.missing_figures}
    # The MLP loads in milliseconds: process CPU time (10 ms ticks) may not move over the load window, and a load
    # figure that reads zero is reported missing with its reason, never a failure.
    assert missing <= {("load", "cpu")} and not published & missing
    assert published | missing == {(p, d) for p in ("load", "preprocess", "forward", "total") for d in ("cpu", "ram")}
    assert all("not a positive energy" in m.reason for m in r.missing_figures)
    for f in r.energy:
        assert f.mean_wh_per_1k > 0 and f.std_wh_per_1k >= 0
        assert f.ci95_low_wh_per_1k <= f.mean_wh_per_1k <= f.ci95_high_wh_per_1k
        assert f.repetitions == (1 if f.phase == "load" else 2)  # two base rounds
        assert f.measured is False  # no RAPL here: codecarbon's model
        assert f.source == {"cpu": "codecarbon_tdp_model", "ram": "codecarbon_ram_model"}[f.device]
        assert f.method == "window"  # load, preprocess, forward and total each have their own window(s)
        if f.device == "ram":  # a constant-power model: no net figure, and the reason is given
            assert (
                f.net_of_idle_mean_wh_per_1k is None and f.net_of_idle_note and "constant-power" in f.net_of_idle_note
            )
        elif f.net_of_idle_mean_wh_per_1k is not None:
            low, high = f.net_of_idle_ci95_low_wh_per_1k, f.net_of_idle_ci95_high_wh_per_1k
            assert low is not None and high is not None and 0 <= low <= f.net_of_idle_mean_wh_per_1k <= high
            assert f.net_of_idle_mean_wh_per_1k <= f.mean_wh_per_1k
        else:
            assert f.net_of_idle_note and "not above idle" in f.net_of_idle_note
    for device in ("cpu", "ram"):
        _sum_of_phases(r, device, ("preprocess", "forward"))
    total_cpu = r.figure("total", "cpu")
    assert total_cpu is not None
    assert r.scored_device == "cpu" and r.scored_energy_wh_per_1k == total_cpu.mean_wh_per_1k
    assert r.decode_method is None


def test_single_phase_result_records_the_run(mlp_result: Result) -> None:
    r = mlp_result
    assert re.fullmatch(r"[0-9a-f]{16}", r.result_id) and r.request_id is None
    assert (r.model_id, r.task, r.config_version, r.precision, r.device) == (
        "tests/mlp", "text_classification", "1.0", "float32", "cpu"
    )  # fmt: skip
    assert [(u.device, u.source) for u in r.unavailable_meters] == [("gpu", "nvml_energy_counter")]
    assert {i.device for i in r.idle} == {"cpu", "ram"}
    assert all(i.mean_power_w >= 0 and i.duration_s >= 0.1 and not i.measured for i in r.idle)
    assert r.samples == 4 and r.repetitions == 2 and (r.base_rounds, r.added_rounds) == (2, 0)
    # Repetitions run over disjoint halves of the 4 samples: each repetition serves whole passes over 2.
    assert r.outputs.queries >= 2 and r.outputs.queries % 2 == 0
    assert r.cpu_power_model is not None and r.cpu_power_model["tracking_mode"] == "process"
    assert r.cpu_power_model["generic_tdp"] in ("true", "false") and float(r.cpu_power_model["tdp_w"]) > 0
    assert r.load_check is not None and r.load_check["gate"] == "record" and r.load_check["windows"] >= 6
    assert r.relative_half_width is not None and r.relative_half_width >= 0
    assert r.unstable == (r.relative_half_width > 0.05)
    assert r.outputs.input_tokens > 0
    assert r.latency_s_mean > 0 and r.latency_s_p95 > 0 and r.throughput_queries_per_s > 0
    assert r.peak_memory_mb > 0
    assert r.num_parameters == sum(p.numel() for p in h._mlp().parameters()) and r.size_class == "A"
    assert r.hardware.hardware_class.startswith("cpu-") and r.hardware.cpu_count >= 1
    assert {"python", "torch", "transformers", "codecarbon"} <= r.software.keys()
    assert r.carbon is not None and r.carbon.country_iso_code == "USA" and r.carbon.gpu_wh_per_1k is None
    # The cross-check pools the repetitions (weighted by their query counts), the scored figure is their plain mean:
    # both average the same per-repetition figures, so they differ by at most the repetitions' spread.
    total = r.figure("total", "cpu")
    assert total is not None and total.repetitions >= 2
    spread = total.std_wh_per_1k * (total.repetitions - 1) / math.sqrt(total.repetitions)
    assert abs(r.carbon.cpu_wh_per_1k - r.scored_energy_wh_per_1k) <= spread + 0.05 * r.scored_energy_wh_per_1k
    assert r.carbon.co2_g_per_1k is not None and r.carbon.co2_g_per_1k > 0
    assert r.started_at < r.finished_at and r.worker_id == "test-worker"
    assert Result.from_json(r.to_json()) == r


def test_two_phase_direct_from_marks(lm_result: Result) -> None:
    r = lm_result
    assert r.decode_method == DECODE_DIRECT  # codecarbon's CPU model is attributed by time
    assert r.result_id == "req0000001" == r.request_id
    for device in ("cpu", "ram"):
        _sum_of_phases(r, device, ("preprocess", "prefill", "decode"))
    prefill, decode = r.figure("prefill", "cpu"), r.figure("decode", "cpu")
    assert prefill and decode and prefill.mean_wh_per_1k > 0 and decode.mean_wh_per_1k > 0
    assert r.outputs.output_tokens == 4 * r.outputs.queries


def test_two_phase_subtracted_when_the_meter_is_too_coarse(folders: dict[str, Path]) -> None:
    meters: list[EnergyMeter] = [NullMeter("gpu", "nvml_energy_counter", "CPU run"), ConstantPowerMeter()]
    # 16 new tokens: decode (15 cached steps) clearly outweighs prefill, whatever the machine's noise.
    config = h.task_config("text_generation", generation={"max_new_tokens": 16, "min_new_tokens": 16})
    spec = spec_for(folders, "lm", min_window_s=0.1, task_config=config)
    r = run_benchmark(spec, meters=meters, task_class=h.TinyLmTask)
    assert r.decode_method == DECODE_SUBTRACTED
    _sum_of_phases(r, "cpu", ("preprocess", "prefill", "decode"))
    prefill, decode, total = (r.figure(p, "cpu") for p in ("prefill", "decode", "total"))
    assert prefill and decode and total and prefill.measured and decode.source == "fake_counter"
    assert 0 < prefill.mean_wh_per_1k < total.mean_wh_per_1k and decode.mean_wh_per_1k > 0
    # Decode's spread combines two independent means: wider than either input alone would give.
    assert decode.ci95_high_wh_per_1k - decode.ci95_low_wh_per_1k > 0
    assert r.carbon is None and r.figure("total", "ram") is None


def test_minimum_window_repeats_passes(folders: dict[str, Path]) -> None:
    r = run_benchmark(spec_for(folders, min_window_s=0.3, repetitions=1, rounds=1, warmup_runs=0), task_class=h.MlpTask)
    assert r.outputs.queries > 4 * 10 and r.outputs.queries % 4 == 0
    assert r.repetitions == 1 and r.base_rounds == 1
    total = r.figure("total", "cpu")
    # One round has no repeat to measure its uncertainty by: no interval, so the result cannot be rated.
    assert total and total.ci95_low_wh_per_1k == total.ci95_high_wh_per_1k == total.mean_wh_per_1k
    assert r.relative_half_width is None and r.unstable


def test_zero_reading_is_an_error_not_a_figure(folders: dict[str, Path]) -> None:
    meters: list[EnergyMeter] = [ConstantPowerMeter(watts=0.0, resolution_s=0.0)]
    with pytest.raises(BenchmarkFailure) as info:
        run_benchmark(spec_for(folders), meters=meters, task_class=h.MlpTask)
    assert info.value.kind == ErrorKind.INTERNAL and "not a positive energy" in info.value.message


def test_no_meter_for_the_scored_device(folders: dict[str, Path]) -> None:
    meters: list[EnergyMeter] = [NullMeter("cpu", "codecarbon", "codecarbon is not installed")]
    with pytest.raises(BenchmarkFailure, match="no meter for the scored device cpu: codecarbon is not installed"):
        run_benchmark(spec_for(folders), meters=meters, task_class=h.MlpTask)


def test_progress_reports_each_stage(folders: dict[str, Path]) -> None:
    seen: list[tuple[str, int, int]] = []
    meters = detect_meters("cpu")
    run_benchmark(spec_for(folders, progress=True), meters=meters, on_progress=lambda *a: seen.append(a),
                  task_class=h.MlpTask)  # fmt: skip
    stages = {s for s, _, _ in seen}
    assert {"load", "warmup", "rounds"} <= stages
    assert ("rounds", 2, 2) in seen


@pytest.mark.parametrize(
    ("task_class", "kind"),
    [(h.BrokenWeightsTask, ErrorKind.UNSUPPORTED_ARCHITECTURE), (h.GatedTask, ErrorKind.GATED)],
)
def test_load_failures_are_classified(folders: dict[str, Path], task_class: type, kind: ErrorKind) -> None:
    with pytest.raises(BenchmarkFailure) as info:
        run_benchmark(spec_for(folders), meters=detect_meters("cpu"), task_class=task_class)
    assert info.value.kind == kind


def test_missing_model_files_are_not_found(folders: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(BenchmarkFailure) as info:
        run_benchmark(spec_for(folders, model_dir=tmp_path / "absent"), meters=[], task_class=h.MlpTask)
    assert info.value.kind == ErrorKind.NOT_FOUND


def test_exception_classification() -> None:
    assert classify_exception(torch.cuda.OutOfMemoryError("CUDA out of memory"), "benchmark").kind == (
        ErrorKind.OUT_OF_MEMORY
    )
    assert classify_exception(MemoryError(), "load").kind == ErrorKind.OUT_OF_MEMORY
    assert classify_exception(ValueError("x"), "benchmark").kind == ErrorKind.INTERNAL
    assert classify_exception(ValueError("x"), "load").kind == ErrorKind.UNSUPPORTED_ARCHITECTURE


def test_spec_round_trips_through_json(folders: dict[str, Path]) -> None:
    spec = spec_for(folders, "lm", precision="bfloat16", samples=3)
    again = BenchmarkSpec.from_dict(spec.to_dict())
    assert again == spec
    assert (again.resolved_precision, again.resolved_samples, again.resolved_repetitions) == ("bfloat16", 3, 2)
