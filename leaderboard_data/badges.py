"""Energy badges for model cards: one small SVG per (model, task), e.g. "⚡ energy | 4/5 · 0.22 Wh/1k · ...".

The same drawing is served by the Space (`/badge/<org>/<name>/<task>.svg`, always as current as the Space) and
written to the results dataset at `badges/<org>/<name>/<task>.svg` when results are published.

Which result a badge shows: a model may have several results for one task (hardware classes, config versions,
re-runs). The badge shows its latest rated result; when none is rated, its latest result, marked "not rated"
with the reason in the tooltip ("cohort too small", "unstable", an old config), never with stars. The badge
names the hardware and says when the figure is estimated rather than measured.

Everything from the data (model id, notes, hardware) is XML-escaped, so a hostile model id stays text.

Example:
    >>> rows = best_rows(rated_frame)
    >>> svg = badge_svg(badge_from_row(rows.iloc[0].to_dict(), "Text generation"))
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pandas as pd

from leaderboard_data.configs import TaskConfig
from leaderboard_data.errors import SubmissionError
from leaderboard_data.model_ids import validate_model_id
from leaderboard_data.quality import BELOW_FLOOR, ON_FRONTIER

logger = logging.getLogger(__name__)

BADGES_PREFIX = "badges/"
STAR_LEVELS = 5
STAR_COLOURS = {5: "#1a7f37", 4: "#57a639", 3: "#d4a106", 2: "#e3751c", 1: "#c62828"}
UNRATED_COLOUR = "#6b7280"
LABEL_COLOUR = "#555555"
LEFT_TEXT = "⚡ energy"
_HEIGHT = 20
_PAD = 6

# Rough advance widths (px) of Verdana 11px; `textLength` then fits whatever font the viewer has.
_NARROW = set("fijlrtI1.,:;!|'·()[] /")
_WIDE = set("mwMW@%")


@dataclass(frozen=True)
class Badge:
    """What one badge says; plain text and numbers, escaped only when drawn."""

    model_id: str
    task: str
    task_title: str
    stars: int | None
    rating_note: str
    energy_wh_per_1k: float
    measured: bool
    hardware_class: str
    config_version: str
    unstable: bool = False
    quality_mark: str = ""
    """"on the frontier", "below quality floor" or "" (`leaderboard_data.quality`)."""

    @property
    def rating_text(self) -> str:
        """'4/5', or 'not rated' with a short reason."""
        if self.stars is not None:
            return f"{self.stars}/{STAR_LEVELS}"
        note = self.rating_note.lower()
        if self.unstable or "unstable" in note:
            return "not rated (unstable)"
        if note.startswith("cohort too small"):
            return "not rated (too few peers)"
        if note.startswith("below quality floor"):
            return "not rated (below quality floor)"
        return "not rated"

    @property
    def value_text(self) -> str:
        """The right-hand text: rating, energy (marked 'est.' when estimated), task and hardware."""
        energy = f"{energy_text(self.energy_wh_per_1k)} Wh/1k" + ("" if self.measured else " est.")
        parts = [self.rating_text, energy, _lower_first(self.task_title), self.hardware_class]
        if self.quality_mark and self.quality_mark not in self.rating_text:
            parts.insert(2, self.quality_mark)
        return " · ".join(parts)

    @property
    def title(self) -> str:
        """The tooltip: everything, in words."""
        rating = f"{self.stars} of {STAR_LEVELS} stars" if self.stars is not None else "not rated"
        if self.stars is None and self.rating_note:
            rating += f" ({self.rating_note})"
        how = "measured" if self.measured else "estimated"
        return (
            f"AI Energy Score · {self.model_id} · {self.task_title}: {rating}; "
            f"{energy_text(self.energy_wh_per_1k)} Wh per 1,000 queries ({how}) on {self.hardware_class}, "
            f"config {self.config_version}" + (f"; {self.quality_mark}" if self.quality_mark else "")
        )

    @property
    def colour(self) -> str:
        return STAR_COLOURS.get(self.stars or 0, UNRATED_COLOUR)


def energy_text(value: float) -> str:
    """3 significant figures, thousands grouped above 1,000."""
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def text_width(text: str) -> int:
    """Approximate width in pixels of `text` in 11px Verdana."""
    return round(sum(4.0 if c in _NARROW else 10.0 if c in _WIDE else 7.0 for c in text))


def badge_svg(badge: Badge) -> str:
    """The badge as a standalone SVG document (shields.io's flat style)."""
    left_w = text_width(LEFT_TEXT) + 2 * _PAD
    value = badge.value_text
    right_w = text_width(value) + 2 * _PAD
    width = left_w + right_w
    title = escape(badge.title)
    label = quoteattr(f"energy: {value}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{_HEIGHT}" role="img" aria-label={label}>'
        f"<title>{title}</title>"
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="{_HEIGHT}" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left_w}" height="{_HEIGHT}" fill="{LABEL_COLOUR}"/>'
        f'<rect x="{left_w}" width="{right_w}" height="{_HEIGHT}" fill="{badge.colour}"/>'
        f'<rect width="{width}" height="{_HEIGHT}" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f"{_text(left_w / 2, LEFT_TEXT)}{_text(left_w + right_w / 2, value)}</g></svg>\n"
    )


