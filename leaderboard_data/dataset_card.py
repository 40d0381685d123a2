"""The results dataset's card (README.md): YAML front matter for the Hub and `datasets`, then the method.

The `configs:` section names one config per task that has results, each reading `data/<task>/*.parquet`, so
`datasets.load_dataset(repo, "<task>")` works the same on the Hub and on a local folder. A task with no results
yet is described in the body but not listed as a config: datasets 5.2 cannot load a split with zero rows
("Instruction 'train' corresponds to no data"), whether the parquet file has no row group or an empty one.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import yaml

from leaderboard_data.configs import TaskConfig
from leaderboard_data.quality import FRONTIER_CONFIG, FRONTIER_PATH
from leaderboard_data.quality_card import quality_section
from leaderboard_data.ratings import TIE_RULE_TEXT, RatingThresholds

PRETTY_NAME = "AI Energy Score results"
LICENSE = "apache-2.0"
TAGS = ["energy", "sustainability", "benchmark", "leaderboard", "green-ai"]

VERIFICATIONS_PREFIX = "verifications/"
VERIFICATIONS_CONFIG = "verifications"

_DEVICE_TEXT = {"gpu": "GPU", "cpu": "CPU", "ram": "RAM"}


def _device_descriptions(device: str) -> dict[str, str]:
    name = _DEVICE_TEXT[device]
    return {
        f"{device}_energy_wh_per_1k": f"{name} energy of the whole run (phase 'total'), Wh per 1,000 queries; "
        "empty when not recorded",
        f"{device}_energy_std": f"standard deviation of {name} energy over repetitions, Wh per 1,000 queries",
        f"{device}_energy_ci95_low": f"lower end of the 95% confidence interval of {name} energy",
        f"{device}_energy_ci95_high": f"upper end of the 95% confidence interval of {name} energy",
        f"{device}_energy_measured": f"true if {name} energy came from a hardware counter, false if estimated",
    }


COLUMN_DESCRIPTIONS: dict[str, str] = {
    "result_id": "unique id of this result",
    "request_id": "id of the request it answers (empty for results measured outside the queue)",
    "model_id": "Hub model id (or local model name)",
    "revision": "model commit sha (Hub) or content hash (local) that was measured",
    "task": "standardized task, one config of this dataset",
    "config_version": "version of the task config the result was measured under",
    "precision": "weights and compute precision: float32, float16 or bfloat16",
    "device": "cpu or cuda",
    "num_parameters": "number of model parameters",
    "size_class": "size class of the model (text generation is rated within size classes)",
    "hardware_class": "class of machine; results are ranked only against the same class",
    "accelerator_name": "GPU model, empty on CPU-only machines",
    "accelerator_count": "number of GPUs used",
    "driver_version": "GPU driver version",
    "power_limit_w": "GPU power limit, watts",
    "cpu_model": "CPU model",
    "cpu_count": "logical CPU count",
    "ram_gb": "system memory, GB",
    "node": "host that ran the benchmark",
    "worker_id": "worker process that ran the benchmark",
    "scored_device": "device whose energy ranks the model (gpu, or cpu on CPU-only machines)",
    "scored_energy_wh_per_1k": "energy that ranks the model: inference energy of the scored device, Wh/1k queries",
    "scored_energy_measured": "true if the scored energy came from a hardware counter, false if estimated",
    "scored_energy_ci95_low": "lower end of the 95% confidence interval of the scored device's total energy",
    "scored_energy_ci95_high": "upper end of the 95% confidence interval of the scored device's total energy",
    **_device_descriptions("gpu"),
    **_device_descriptions("cpu"),
    **_device_descriptions("ram"),
    "total_energy_wh_per_1k": "sum of the GPU, CPU and RAM totals that were recorded, Wh per 1,000 queries",
    "idle_power_w_json": "JSON object: idle power per device with the model loaded, watts",
    "decode_method": "how prefill and decode energy were separated (generative tasks)",
    "latency_s_mean": "mean latency of one query, seconds",
    "latency_s_p95": "95th percentile latency of one query, seconds",
    "throughput_queries_per_s": "queries per second",
    "queries": "queries run in the measured windows of all repetitions together",
    "input_tokens": "input tokens over those queries",
    "output_tokens": "generated tokens over those queries",
    "images": "images produced over those queries",
    "audio_seconds": "seconds of audio processed over those queries",
    "output_tokens_per_query": "text generation: generated tokens per query, mean over repetitions",
    "input_tokens_per_query": "text generation: prompt tokens per query, mean over repetitions",
    "wh_per_1k_output_tokens": "text generation: the scored device's energy per 1,000 generated tokens "
    "(scored_energy_wh_per_1k / output_tokens_per_query)",
    "wh_per_1k_output_tokens_ci95_low": "lower end of its 95% interval (ratio of means over repetitions)",
    "wh_per_1k_output_tokens_ci95_high": "upper end of its 95% interval",
    "prefill_wh_per_1k_input_tokens": "text generation: the scored device's prefill energy per 1,000 prompt tokens",
    "prefill_wh_per_1k_input_tokens_ci95_low": "lower end of its 95% interval (ratio of means over repetitions)",
    "prefill_wh_per_1k_input_tokens_ci95_high": "upper end of its 95% interval",
    "tokens_json": "JSON object: the per-token figures with their intervals, repetitions, measured flag and method "
    "(the energy figure's: window, time_attributed, subtracted)",
    "peak_memory_mb": "peak accelerator (or process) memory, MB",
    "samples": "dataset samples used",
    "repetitions": "slices of the samples, each measured once per round (rounds: see record_json)",
    "unstable": "true if the scored mean's 95% interval stayed wider than the config's rounds rule allows: shown, "
    "no stars",
    "co2_g_per_1k": "codecarbon's CO2 estimate, grams per 1,000 queries",
    "country_iso_code": "country used for the CO2 estimate",
    "started_at": "start of the benchmark, UTC",
    "finished_at": "end of the benchmark, UTC",
    "source": 'where the result comes from: "native" (this pipeline) or "imported (optimum-benchmark X.Y)"',
    "cohort_protocol": '"native" when the workload matches the task config; an imported result whose samples, batch '
    'size or output lengths differ gets its own cohort "imported:<signature>" and is never ranked with native ones; '
    'a protocol profile\'s results theirs, "<profile>:<version>" (the demo\'s: "demo:1.0")',
    "exploratory_reason": "why the result is exploratory (measured otherwise than its protocol says: samples, slices, "
    "rounds, minimum window, load gate, or a window contaminated by foreign load): shown apart, never rated; empty "
    "when it is not",
    "phases_json": "JSON list of every energy figure: phase, device, mean, std, 95% CI, repetitions, measured, "
    "meter, method (window, time_attributed, subtracted, imported), net of idle with its interval",
    "record_json": "the full validated result record as JSON",
    "quality_metric": "the task's quality metric (its config's `quality.metric`), or `none`",
    "quality_value": "the metric on the outputs of this run's own queries, over its distinct samples",
    "quality_ci_low": "low end of the quality's bootstrap interval over samples (95 %)",
    "quality_ci_high": "high end of the quality's bootstrap interval over samples (95 %)",
    "quality_floor": "the task's trivial baseline on the same samples plus its margin",
    "quality_floor_passed": "quality on the right side of the floor; false: shown as below quality floor",
    "quality_unranked": "below the floor under an `unrank` gate: no stars, no rank",
    "quality_note": "why there is no quality figure, when there is none",
    "quality_dataset": "the dataset scored: the config's, or a local copy (demo data on the embedded default)",
}

_METHOD = """\
## Method

