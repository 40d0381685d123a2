"""Probe NVML on the GPU torch uses: counter update interval and lag, device mapping, and the power tail.

Each subcommand prints one JSON object (and `--out FILE` writes it). On a machine without NVML or CUDA it prints
why it was skipped and exits 0, so `bench/gpu_validate.sh --device cpu` runs end to end.

    python bench/gpu_probe.py counter --seconds 4   # update interval idle and under a matmul loop; rise lag
    python bench/gpu_probe.py mapping               # torch device -> NVML GPU (run with CUDA_VISIBLE_DEVICES set/unset)
    python bench/gpu_probe.py tail --burn-s 10 --tail-s 15
    python bench/gpu_probe.py cotenant              # a second process on the GPU must contaminate a window
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _skip_reason() -> str | None:
    """Why this machine cannot be probed, or None when torch sees a CUDA device and NVML starts."""
    import torch

    if not torch.cuda.is_available():
        return "skipped: torch sees no CUDA device (CPU run), so there is no NVML counter to probe"
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
    except Exception as exc:  # any NVML start failure is a reason to skip
        return f"skipped: NVML could not start: {exc}"
    return None


def _handle() -> object:
    from runner.meters.nvml import resolve_nvml_handles, torch_gpus

    (handle,) = resolve_nvml_handles(torch_gpus())
    return handle


class Burner:
    """A matmul loop on torch's current GPU in a thread, until stopped."""

    def __init__(self, size: int = 8192) -> None:
        import torch

        self._a = torch.randn(size, size, device="cuda", dtype=torch.float16)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import torch

        while not self._stop.is_set():
            for _ in range(8):
                self._a @ self._a  # the work is the point
            torch.cuda.synchronize()

    def __enter__(self) -> Burner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _poll(read: Callable[[], float], seconds: float) -> list[tuple[float, float]]:
    """(time, value) each time `read()` changes, polled as fast as Python allows, for `seconds`."""
    changes = [(time.perf_counter(), read())]
    end = changes[0][0] + seconds
    while (now := time.perf_counter()) < end:
        value = read()
        if value != changes[-1][1]:
            changes.append((now, value))
    return changes


def _intervals_ms(changes: list[tuple[float, float]]) -> dict[str, Any]:
    gaps = [(b[0] - a[0]) * 1000 for a, b in itertools.pairwise(changes[1:])]  # from the first update on
    if not gaps:
        return {"updates": len(changes) - 1, "median_ms": None}
    return {
        "updates": len(changes) - 1,
        "median_ms": round(statistics.median(gaps), 2),
        "min_ms": round(min(gaps), 2),
        "max_ms": round(max(gaps), 2),
    }


