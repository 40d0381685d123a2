"""The Space's texts: what is measured and how, what the stars mean, and how to get the data."""

from __future__ import annotations

from leaderboard_data.configs import TaskConfig
from leaderboard_data.queue import duration_words
from leaderboard_data.ratings import TIE_RULE_TEXT, RatingThresholds
from space.escape import escape_markdown

TITLE = "# ⚡ AI Energy Score leaderboard"

INTRO = (
    "How much energy does a model spend to answer **1,000 queries** of a standardized task? Every number here "
    "comes with the hardware it was measured on, the version of the task's benchmark config, a 95% interval "
    "over repetitions, and whether it was **measured** by a hardware counter or **estimated** from a model of "
    "the hardware."
)

METHOD = """
## How the numbers are made

- **Workload.** Each task has one standardized config (`configs/<task>.yaml`): a fixed dataset sample, batch size
  1, warm-up runs, inputs truncated to the model's maximum length, and for generative tasks a fixed number of new
  tokens, so every model does the same amount of work.
- **Energy.** GPU energy comes from NVML's total-energy counter (deltas per phase, synchronised at both edges).
  CPU energy comes from RAPL where the machine exposes it; otherwise it is estimated from the CPU's TDP and load,
  and RAM energy is estimated from the installed memory. Estimated figures are marked *estimated* everywhere.
- **Phases.** Preprocessing, prefill and decode (or forward, or denoising) are measured separately; the scored
  energy is the sum over the inference phases on the scored device (the GPU when there is one, else the CPU).
- **Rounds.** The samples are measured in slices, each repeated until it lasts at least the config's minimum
  window; a round measures every slice once, and at least two rounds run. The table gives the mean over all the
  samples with a 95% interval of its measurement uncertainty (from each slice's repeats across rounds); while it
  is wider than the config allows, whole rounds are added, and a result that stays imprecise is unstable.
- **Idle baseline.** Power with the model loaded and idle is measured before and after the passes and reported
  beside the gross energy.
- **Comparability.** Results are ranked only against results of the same task, config version, hardware class
  and scored device (and size class for text generation), and of the same protocol: the demo's results are
  ranked only among themselves, imported results of another protocol apart. A new config version starts a new
  ranking. A model counts once per cohort, with its latest valid result; earlier results stay listed as history,
  unranked; an unstable result is shown without stars, and an exploratory one (measured otherwise than its
  protocol: other samples or rounds, another load gate, foreign load in a window) is listed apart with the reason.
"""

STARS_INTRO = """
## What the stars mean

Within each cohort the results are cut into five bands by four energy thresholds (rank-based quintiles, so one
outlier cannot squeeze everyone else into one band). **★★★★★** marks the most efficient fifth, **★** the least.
Results whose 95 % intervals overlap cannot be told apart, so they always share their stars: a threshold only falls
where the intervals of every result below it lie wholly below those of every result above it. A band may then hold
more or less than a fifth; with at least five such tie groups no star level stays empty, and a cohort that is one
tie group gets five stars throughout.
A cohort with fewer than the minimum number of models is not rated yet ("cohort too small (n of 5)").
"""


def stars_markdown(thresholds: RatingThresholds | None, published: bool) -> str:
    """The current thresholds of every cohort as a markdown table."""
    if thresholds is None or not thresholds.cohorts:
        return STARS_INTRO + "\nNo cohort has results yet."
    origin = (
        "published with the results (`ratings/thresholds.json`)"
        if published
        else "computed from the results shown, as none are published yet"
    )
    lines = [
        STARS_INTRO,
        f"Thresholds in Wh per 1,000 queries, method **{thresholds.method}** ({TIE_RULE_TEXT}), "
        f"minimum cohort size {thresholds.min_cohort_size}, {origin}, "
        f"computed {thresholds.computed_at:%Y-%m-%d %H:%M} UTC.",
        "",
        "| cohort | config | models | ★★★★★ up to | ★★★★ up to | ★★★ up to | ★★ up to | ★ above |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, cohort in sorted(thresholds.cohorts.items()):
        name = escape_markdown(key)
        if cohort.cuts_wh_per_1k is None:
            lines.append(f"| {name} | {cohort.config_version} | {cohort.n} | {escape_markdown(cohort.note)} | | | | |")
            continue
        cuts = [f"{c:.4g}" for c in cohort.cuts_wh_per_1k]
        lines.append(f"| {name} | {cohort.config_version} | {cohort.n} | {' | '.join(cuts)} | {cuts[-1]} |")
    return "\n".join(lines)


def configs_markdown(task_configs: dict[str, TaskConfig]) -> str:
    """Every task with its current config version and what it runs."""
    lines = [
        "## Tasks and config versions",
        "",
        "| task | config version | what it runs | samples | repetitions | rated by size class |",
        "|---|---|---|---|---|---|",
    ]
    for name, config in sorted(task_configs.items()):
        lines.append(
            f"| {escape_markdown(config.title)} (`{name}`) | {config.config_version} | "
            f"{escape_markdown(config.description)} | {config.num_samples} | {config.repetitions} | "
            f"{'yes' if config.rate_by_size_class else 'no'} |"
        )
    return "\n".join(lines)


def dataset_snippet(location: str, task: str) -> str:
    """Three lines of Python that load one task's results with `datasets`."""
    return (
        "## Get the data\n\n"
        "```python\n"
        "from datasets import load_dataset\n"
        f'results = load_dataset({location!r}, {task!r}, split="train")\n'
        'print(results.to_pandas()[["model_id", "scored_energy_wh_per_1k", "hardware_class"]])\n'
        "```\n"
    )


BADGES = """
## Badges for model cards

Every (model, task) with a result has a badge at `/badge/<org>/<name>/<task>.svg` on this Space, and a copy at
`badges/<org>/<name>/<task>.svg` in the results dataset, rewritten whenever results of that task are published.
It shows the model's latest rated result for the task: stars out of 5, Wh per 1,000 queries ("est." when the
figure is estimated rather than measured), the task and the hardware class. A model whose results are not rated
(cohort too small, unstable: its mean not precise enough, exploratory: measured otherwise than its protocol, an
older config version) gets a grey badge that says "not rated",
with the reason in its tooltip, never stars. The Model tab gives the Markdown to paste.
"""

OVERVIEW = """
Energy per query spans orders of magnitude across tasks: Luccioni, Jernite & Strubell ("Power Hungry Processing",
FAccT 2024) found image generation the costliest by far. Each point is one model (its latest result on the
hardware class), the red bar each task's median; the axis is logarithmic. Only results on the same hardware class
are shown together.
"""

COMPARE = """
Pick 2 to 4 results of one task. Where two 95% intervals overlap, the results are **not distinguishable at
95 %**: the measurements cannot tell which model uses less energy. Where they do not overlap, the difference is
real at that level.
"""

SUBMIT_HELP = """
Queue a model for one task. The model must be public, load without remote code, ship safetensors weights and fit
the task. Each (model, revision, task, precision) is benchmarked once; each submitter has a quota of submissions
per day. The default precision is the task's standard one.
"""


def submit_window_note(window_s: float) -> str:
    """What a submitter waits for when submissions are gathered into one commit per window (Hub deployments)."""
    if window_s <= 0:
        return ""
    return (
        f"Submissions are gathered and queued together once every {duration_words(window_s)}, so that the "
        "requests dataset stays within the Hub's commit limit. Your receipt appears when that commit has landed: "
        f"keep this page open for up to {duration_words(window_s)}."
    )
