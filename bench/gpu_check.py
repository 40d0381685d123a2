"""Check the measurement on real hardware: real architectures, random weights, several repetitions each.

For each model (a ~1B Llama decoder, BERT-base, ViT-base, Whisper-small, from the configs in bench/gpu_models/)
it prints the scored energy with its 95% CI, the coefficient of variation over repetitions, the idle power before
and after, whether the phases sum to the total, and a cross-check of the GPU figure over the whole run: NVML's
energy counter against NVML power samples integrated over the same window, and against nvidia-smi's board power
sampled at another rate by another process where nvidia-smi exists.

What the cross-check is: two or three readings of the GPU's own on-board power sensor, taken by different paths
and at different rates, over the same window. Agreement shows the counter is read over the right GPU and window
and that its updates are not missed or double-counted. What it is not: an independent measurement. All readings
come from the same sensor, so a sensor that reads high reads high in all of them; only an external meter (a
power analyser on the board's supply) checks the sensor itself. On CPU there is no cross-check: the CPU figure is
codecarbon's (RAPL or a TDP model) and nothing else on the machine measures CPU energy; the output says so.
The full results go to bench/results/. Random weights cost the same energy as trained ones for dense models with
fixed output lengths.

    python bench/gpu_check.py                          # cuda, full-size architectures
    python bench/gpu_check.py --device cpu --scale tiny --samples 4 --repetitions 2
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leaderboard_data.configs import Pipeline, get_task_config
from leaderboard_data.records import Result
from runner.engine import BenchmarkSpec, run_benchmark
from runner.errors import BenchmarkFailure
from runner.zoo import build_model, write_dataset

HERE = Path(__file__).resolve().parent
MODELS = {
    "llama-3.2-1b": (Pipeline.TEXT_GENERATION, "AutoModelForCausalLM"),
    "bert-base-uncased": (Pipeline.TEXT_CLASSIFICATION, "AutoModelForSequenceClassification"),
    "vit-base-patch16-224": (Pipeline.IMAGE_CLASSIFICATION, "AutoModelForImageClassification"),
    "whisper-small": (Pipeline.AUTOMATIC_SPEECH_RECOGNITION, "AutoModelForSpeechSeq2Seq"),
}
# Token ids of the offline tokenizer the zoo built, kept when the architecture's config replaces the zoo's.
TOKEN_KEYS = ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id")


def model_folder(name: str, scale: str, root: Path) -> Path:
    """The zoo's tiny model folder (tokenizer/processor included); at full scale, its weights are replaced by a
    random init of the real architecture's config."""
    pipeline, auto_name = MODELS[name]
    folder = build_model(pipeline, root / name, size="tiny")
    if scale == "tiny":
        return folder
    import transformers

    spec = json.loads((HERE / "gpu_models" / f"{name}.json").read_text())
    zoo = json.loads((folder / "config.json").read_text())
    spec.update({key: zoo[key] for key in TOKEN_KEYS if zoo.get(key) is not None})
    config = transformers.AutoConfig.for_model(**spec)
    model = getattr(transformers, auto_name).from_config(config)
    for stale in folder.glob("*.safetensors*"):
        stale.unlink()
    model.save_pretrained(folder, safe_serialization=True)
    if pipeline == Pipeline.IMAGE_CLASSIFICATION:
        size = {"height": config.image_size, "width": config.image_size}
        transformers.ViTImageProcessor(size=size).save_pretrained(folder)
    if pipeline == Pipeline.AUTOMATIC_SPEECH_RECOGNITION:
        transformers.WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(folder)
    return folder


NO_CPU_CHECK = "none: on CPU no cross-check exists (the CPU figure is codecarbon's, from RAPL or a TDP model)"
SMI_PERIOD_MS = 200