def _text(x: float, text: str) -> str:
    length = text_width(text)
    body = escape(text)
    shadow = f'<text x="{x:g}" y="15" fill="#010101" fill-opacity=".3" textLength="{length}">{body}</text>'
    return f'{shadow}<text x="{x:g}" y="14" textLength="{length}" lengthAdjust="spacingAndGlyphs">{body}</text>'


def badge_path(model_id: str, task: str) -> str:
    """Where the badge lives in the results dataset."""
    return f"{BADGES_PREFIX}{model_id}/{task}.svg"


def best_rows(rated: pd.DataFrame) -> pd.DataFrame:
    """One row per (model_id, task): the latest rated result, else the latest result."""
    if rated.empty:
        return rated
    order = rated.assign(_rated=rated["stars"].notna()).sort_values(["_rated", "finished_at"], kind="stable")
    return order.drop_duplicates(["model_id", "task"], keep="last").drop(columns="_rated")


def badge_from_row(row: Mapping[str, Any], task_title: str) -> Badge:
    """A badge from one rated results row (columns of `results.RESULT_COLUMNS` plus `stars`, `rating_note`)."""
    stars = row.get("stars")
    return Badge(
        model_id=str(row["model_id"]),
        task=str(row["task"]),
        task_title=task_title,
        stars=None if stars is None or pd.isna(stars) else int(stars),
        rating_note=str(row.get("rating_note") or ""),
        energy_wh_per_1k=float(row["scored_energy_wh_per_1k"]),
        measured=_true(row.get("scored_energy_measured")),
        hardware_class=str(row["hardware_class"]),
        config_version=str(row["config_version"]),
        unstable=_true(row.get("unstable")),
        quality_mark=_quality_mark(row),
    )


def _quality_mark(row: Mapping[str, Any]) -> str:
    if _true(row.get("below_quality_floor")):
        return BELOW_FLOOR
    return ON_FRONTIER if _true(row.get("on_frontier")) else ""


def _true(value: Any) -> bool:
    """True only for a present, true flag (a column absent from older files reads as None)."""
    return value is not None and not pd.isna(value) and bool(value)


def badge_files(rated: pd.DataFrame, task_configs: Mapping[str, TaskConfig]) -> dict[str, bytes]:
    """Every (model, task) badge of a rated results frame, by path in the results dataset.

    A model id that is not a valid Hub id gets no file (its path could not be stored safely); the Space still
    serves its badge.
    """
    files = {}
    for row in best_rows(rated).to_dict("records"):
        task = str(row["task"])
        try:
            validate_model_id(str(row["model_id"]))
        except SubmissionError:
            logger.warning("no badge file for %r: not a Hub model id, so not a safe path", row["model_id"])
            continue
        title = task_configs[task].title if task in task_configs else task
        files[badge_path(str(row["model_id"]), task)] = badge_svg(badge_from_row(row, title)).encode("utf-8")
    return files
