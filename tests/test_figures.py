"""The figure functions on synthetic readings: methods, idle baselines and their disagreement, net-of-idle
intervals, constant-power models, and readings that are reported missing instead of failing the run."""

from __future__ import annotations

from dataclasses import replace

import pytest

from leaderboard_data.records import Outputs
from runner.figures import compute_figures, idle_baselines, net_of_idle, wh_per_1k
from runner.readings import DecodeMethod, DeviceInfo, IdleReading, RepetitionReading, RunReadings, Window
from runner.stats import NonPositiveReadingError, summarize

GPU = DeviceInfo(measured=True, source="nvml_energy_counter", resolution_s=0.1)
RAM = DeviceInfo(measured=False, source="codecarbon_ram_model", resolution_s=0.0, constant_power=True)


def rep(
    index: int,
    gpu_pre: float,
    gpu_prefill: float,
    gpu_decode: float,
    prefill_s: float = 2.0,
    decode_s: float = 8.0,
    queries: int = 10,
    first_phase: Window | None = None,
) -> RepetitionReading:
    """A repetition of `queries` queries: joules per phase in total over the window (gpu), RAM at 10 W."""
    inference_s = prefill_s + decode_s
    return RepetitionReading(
        slice_index=index,
        queries=queries,
        preprocess=Window({"gpu": gpu_pre, "ram": 10.0}, 1.0),
        preprocess_queries=queries,
        inference=Window({"gpu": gpu_prefill + gpu_decode, "ram": 10.0 * inference_s}, inference_s),
        phase_j={
            ("prefill", "gpu"): gpu_prefill,
            ("decode", "gpu"): gpu_decode,
            ("prefill", "ram"): 10.0 * prefill_s,
            ("decode", "ram"): 10.0 * decode_s,
        },
        phase_s={"prefill": prefill_s, "decode": decode_s},
        latencies_s=[inference_s / queries] * queries,
        outputs=Outputs(queries=queries),
        first_phase=first_phase,
        first_phase_queries=queries if first_phase else 0,
    )


def readings(
    reps: list[RepetitionReading],
    method: DecodeMethod | None = DecodeMethod.DIRECT,
    load_gpu: float = 500.0,
    idle_gpu: tuple[float, float] = (50.0, 50.0),
) -> RunReadings:
    return RunReadings(
        devices={"gpu": GPU, "ram": RAM},
        phases=("prefill", "decode"),
        decode_method=method,
        load=Window({"gpu": load_gpu, "ram": 50.0}, 5.0),
        samples=30,
        idle=IdleReading(
            Window({"gpu": idle_gpu[0] * 5, "ram": 50.0}, 5.0), Window({"gpu": idle_gpu[1] * 5, "ram": 50.0}, 5.0), 5.0
        ),
        repetitions=reps,
    )


def by(figures: list, phase: str, device: str):  # type: ignore[no-untyped-def]
    return next(f for f in figures if f.phase == phase and f.device == device)


def test_phases_from_marks_on_a_resolving_counter_are_measured_windows() -> None:
    r = readings([rep(0, 100.0, 400.0, 1600.0), rep(1, 110.0, 420.0, 1580.0), rep(2, 90.0, 380.0, 1620.0)])
    out = compute_figures(r, "gpu", 0.25)
    # prefill lasts 0.2 s per query: 2 counter updates, too short to be read at marks -> split by time.
    prefill, decode = by(out.energy, "prefill", "gpu"), by(out.energy, "decode", "gpu")
    assert (prefill.method, prefill.measured) == ("time_attributed", False)
    # decode lasts 0.8 s per query: 8 updates, still below the 10 needed.
    assert (decode.method, decode.measured) == ("time_attributed", False)
    pre = by(out.energy, "preprocess", "gpu")
    assert (pre.method, pre.measured) == ("window", True)
    assert pre.mean_wh_per_1k == pytest.approx(wh_per_1k(10.0))
    total = by(out.energy, "total", "gpu")
    assert total.mean_wh_per_1k == pytest.approx(pre.mean_wh_per_1k + prefill.mean_wh_per_1k + decode.mean_wh_per_1k)
    # RAM is a power model: its phase split is by time too.
    assert by(out.energy, "prefill", "ram").method == "time_attributed"


def test_long_phases_on_a_resolving_counter_are_windows() -> None:
    reps = [rep(i, 100.0, 400.0, 1600.0 + i, prefill_s=20.0, decode_s=80.0) for i in range(3)]
    out = compute_figures(readings(reps), "gpu", 0.25)
    assert {by(out.energy, p, "gpu").method for p in ("prefill", "decode")} == {"window"}
    assert by(out.energy, "decode", "gpu").measured