def _rates_w(changes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Power between counter updates: (time of the update, watts) from cumulative mJ, from the first update on."""
    return [(t1, (e1 - e0) / 1000 / (t1 - t0)) for (t0, e0), (t1, e1) in itertools.pairwise(changes[1:])]


def counter(seconds: float) -> dict[str, Any]:
    """Counter update interval idle and under load, and how long after a burn starts each reading rises."""
    import pynvml
    import torch

    pynvml.nvmlInit()
    try:
        handle = _handle()

        def energy() -> float:
            return float(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))

        def power() -> float:
            return pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0

        torch.cuda.synchronize()
        idle = _poll(energy, seconds)
        with Burner():
            time.sleep(1.0)
            loaded = _poll(energy, seconds)
        time.sleep(3.0)
        idle_w = statistics.median(w for _, w in _rates_w(idle))
        load_w = statistics.median(w for _, w in _rates_w(loaded))
        half = idle_w + 0.5 * (load_w - idle_w)
        out: dict[str, Any] = {
            "counter_update_idle": _intervals_ms(idle),
            "counter_update_load": _intervals_ms(loaded),
            "idle_w_from_counter": round(idle_w, 1),
            "load_w_from_counter": round(load_w, 1),
        }
        for name, read in (("counter", energy), ("power_usage", power)):
            out[f"{name}_rise_lag_ms"] = _rise_lag_ms(read, rates=name == "counter", threshold_w=half)
            time.sleep(3.0)
        out["counter_lag_estimate_ms"] = lag_estimate_ms(out["counter_rise_lag_ms"], out["counter_update_load"])
        return out

    finally:
        pynvml.nvmlShutdown()


def lag_estimate_ms(rise_ms: float | None, load_updates: dict[str, Any]) -> float | None:
    """The counter's lag for the meter (ENERGY_SCORE_NVML_LAG_MS): the rise seen in the counter, less one update
    period, since a rise shows only at the next update. An upper bound: it still holds the GPU's own ramp-up."""
    period = load_updates.get("median_ms")
    if rise_ms is None or period is None:
        return None
    return round(max(rise_ms - period, 0.0), 1)


def _rise_lag_ms(read: Callable[[], float], rates: bool, threshold_w: float) -> float | None:
    """Poll `read` for 4 s, starting a burn after 1 s: ms from the burn's start until the watts pass the threshold."""
    results: list[tuple[float, float]] = []
    poller = threading.Thread(target=lambda: results.extend(_poll(read, 4.0)))
    poller.start()
    time.sleep(1.0)
    started = time.perf_counter()
    with Burner():
        poller.join()
    series = _rates_w(results) if rates else results
    rise = next((t for t, w in series if t > started and w > threshold_w), None)
    return None if rise is None else round((rise - started) * 1000, 1)


def mapping() -> dict[str, Any]:
    """torch's devices, the NVML GPU each resolves to, and NVML's own index of that GPU."""
    import pynvml
    import torch

    from runner.meters.nvml import describe_gpu, resolve_nvml_handles, torch_gpus

    pynvml.nvmlInit()
    try:
        nvml_uuids = [
            describe_gpu(pynvml.nvmlDeviceGetHandleByIndex(i)).uuid for i in range(pynvml.nvmlDeviceGetCount())
        ]
        rows = []
        for gpu in torch_gpus(range(torch.cuda.device_count())):
            row: dict[str, Any] = {"torch": f"cuda:{gpu.index}", "cuda_uuid": gpu.uuid, "pci": gpu.pci_bus_id}
            try:
                (handle,) = resolve_nvml_handles([gpu])
                described = describe_gpu(handle)
                row.update(described.to_dict())
                row["nvml_index"] = nvml_uuids.index(described.uuid)
            except Exception as exc:  # a refused mapping is a finding, printed
                row["refused"] = str(exc)
            rows.append(row)
        return {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"), "nvml_uuids": nvml_uuids, "torch": rows}
    finally:
        pynvml.nvmlShutdown()


def tail(burn_s: float, tail_s: float) -> dict[str, Any]:
    """Power from the counter and from power usage, every 100 ms: 3 s idle, a burn, then the tail after it."""
    import pynvml

    pynvml.nvmlInit()
    try:
        handle = _handle()
        samples: list[tuple[float, float, float]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.1):
                samples.append(
                    (
                        time.perf_counter(),
                        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0,
                        pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0,
                    )
                )

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        time.sleep(3.0)
        burn_start = time.perf_counter()
        with Burner():
            time.sleep(burn_s)
        burn_end = time.perf_counter()
        time.sleep(tail_s)
        stop.set()
        sampler.join()

        def window_w(t0: float, t1: float) -> float:
            inside = [s for s in samples if t0 <= s[0] <= t1]
            return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

        idle_w = window_w(burn_start - 3.0, burn_start)
        per_second = [
            round(window_w(burn_end + k, burn_end + k + 1.0), 1) for k in range(int(tail_s)) if k + 1.0 <= tail_s
        ]
        settled = next((k for k, w in enumerate(per_second) if abs(w - idle_w) <= 0.05 * idle_w), None)
        return {
            "idle_before_w": round(idle_w, 1),
            "burn_w": round(window_w(burn_start + 1.0, burn_end), 1),
            "tail_w_per_second_after_burn": per_second,
            "seconds_until_within_5pct_of_idle": settled,
            "power_usage_w_at_1s_steps": [
                round(next(p for t, _, p in samples if t >= burn_end + k), 1) for k in range(int(tail_s) - 1)
            ],
        }
    finally:
        pynvml.nvmlShutdown()


CO_TENANT = "import time, torch; x = torch.ones(1024, device='cuda'); time.sleep({seconds})"
"""A second process holding a CUDA context on the same GPU, as a co-tenant would."""


def cotenant(wait_s: float = 30.0) -> dict[str, Any]:
    """A window with this process alone on the GPU, one shared with a process outside this process tree (started
    through a shell that exits at once, so it is nobody's child here), and one after it has gone."""
    import signal
    import subprocess

    import torch

    from runner.meters import NvmlMeter
    from runner.meters.load_monitor import LoadMonitor

    torch.ones(1, device="cuda")  # this process's own CUDA context, as during a benchmark
    meter = NvmlMeter(synchronize=False)
    if not meter.is_available():
        return {"result": f"skipped: {meter.unavailable()[0].reason}"}
    monitor = LoadMonitor(float("inf"), gpu=meter)  # only the GPU's process list decides here

    def listed() -> set[int]:
        return {p.pid for p in meter.processes()}

    def window() -> dict[str, Any]:
        load = monitor.end(monitor.begin())
        return {"contaminated": load.contaminated, "reason": load.reason, "listed": sorted(listed())}

    alone = window()
    own = listed()
    script = CO_TENANT.format(seconds=wait_s)
    shell = f'{sys.executable} -c "{script}" >/dev/null 2>&1 & echo $!'  # the shell exits; its child lives on
    started = int(subprocess.run(["sh", "-c", shell], check=True, capture_output=True, text=True).stdout)
    deadline = time.monotonic() + wait_s
    while not listed() - own and time.monotonic() < deadline:
        time.sleep(0.2)
    tenants = sorted(listed() - own)
    shared = window()
    os.kill(started, signal.SIGTERM)  # by the PID this probe started, never by NVML's (maybe another namespace's)
    while listed() - own and time.monotonic() < deadline:
        time.sleep(0.2)
    after = window()
    detected = not alone["contaminated"] and shared["contaminated"] and not after["contaminated"]
    return {
        "own_pids": sorted(own),
        "co_tenant_pid_started": started,
        "co_tenant_pids_listed": tenants,
        "alone": alone,
        "shared": shared,
        "after": after,
        "result": "detected" if detected else "NOT DETECTED as expected",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("counter")
    c.add_argument("--seconds", type=float, default=4.0)
    sub.add_parser("mapping")
    t = sub.add_parser("tail")
    t.add_argument("--burn-s", type=float, default=10.0)
    t.add_argument("--tail-s", type=float, default=15.0)
    sub.add_parser("cotenant")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    reason = _skip_reason()
    if reason is not None:
        report: dict[str, Any] = {"probe": args.command, "result": reason}
    elif args.command == "counter":
        report = {"probe": "counter", **counter(args.seconds)}
    elif args.command == "mapping":
        report = {"probe": "mapping", **mapping()}
    elif args.command == "cotenant":
        report = {"probe": "cotenant", **cotenant()}
    else:
        report = {"probe": "tail", **tail(args.burn_s, args.tail_s)}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
