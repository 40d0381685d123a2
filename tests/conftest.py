"""Suite-wide settings: nothing the tests run may reach the internet."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.pop("ENERGY_SCORE_STORE", None)
# The test machine is never quiet (parallel workers, other jobs): benchmarks record foreign load instead of
# waiting for quiet. Tests of the gate itself set it explicitly.
os.environ["ENERGY_SCORE_LOAD_GATE"] = "record"