class SmiPower:
    """Board power from `nvidia-smi ... -lms PERIOD` in a child process, stamped on arrival and integrated by
    trapezoids: the on-board sensor read by another path, at another rate than the NVML samples."""

    def __init__(self, command: list[str]) -> None:
        self._command = command
        self._samples: list[tuple[float, float]] = []
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @staticmethod
    def for_gpu(uuid: str, period_ms: int = SMI_PERIOD_MS) -> SmiPower | None:
        """nvidia-smi's board power of one GPU; None where nvidia-smi is not on this machine."""
        smi = shutil.which("nvidia-smi")
        if smi is None:
            return None
        query = ["--query-gpu=power.draw", "--format=csv,noheader,nounits", f"-lms={period_ms}"]
        return SmiPower([smi, f"--id={uuid}", *query])

    def start(self) -> None:
        self._process = subprocess.Popen(self._command, stdout=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            try:
                self._samples.append((time.perf_counter(), float(line.strip())))
            except ValueError:
                continue  # "[N/A]" or a header: not a reading

    def stop(self) -> dict[str, Any]:
        """Stop the child and return the integrated joules and how many samples they come from."""
        assert self._process is not None and self._reader is not None
        self._process.terminate()
        self._process.wait(timeout=10)
        self._reader.join(timeout=10)
        pairs = itertools.pairwise(self._samples)
        joules = math.fsum(0.5 * (p0 + p1) * (t1 - t0) for (t0, p0), (t1, p1) in pairs)
        span = self._samples[-1][0] - self._samples[0][0] if len(self._samples) > 1 else 0.0
        return {"smi_samples": len(self._samples), "smi_window_s": span, "smi_integrated_j": joules}


class CounterVsPower:
    """Over one window, NVML's energy counter against NVML power samples integrated by trapezoids, and against
    nvidia-smi's board power at another rate (as mean watts: nvidia-smi starts a little later than the window).

    The counter is what the engine scores; the power samples are a separate NVML reading (a ~1 s average on most
    GPUs, so short windows disagree at their edges: compare over tens of seconds). Meters the GPU torch runs on.
    All three read the same on-board sensor (see the module's docstring).
    """

    def __init__(self, period_s: float = 0.05, smi_command: list[str] | None = None) -> None:
        self.period_s = period_s
        self._smi_command = smi_command
        """The nvidia-smi command line to sample; None finds nvidia-smi for the metered GPU."""
        self._smi: SmiPower | None = None
        self._stop = threading.Event()
        self._samples: list[tuple[float, float]] = []
        self._thread: threading.Thread | None = None
        self._handle: object = None
        self._counter_mj = 0
        self.report: dict[str, Any] = {}

    def __enter__(self) -> CounterVsPower:
        import pynvml

        from runner.meters.nvml import resolve_nvml_handles, torch_gpus

        pynvml.nvmlInit()
        (self._handle,) = resolve_nvml_handles(torch_gpus())
        uuid = pynvml.nvmlDeviceGetUUID(self._handle)
        uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
        self._smi = SmiPower(self._smi_command) if self._smi_command else SmiPower.for_gpu(uuid)
        if self._smi is not None:
            self._smi.start()
        self._counter_mj = pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        import pynvml

        self._samples.append((time.perf_counter(), pynvml.nvmlDeviceGetPowerUsage(self._handle) / 1000.0))

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self._sample()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        import pynvml

        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        counter_j = (pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) - self._counter_mj) / 1000.0
        self._sample()
        pynvml.nvmlShutdown()
        pairs = itertools.pairwise(self._samples)
        integrated_j = math.fsum(0.5 * (p0 + p1) * (t1 - t0) for (t0, p0), (t1, p1) in pairs)
        window_s = self._samples[-1][0] - self._samples[0][0]
        self.report = {
            "method": "the on-board power sensor three ways over one window: nvml_energy_counter, integrated "
            "nvml_power_samples, nvidia-smi power.draw; not independent of the sensor itself",
            "window_s": window_s,
            "power_samples": len(self._samples),
            "counter_j": counter_j,
            "power_integrated_j": integrated_j,
            "counter_over_power": counter_j / integrated_j if integrated_j > 0 else None,
        }
        if self._smi is None:
            self.report["smi"] = "nvidia-smi is not on this machine"
            return
        smi = self._smi.stop()
        smi_w = smi["smi_integrated_j"] / smi["smi_window_s"] if smi["smi_window_s"] > 0 else None
        counter_w = counter_j / window_s if window_s > 0 else None
        self.report.update(smi)
        self.report["smi_mean_w_over_counter_mean_w"] = smi_w / counter_w if smi_w and counter_w else None


