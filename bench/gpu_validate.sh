#!/usr/bin/env bash
# Validate the GPU measurement on the machine at hand, in one command of under 8 minutes on an H100:
#   0. the machine's own python3 (its CUDA torch, transformers, nvidia-ml-py), plus what it lacks (pydantic,
#      datasets, codecarbon) installed from bench/wheels/ alone (built here by scripts/gpu_wheels); torch is
#      checked to be the same build after the install;
#   1. NVML energy counter: update interval idle and under a matmul loop, and how long each reading lags a burn;
#   2. torch-to-NVML device mapping with CUDA_VISIBLE_DEVICES unset, set to an ordinal, and set to a UUID;
#   3. the power tail for 15 s after a 10 s burn;
#   4. co-tenant detection: a second process on the metered GPU, outside this process tree, must contaminate a
#      window, and the window must be clean once it has gone;
#   5. engine runs of a ~1B Llama decoder and BERT-base (random init of the real configs in bench/gpu_models/),
#      5 repetitions each: CV, idle before/after, phases summed against the total, and the cross-check (NVML
#      counter vs integrated NVML power samples over the same run).
# Everything printed also goes to bench/results/gpu-validate-<device>-<stamp>.txt (engine results as JSON beside it).
#
#   bench/gpu_validate.sh                 # cuda, full-size architectures
#   bench/gpu_validate.sh --device cpu    # CPU: the NVML probes say why they are skipped; tiny models, few samples
#   PYTHON=/path/to/python bench/gpu_validate.sh --device cpu   # another interpreter than python3
#   RESULTS_DIR="$OUT" bench/gpu_validate.sh                      # logs and results elsewhere than bench/results
set -euo pipefail
export PYTHONUNBUFFERED=1

device=cuda
while [[ $# -gt 0 ]]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    *) echo "usage: $0 [--device cuda|cpu]" >&2; exit 2 ;;
  esac
done
[[ "$device" == cuda || "$device" == cpu ]] || { echo "--device must be cuda or cpu" >&2; exit 2; }

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 \
  HF_DATASETS_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_VERBOSITY=error
stamp="$(date -u +%Y%m%d-%H%M%S)"
out="${RESULTS_DIR:-$root/bench/results}"  # on the device machine: RESULTS_DIR="$OUT", so the files come back
mkdir -p "$out"
log="$out/gpu-validate-$device-$stamp.txt"
exec > >(tee "$log") 2>&1
started=$SECONDS

section() { printf '\n== %s (t=%ss)\n' "$1" "$((SECONDS - started))"; }

echo "gpu_validate.sh --device $device at $(date -u +%FT%TZ) on $(hostname), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ "$device" == cuda ]]; then
  nvidia-smi --query-gpu=index,uuid,name,pci.bus_id,power.limit,driver_version,mig.mode.current --format=csv || true
  probe_env=()
else
  probe_env=(CUDA_VISIBLE_DEVICES="")  # a CPU run must not touch a GPU even where one exists
  # A shared development machine is never quiet: the CPU rehearsal records foreign load instead of waiting it out.
  export ENERGY_SCORE_LOAD_GATE="${ENERGY_SCORE_LOAD_GATE:-record}"
fi

section "0. python and the missing packages, from bench/wheels alone"
versions='import sys, torch, transformers, huggingface_hub as h; print(f"python {sys.version.split()[0]} at {sys.executable}: torch {torch.__version__}, transformers {transformers.__version__}, huggingface_hub {h.__version__}")'
"$python" -c "$versions"
torch_build() { "$python" -c 'import torch, pathlib; print(torch.__version__, pathlib.Path(torch.__file__).parent)'; }
if "$python" -c 'import pydantic, datasets, codecarbon, pynvml' 2>/dev/null; then
  echo "pydantic, datasets, codecarbon and nvidia-ml-py are already installed"
else
  [[ -d bench/wheels ]] || { echo "bench/wheels is missing: build it with scripts/gpu_wheels and carry it" >&2; exit 1; }
  before="$(torch_build)"
  # No index, no pip configuration files (/dev/null) or PIP_* variables (--isolated): what is not in bench/wheels
  # or already installed fails the install here.
  PIP_CONFIG_FILE=/dev/null "$python" -m pip --isolated install --quiet --no-index --find-links bench/wheels \
    pydantic datasets codecarbon
  [[ "$(torch_build)" == "$before" ]] || { echo "the install replaced torch ($before)" >&2; exit 1; }
  echo "installed from bench/wheels; torch kept: $before"
fi
"$python" -c 'import pydantic, datasets, codecarbon, pynvml; print(f"pydantic {pydantic.__version__}, datasets {datasets.__version__}, codecarbon {codecarbon.__version__}, nvidia-ml-py present")'

section "1. NVML counter: update interval and lag"
env "${probe_env[@]}" "$python" bench/gpu_probe.py --out "$out/nvml-counter-$device-$stamp.json" counter --seconds 4
# The engine runs below apply the probed lag (the meter measures the update period itself when it opens).
lag_ms="$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("counter_lag_estimate_ms") or "")' \
  "$out/nvml-counter-$device-$stamp.json")"
if [[ -n "$lag_ms" ]]; then
  export ENERGY_SCORE_NVML_LAG_MS="$lag_ms"
  echo "engine runs below apply ENERGY_SCORE_NVML_LAG_MS=$lag_ms"
fi

section "2. torch -> NVML mapping"
echo "-- CUDA_VISIBLE_DEVICES unset"
env -u CUDA_VISIBLE_DEVICES "${probe_env[@]}" "$python" bench/gpu_probe.py mapping
if [[ "$device" == cuda ]]; then
  last=$(($(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l) - 1))  # the last physical GPU
  uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader -i "$last")
  echo "-- CUDA_VISIBLE_DEVICES=$last"
  CUDA_VISIBLE_DEVICES="$last" "$python" bench/gpu_probe.py mapping
  echo "-- CUDA_VISIBLE_DEVICES=$uuid"
  CUDA_VISIBLE_DEVICES="$uuid" "$python" bench/gpu_probe.py mapping
fi

section "3. power tail after a burn"
env "${probe_env[@]}" "$python" bench/gpu_probe.py tail --burn-s 10 --tail-s 15

section "4. co-tenant on the metered GPU"
env "${probe_env[@]}" "$python" bench/gpu_probe.py cotenant

section "5. engine runs: 1B decoder and BERT-base, 5 repetitions"
if [[ "$device" == cuda ]]; then
  # 5 s windows and 30 s for added repetitions keep both models within the 8-minute budget (the configs' 10 s
  # windows and 900 s budget are for published results).
  "$python" bench/gpu_check.py --device cuda --scale full --models llama-3.2-1b bert-base-uncased \
    --samples 100 --repetitions 5 --min-window-s 5 --added-budget-s 30 --out "$out"
else
  env "${probe_env[@]}" "$python" bench/gpu_check.py --device cpu --scale tiny --models llama-3.2-1b bert-base-uncased \
    --samples 10 --repetitions 5 --added-budget-s 10 --out "$out"
fi

section "done in $((SECONDS - started)) s; log: ${log#"$root"/}"
