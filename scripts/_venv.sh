# Sourced by scripts/demo, scripts/test and scripts/lock: make sure .venv exists and holds exactly the committed
# lock (requirements/lock.txt) plus this checkout, installed editable without dependencies.
# Re-installs only when the lock or pyproject.toml changed since the last install (a stamp file records their hash).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.energy-score-installed"
WANT="$(cat "$ROOT/requirements/lock.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "==> installing requirements/lock.txt and ai-energy-score into $VENV (first time: a few minutes)"
    # The lock pins every package, torch included (the CPU build pip takes from local disk), so nothing can pull
    # a different build; --no-deps keeps the project's own install from resolving anything anew.
    "$VENV/bin/python" -m pip install --quiet -r "$ROOT/requirements/lock.txt"
    "$VENV/bin/python" -m pip install --quiet --no-deps -e "$ROOT"
    echo "$WANT" > "$STAMP"
fi
export GRADIO_ANALYTICS_ENABLED=False
export HF_HUB_DISABLE_TELEMETRY=1