def phases_over_total(result: Result) -> float | None:
    """Sum of the scored device's phase figures (preprocess and inference phases) over its total figure."""
    device = result.scored_device
    total = result.figure("total", device)
    phases = [f.mean_wh_per_1k for f in result.energy if f.device == device and f.phase not in ("total", "load")]
    return math.fsum(phases) / total.mean_wh_per_1k if total and phases else None


def summary(result: Result, check: dict[str, Any] | str) -> dict[str, Any]:
    """The numbers to eyeball: scored energy and CI, CV, idle before/after, phases vs total, independent check."""
    scored = result.figure("total", result.scored_device)
    assert scored is not None
    return {
        "model": result.model_id,
        "scored_device": result.scored_device,
        "metered_gpus": [g.to_dict() for g in result.metered_gpus],
        "wh_per_1k": scored.mean_wh_per_1k,
        "ci95": [scored.ci95_low_wh_per_1k, scored.ci95_high_wh_per_1k],
        "cv": scored.std_wh_per_1k / scored.mean_wh_per_1k,
        "repetitions": result.repetitions,
        "measured": scored.measured,
        "idle_w_before_after": {i.device: [round(i.before_power_w, 2), round(i.after_power_w, 2)] for i in result.idle},
        "phases_over_total": phases_over_total(result),
        "independent_check": check,
        "decode_method": result.decode_method,
        "queries_per_rep": result.outputs.queries,
        "distinct_samples": result.distinct_samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--scale", choices=["full", "tiny"], default="full")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-window-s", type=float, default=None, help="default: the task config's")
    parser.add_argument(
        "--added-budget-s",
        type=float,
        default=None,
        help="time for rounds added while the mean is imprecise; default: config's",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            pipeline, _ = MODELS[name]
            config = get_task_config(pipeline.value)
            spec = BenchmarkSpec(
                model_id=f"random/{name}-{args.scale}",
                model_dir=model_folder(name, args.scale, Path(tmp)),
                revision="random-init",
                task_config=config,
                device=args.device,
                samples=args.samples,
                repetitions=args.repetitions,
                dataset_path=str(write_dataset(pipeline, Path(tmp) / f"{name}-data", args.samples)),
                min_window_s=args.min_window_s,
                added_rounds_budget_s=args.added_budget_s,
            )
            try:
                if args.device == "cuda":
                    with CounterVsPower() as cross:
                        result = run_benchmark(spec)
                    check: dict[str, Any] | str = cross.report
                else:
                    result, check = run_benchmark(spec), NO_CPU_CHECK
            except BenchmarkFailure as exc:
                print(f"{name}: FAILED {exc}")
                rows.append({"model": name, "error": str(exc)})
                continue
            (args.out / f"{stamp}-{name}-{args.device}-{args.scale}.json").write_text(result.to_json())
            rows.append(summary(result, check))
            _print_row(rows[-1])
    (args.out / f"{stamp}-summary-{args.device}-{args.scale}.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 1 if any("error" in row for row in rows) else 0


def _print_row(row: dict[str, Any]) -> None:
    check = row["independent_check"]
    if isinstance(check, str):
        ratio = check
    else:
        smi = check.get("smi_mean_w_over_counter_mean_w")
        ratio = f"counter/integrated power {check['counter_over_power']:.3f}" + (
            f", nvidia-smi/counter mean W {smi:.3f}" if smi else f", {check.get('smi', 'no nvidia-smi reading')}"
        )
    phases = "n/a" if row["phases_over_total"] is None else f"{row['phases_over_total']:.4f}"
    print(
        f"{row['model']:36} {row['wh_per_1k']:10.4f} Wh/1k  CI [{row['ci95'][0]:.4f}, {row['ci95'][1]:.4f}]"
        f"  CV {row['cv']:.3f} over {row['repetitions']}  measured {row['measured']}"
        f"  idle W before/after {row['idle_w_before_after']}  phases/total {phases}"
        f"  {row['decode_method'] or ''}  check: {ratio}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