def test_subtracted_decode_says_so() -> None:
    reps = [
        rep(i, 100.0, 400.0, 1600.0 + i, first_phase=Window({"gpu": 410.0 + i, "ram": 20.0}, 2.0)) for i in range(3)
    ]
    out = compute_figures(readings(reps, DecodeMethod.SUBTRACTED), "gpu", 0.25)
    prefill, decode = by(out.energy, "prefill", "gpu"), by(out.energy, "decode", "gpu")
    assert prefill.method == "window" and decode.method == "subtracted" and decode.measured
    assert decode.mean_wh_per_1k == pytest.approx(wh_per_1k((2000.0 + 1 - 411.0) / 10), rel=1e-6)


def test_idle_before_and_after_disagreement_is_flagged() -> None:
    r = readings([rep(i, 100.0, 400.0, 1600.0 + i) for i in range(2)], idle_gpu=(61.7, 78.4))
    baselines, power = idle_baselines(r, 0.25)
    gpu = next(b for b in baselines if b.device == "gpu")
    assert gpu.before_power_w == pytest.approx(61.7) and gpu.after_power_w == pytest.approx(78.4)
    assert gpu.disagreement == pytest.approx(16.7 / 70.05) and not gpu.disagrees  # 24 % <= 25 %
    strict, _ = idle_baselines(r, 0.10)
    assert next(b for b in strict if b.device == "gpu").disagrees
    assert (power["gpu"].low_w, power["gpu"].high_w) == pytest.approx((61.7, 78.4))
    assert next(b for b in baselines if b.device == "gpu").settle_s == 5.0


def test_net_of_idle_carries_the_idle_range_into_an_interval() -> None:
    r = readings([rep(0, 100.0, 400.0, 1600.0), rep(1, 110.0, 420.0, 1580.0), rep(2, 90.0, 380.0, 1620.0)],
                 idle_gpu=(40.0, 60.0))  # fmt: skip
    total = by(compute_figures(r, "gpu", 0.25).energy, "total", "gpu")
    seconds = 0.1 + 1.0  # preprocess 1 s / 10 queries + inference 10 s / 10 queries
    assert total.net_of_idle_mean_wh_per_1k == pytest.approx(total.mean_wh_per_1k - wh_per_1k(50.0 * seconds))
    assert total.net_of_idle_ci95_low_wh_per_1k == pytest.approx(total.ci95_low_wh_per_1k - wh_per_1k(60.0 * seconds))
    assert total.net_of_idle_ci95_high_wh_per_1k == pytest.approx(total.ci95_high_wh_per_1k - wh_per_1k(40.0 * seconds))


def test_constant_power_models_get_no_net_figure() -> None:
    out = compute_figures(readings([rep(i, 100.0, 400.0, 1600.0 + i) for i in range(2)]), "gpu", 0.25)
    for figure in out.energy:
        if figure.device == "ram":
            assert figure.net_of_idle_mean_wh_per_1k is None and figure.net_of_idle_ci95_low_wh_per_1k is None
            assert "constant-power" in (figure.net_of_idle_note or "")


def test_a_figure_below_idle_is_never_published_negative() -> None:
    gross = summarize([0.001, 0.0011, 0.0012])
    net = net_of_idle(gross, idle_from(50.0), 1.0, constant_power=False)
    assert net.mean is None and net.low is None and net.note and "not above idle" in net.note


def idle_from(watts: float):  # type: ignore[no-untyped-def]
    from runner.figures import IdlePower

    return IdlePower(watts, watts, watts)


def test_a_zero_load_reading_is_missing_not_a_failure() -> None:
    out = compute_figures(readings([rep(i, 100.0, 400.0, 1600.0 + i) for i in range(2)], load_gpu=0.0), "gpu", 0.25)
    assert [(m.phase, m.device) for m in out.missing] == [("load", "gpu")]
    assert "not a positive energy" in out.missing[0].reason
    assert by(out.energy, "load", "ram").mean_wh_per_1k > 0


def test_a_zero_scored_total_still_fails() -> None:
    zero = [rep(i, 0.0, 0.0, 0.0) for i in range(2)]
    with pytest.raises(NonPositiveReadingError, match="total on gpu"):
        compute_figures(readings(zero), "gpu", 0.25)


def test_the_interval_of_the_scored_total_is_over_rounds_of_every_slice() -> None:
    """Two slices, each measured in two rounds: the interval comes from each slice's repeat, not from how the
    slices differ."""
    reps = [rep(0, 100.0, 400.0, 1600.0), rep(1, 100.0, 400.0, 2600.0)]
    again = [replace(r, round_index=1) for r in reps]
    out = compute_figures(readings([*reps, *again]), "gpu", 0.25)
    assert out.scored_total.mean_wh_per_1k == pytest.approx(wh_per_1k(260.0))
    assert out.relative_half_width == 0.0  # identical repeats: no measurement uncertainty
    assert compute_figures(readings(reps), "gpu", 0.25).relative_half_width is None  # one round: no interval