- **Unit.** Energy per 1,000 queries in watt-hours (Wh/1k), on a fixed, standardized workload per task: the
  same dataset samples, batch size, output lengths and precision for every model (see each task config).
- **Measured or estimated.** Every figure says whether it came from a hardware energy counter (NVML for GPUs,
  RAPL for CPUs: `*_measured = true`) or from a model of the hardware such as codecarbon's TDP estimate
  (`false`). RAM energy is always an estimate.
- **Method of each phase figure** (`method` in `phases_json`). `window`: the figure has its own measured window
  (load, preprocess, the inference window, a prefill-only window). `time_attributed`: a share of a longer window
  split at phase marks by time, because the meter cannot resolve the phase (a power model, or a counter slower
  than the phase): such a figure is never marked measured. `subtracted`: the difference of two windows (decode =
  inference - prefill-only), its uncertainty propagated. `imported`: read from another tool's report.
- **Idle baseline.** Power with the model loaded and idle is measured before and after the passes, each after a
  settle time and with edges taken just after a counter update, and published beside the gross figures
  (`idle_power_w_json`). A before/after disagreement above the config's threshold is flagged. Net-of-idle figures
  (`phases_json`) carry an interval that spans the idle range; none is given for constant-power models (RAM), and
  a figure not above idle gets no net value but a note, never a negative number.
