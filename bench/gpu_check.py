"""Check the measurement on real hardware: real architectures, random weights, several repetitions each.

For each model (a ~1B Llama decoder, BERT-base, ViT-base, Whisper-small, from the configs in bench/gpu_models/)
it prints the scored energy with its 95% CI, the coefficient of variation over repetitions, how our GPU (NVML)
and CPU figures agree with codecarbon's own, and the idle power; the full results go to bench/results/.
Random weights cost the same energy as trained ones for dense models with fixed output lengths.

    python bench/gpu_check.py                          # cuda, full-size architectures
    python bench/gpu_check.py --device cpu --scale tiny --samples 4 --repetitions 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
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


def summary(result: Result) -> dict[str, Any]:
    """The numbers to eyeball: scored energy and CI, CV, agreement with codecarbon, idle power."""
    scored = result.figure("total", result.scored_device)
    assert scored is not None
    cv = scored.std_wh_per_1k / scored.mean_wh_per_1k
    carbon = result.carbon
    ours_gpu, ours_cpu = result.figure("total", "gpu"), result.figure("total", "cpu")
    theirs_gpu = carbon.gpu_wh_per_1k if carbon else None
    theirs_cpu = carbon.cpu_wh_per_1k if carbon else None
    return {
        "model": result.model_id,
        "scored_device": result.scored_device,
        "wh_per_1k": scored.mean_wh_per_1k,
        "ci95": [scored.ci95_low_wh_per_1k, scored.ci95_high_wh_per_1k],
        "cv": cv,
        "measured": scored.measured,
        "gpu_vs_codecarbon": (ours_gpu.mean_wh_per_1k / theirs_gpu) if ours_gpu and theirs_gpu else None,
        "cpu_vs_codecarbon": (ours_cpu.mean_wh_per_1k / theirs_cpu) if ours_cpu and theirs_cpu else None,
        "idle_w": {i.device: round(i.mean_power_w, 2) for i in result.idle},
        "decode_method": result.decode_method,
        "queries_per_rep": result.outputs.queries,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--scale", choices=["full", "tiny"], default="full")
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-window-s", type=float, default=None, help="default: the task config's")
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
            )
            try:
                result = run_benchmark(spec)
            except BenchmarkFailure as exc:
                print(f"{name}: FAILED {exc}")
                rows.append({"model": name, "error": str(exc)})
                continue
            (args.out / f"{stamp}-{name}-{args.device}-{args.scale}.json").write_text(result.to_json())
            rows.append(summary(result))
            _print_row(rows[-1])
    (args.out / f"{stamp}-summary-{args.device}-{args.scale}.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 1 if any("error" in row for row in rows) else 0


def _print_row(row: dict[str, Any]) -> None:
    ratio = row["gpu_vs_codecarbon"] or row["cpu_vs_codecarbon"]
    agreement = "n/a" if ratio is None else f"{ratio:.3f}"
    print(
        f"{row['model']:36} {row['wh_per_1k']:10.4f} Wh/1k  CI [{row['ci95'][0]:.4f}, {row['ci95'][1]:.4f}]"
        f"  CV {row['cv']:.3f}  measured {row['measured']}  ours/codecarbon {agreement}"
        f"  idle W {row['idle_w']}  {row['decode_method'] or ''}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
