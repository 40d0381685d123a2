#!/usr/bin/env bash
# Validate the GPU measurement on the machine at hand, in under 10 minutes on an H200:
#   1. NVML energy counter: update interval idle and under a matmul loop, and how long each reading lags a burn;
#   2. torch-to-NVML device mapping with CUDA_VISIBLE_DEVICES unset, set to an ordinal, and set to a UUID;
#   3. the power tail for 15 s after a 10 s burn;
#   4. engine runs of a ~1B Llama decoder and BERT-base (random init of the real configs in bench/gpu_models/),
#      5 repetitions each: CV, idle before/after, phases summed against the total, and the independent check
#      (NVML counter vs integrated NVML power samples over the same run).
# Everything printed also goes to bench/results/gpu-validate-<device>-<stamp>.txt (engine results as JSON beside it).
#
#   bench/gpu_validate.sh                 # cuda, full-size architectures
#   bench/gpu_validate.sh --device cpu    # CPU: the NVML probes say why they are skipped; tiny models, few samples
set -euo pipefail

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
python="${PYTHON:-$root/.venv/bin/python}"
[[ -x "$python" ]] || python=python3
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 \
  HF_DATASETS_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_VERBOSITY=error
stamp="$(date -u +%Y%m%d-%H%M%S)"
out="$root/bench/results"
mkdir -p "$out"
log="$out/gpu-validate-$device-$stamp.txt"
exec > >(tee "$log") 2>&1
started=$SECONDS

section() { printf '\n== %s (t=%ss)\n' "$1" "$((SECONDS - started))"; }

echo "gpu_validate.sh --device $device at $(date -u +%FT%TZ) on $(hostname), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ "$device" == cuda ]]; then
  nvidia-smi --query-gpu=index,uuid,name,pci.bus_id,power.limit,driver_version --format=csv || true
  probe_env=()
else
  probe_env=(CUDA_VISIBLE_DEVICES="")  # a CPU run must not touch a GPU even where one exists
fi

section "1. NVML counter: update interval and lag"
env "${probe_env[@]}" "$python" bench/gpu_probe.py counter --seconds 4

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

section "4. engine runs: 1B decoder and BERT-base, 5 repetitions"
if [[ "$device" == cuda ]]; then
  "$python" bench/gpu_check.py --device cuda --scale full --models llama-3.2-1b bert-base-uncased \
    --samples 100 --repetitions 5 --out "$out"
else
  env "${probe_env[@]}" "$python" bench/gpu_check.py --device cpu --scale tiny --models llama-3.2-1b bert-base-uncased \
    --samples 10 --repetitions 5 --out "$out"
fi

section "done in $((SECONDS - started)) s; log: ${log#"$root"/}"