- **Rounds.** The samples are split into disjoint slices (`repetitions`); a round measures every slice once, each
  repeated until a minimum window is reached, so every sample counts once per round. Figures are means over all
  the samples with a 95% confidence interval of measurement uncertainty, estimated from each slice's repeats
  across rounds (how different the slices are is the dataset's variety, not an error). While the scored mean's
  interval is wider than the config's `rounds.max_relative_half_width`, whole rounds are added within a time
  budget; if it stays wider, the result is `unstable`: shown, but given no stars.
- **Exploratory results.** A result measured otherwise than its protocol says (other samples, slices, rounds,
  minimum window or load gate, or with a window contaminated by foreign load) is published with
  `exploratory_reason` and never rated. A protocol profile (the demo's) is rated only within its own cohort.
- **Quiet machine.** Other processes' CPU time is checked over every window; a contaminated window is measured
  again once the machine is quiet, and a machine that never gets quiet fails the request as `machine_busy` (not
  the model's fault). CPU estimates use codecarbon's process tracking: this benchmark's CPU time, not the
  machine's load.
- **Hardware classes.** Energy depends on the machine, so models are only compared within one
  `hardware_class` and `scored_device` (and within a `size_class` for text generation, and a `cohort_protocol`).
  Each (model, revision, precision) counts once per cohort: its latest result not marked unstable; earlier
  results are kept as history and not ranked.
- **Stars.** 5 stars for the least energy, 1 for the most, within a cohort of at least the minimum size.
  A model's stars follow from the published cut points alone: energy at or below cut 1 earns 5 stars, at or
  below cut 2 earns 4, and so on; above cut 4 earns 1 star. Cut points are in `ratings/thresholds.json`.
"""


_VERIFICATIONS = """\
## Verifications

Config `verifications`: re-measurements of published results by another worker of the same hardware class
(`energy-score verify`), one row each: the result id, the verifier, its hardware, the published and remeasured
figures of the scored device with their 95% intervals, their ratio, and a verdict: `disagrees` when each mean
lies outside the other's interval. A result is never replaced by its verification.
`load_dataset(repo, "verifications", split="train")`."""


def _task_counts(frame_or_counts: pd.DataFrame | Mapping[str, int]) -> dict[str, int]:
    if isinstance(frame_or_counts, pd.DataFrame):
        if frame_or_counts.empty:
            return {}
        return {str(task): int(n) for task, n in frame_or_counts["task"].value_counts().items()}
    return {str(task): int(n) for task, n in frame_or_counts.items()}


def _front_matter(
    task_configs: Mapping[str, TaskConfig], counts: Mapping[str, int], verifications: bool = False
) -> str:
    meta: dict[str, object] = {"pretty_name": PRETTY_NAME, "license": LICENSE, "tags": TAGS}
    configs = [
        {"config_name": task, "data_files": [{"split": "train", "path": f"data/{task}/*.parquet"}]}
        for task in sorted(task_configs)
        if counts.get(task, 0) > 0
    ]
    if configs:  # the energy-quality frontier of every result, rewritten at each publish (leaderboard_data.quality)
        configs.append({"config_name": FRONTIER_CONFIG, "data_files": [{"split": "train", "path": FRONTIER_PATH}]})
    if verifications:  # its own config: re-measurements of published results (leaderboard_data.verifications)
        path = f"{VERIFICATIONS_PREFIX}*.parquet"
        configs.append({"config_name": VERIFICATIONS_CONFIG, "data_files": [{"split": "train", "path": path}]})
    if configs:
        meta["configs"] = configs
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n"


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _tasks_table(task_configs: Mapping[str, TaskConfig], counts: Mapping[str, int]) -> str:
    lines = ["| task | what it measures | config version | results |", "|---|---|---|---|"]
    for task, config in sorted(task_configs.items()):
        n = counts.get(task, 0)
        lines.append(f"| `{task}` | {_cell(config.description)} | {config.config_version} | {n or 'none yet'} |")
    return "\n".join(lines)


def _columns_table() -> str:
    lines = ["| column | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {text} |" for name, text in COLUMN_DESCRIPTIONS.items()]
    return "\n".join(lines)


def _format_cut(value: float) -> str:
    return f"{value:.6g}"


def _thresholds_section(thresholds: RatingThresholds) -> str:
    lines = [
        "## Star thresholds",
        "",
        f"Method: `{thresholds.method}` ({TIE_RULE_TEXT}); cohorts need at least {thresholds.min_cohort_size} models; "
        f"computed at {thresholds.computed_at.isoformat()}",
        "",
    ]
    if not thresholds.cohorts:
        return "\n".join([*lines, "No cohort has results yet."])
    lines += [
        "| cohort | config | models | 5★ up to | 4★ up to | 3★ up to | 2★ up to | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, cohort in sorted(thresholds.cohorts.items()):
        cuts = [_format_cut(c) for c in cohort.cuts_wh_per_1k] if cohort.cuts_wh_per_1k else ["-"] * 4
        row = [f"`{_cell(key)}`", cohort.config_version, str(cohort.n), *cuts, _cell(cohort.note)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _usage(repo_id: str, task_configs: Mapping[str, TaskConfig], counts: Mapping[str, int]) -> str:
    with_results = [task for task in sorted(task_configs) if counts.get(task, 0) > 0]
    task = with_results[0] if with_results else sorted(task_configs)[0]
    return "\n".join(
        [
            "## Usage",
            "",
            "```python",
            "from datasets import load_dataset",
            f'results = load_dataset("{repo_id}", "{task}", split="train")',
            'print(results.to_pandas().sort_values("scored_energy_wh_per_1k").head())',
            "```",
            "",
            "Each task with results is one config. A task with no results yet has no config: `datasets` cannot load",
            "an empty split.",
        ]
    )


def render_dataset_card(
    task_configs: Mapping[str, TaskConfig],
    frame_or_counts: pd.DataFrame | Mapping[str, int],
    thresholds: RatingThresholds,
    *,
    repo_id: str = "ORG/results",
    verifications: bool = False,
) -> str:
    """README.md of the results dataset; `frame_or_counts` is the results frame or results per task.

    With `verifications`, the card also lists the `verifications` config (re-measurements of published results).
    """
    counts = _task_counts(frame_or_counts)
    intro = (
        f"# {PRETTY_NAME}\n\n"
        "Energy used by AI models on standardized tasks, measured by an open pipeline: one row per benchmark of "
        "one model revision on one task. Models are compared within a task and a hardware class and rated from "
        "1 star (most energy) to 5 stars (least). Results are added as they are measured; "
        f"{sum(counts.values())} results so far."
    )
    sections = [
        intro,
        "## Tasks\n\n" + _tasks_table(task_configs, counts),
        _METHOD.rstrip("\n"),
        quality_section(task_configs, frame_or_counts),
        "## Columns\n\n" + _columns_table(),
        _thresholds_section(thresholds),
        _usage(repo_id, task_configs, counts),
    ]
    if verifications:
        sections.append(_VERIFICATIONS)
    return _front_matter(task_configs, counts, verifications) + "\n" + "\n\n".join(sections) + "\n"
