"""The one source of the leaderboard's column names, labels and types.

Every table the Space shows is built from these declarations, so renaming a header is one edit here. `key` is
the column's name in the frames `space.data` builds; `label` is the header people see; `datatype` is what
`gr.Dataframe` renders (markdown cells are escaped before they are built); `sort_key` names the numeric
column a table is sorted by when people pick this column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Datatype = Literal["str", "number", "markdown"]


@dataclass(frozen=True)
class Column:
    """One displayed column: internal key, header label, cell type and an optional numeric sort key."""

    key: str
    label: str
    datatype: Datatype
    help: str
    sort_key: str | None = None


RANK = Column("rank", "Rank", "number", "place within the cohort (task, config version, hardware, size class)", "rank")
MODEL = Column("model", "Model", "markdown", "model id, linked to its Hub page")
RATING = Column("rating", "Rating", "str", "1 to 5 stars within the cohort; 5 is the most efficient")
ENERGY = Column(
    "energy",
    "Energy (Wh/1k queries)",
    "number",
    "scored energy in watt-hours per 1,000 queries, mean over repetitions",
    "scored_energy_wh_per_1k",
)
ENERGY_CI = Column("energy_ci", "95% interval (Wh/1k)", "str", "95% confidence interval of the scored energy")
PER_TOKEN = Column(
    "per_token",
    "Wh/1k output tokens",
    "number",
    "text generation: the scored energy per 1,000 generated tokens (energy per query / output tokens per query); "
    "the rank stays per query",
    "wh_per_1k_output_tokens",
)
OUTPUT_TOKENS = Column(
    "output_tokens",
    "Output tokens/query",
    "number",
    "text generation: generated tokens per query, mean over repetitions",
    "output_tokens_per_query",
)
SCORED_ON = Column("scored_on", "Scored on", "str", "the device whose energy ranks the model, and how it was read")
GPU = Column("gpu", "GPU (Wh/1k)", "number", "GPU energy per 1,000 queries", "gpu_energy_wh_per_1k")
CPU = Column("cpu", "CPU (Wh/1k)", "number", "CPU energy per 1,000 queries", "cpu_energy_wh_per_1k")
RAM = Column("ram", "RAM (Wh/1k)", "number", "RAM energy per 1,000 queries", "ram_energy_wh_per_1k")
METERS = Column("meters", "Measured or estimated", "str", "per device: read from a hardware counter or estimated")
PARAMETERS = Column("parameters", "Parameters (M)", "number", "parameter count in millions", "num_parameters")
SIZE_CLASS = Column("size_class", "Size class", "str", "memory class the model falls in (A, B, C)")
HARDWARE = Column("hardware", "Hardware", "str", "hardware class the result was measured on")
CONFIG = Column("config", "Config version", "str", "version of the task's standardized benchmark")
PRECISION = Column("precision", "Precision", "str", "numeric precision of the weights during the run")
LATENCY = Column("latency", "Latency (s, mean)", "number", "mean latency of one query", "latency_s_mean")
DATE = Column("date", "Date", "str", "when the measurement finished (UTC)", "finished_at")
TASK = Column("task", "Task", "str", "standardized task")
QUALITY = Column(
    "quality", "Quality [95% CI]", "str", "the task's quality metric on the same run's outputs, with its interval"
)
FRONTIER = Column(
    "frontier", "Energy-quality", "str", "◆ on the frontier, or who uses less energy at equal or better quality"
)

LEADERBOARD_COLUMNS: tuple[Column, ...] = (
    RANK,
    MODEL,
    RATING,
    ENERGY,
    ENERGY_CI,
    PER_TOKEN,
    OUTPUT_TOKENS,
    QUALITY,
    FRONTIER,
    SCORED_ON,
    GPU,
    CPU,
    RAM,
    METERS,
    PARAMETERS,
    SIZE_CLASS,
    HARDWARE,
    PRECISION,
    CONFIG,
    LATENCY,
    DATE,
)

MODEL_COLUMNS: tuple[Column, ...] = (
    TASK,
    RATING,
    ENERGY,
    ENERGY_CI,
    PER_TOKEN,
    OUTPUT_TOKENS,
    QUALITY,
    FRONTIER,
    SCORED_ON,
    GPU,
    CPU,
    RAM,
    METERS,
    HARDWARE,
    PRECISION,
    CONFIG,
    DATE,
)

SORTABLE_COLUMNS: tuple[Column, ...] = tuple(c for c in LEADERBOARD_COLUMNS if c.sort_key is not None)

# The queue table.
Q_STATUS = Column("status", "Status", "str", "PENDING, RUNNING, FINISHED, FAILED or CANCELLED")
Q_MODEL = Column("model", "Model", "markdown", "model id, linked to its Hub page")
Q_TASK = Column("task", "Task", "str", "task the model was submitted for")
Q_PRECISION = Column("precision", "Precision", "str", "precision asked for")
Q_SUBMITTED = Column("submitted", "Submitted (UTC)", "str", "when the request was queued")
Q_DETAIL = Column("detail", "Details", "str", "place in the queue, worker and start time, result, or failure reason")
Q_REQUEST_ID = Column("request_id", "Request id", "str", "identifier of the request")

QUEUE_COLUMNS: tuple[Column, ...] = (Q_STATUS, Q_MODEL, Q_TASK, Q_PRECISION, Q_SUBMITTED, Q_DETAIL, Q_REQUEST_ID)


def labels(columns: tuple[Column, ...]) -> list[str]:
    """Header labels in display order."""
    return [c.label for c in columns]


def datatypes(columns: tuple[Column, ...]) -> list[Datatype]:
    """`gr.Dataframe` datatypes in display order."""
    return [c.datatype for c in columns]


def by_label(label: str) -> Column:
    """The leaderboard column shown under `label`; KeyError for an unknown label."""
    for column in LEADERBOARD_COLUMNS:
        if column.label == label:
            return column
    raise KeyError(label)
