"""Quality beside energy in the Space: cell texts and the energy-quality plot with its Pareto frontier.

The frontier and the floor flag come from `leaderboard_data.quality` (the same reader as the CLI and badges);
this module only displays them. Hover texts carry model ids, so they are HTML-escaped.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from leaderboard_data.configs import TaskConfig
from leaderboard_data.quality import BELOW_FLOOR, LOWER_IS_BETTER, ON_FRONTIER
from space.escape import escape_html

FRONTIER_COLOUR = "#1a7f37"
OTHER_COLOUR = "#6b7280"
BELOW_COLOUR = "#c62828"
_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "height": 420}


def _present(value: Any) -> bool:
    return value is not None and value is not pd.NA and not (isinstance(value, float) and math.isnan(value))


def quality_text(row: dict[str, Any]) -> str:
    """'accuracy 0.82 [0.79, 0.85]', flagged when below the floor; or 'none: why'."""
    value = row.get("quality_value")
    if value is None or not _present(value):
        note = row.get("quality_note")
        return f"none: {note}" if _present(note) and note else "none"
    low, high = row.get("quality_ci_low"), row.get("quality_ci_high")
    interval = f" [{low:.3g}, {high:.3g}]" if _present(low) and _present(high) else ""
    below = row.get("below_quality_floor")
    flag = f" ⚠ {BELOW_FLOOR}" if _present(below) and bool(below) else ""
    return f"{row.get('quality_metric')} {float(value):.3g}{interval}{flag}"


def frontier_text(row: dict[str, Any]) -> str:
    """'◆ on the frontier', or who uses less energy at equal or better quality, or why it is not compared."""
    note = str(row.get("frontier_note") or "")
    text = f"◆ {note}" if note == ON_FRONTIER else note
    guard = row.get("output_guard")
    return f"{text}; ⚠ {guard}" if _present(guard) and guard else text


def _hover(rows: pd.DataFrame) -> list[str]:
    return [
        f"<b>{escape_html(str(r['model_id']))}</b><br>{float(r['scored_energy_wh_per_1k']):.4g} Wh/1k"
        f"<br>{escape_html(str(r['quality_metric']))} {float(r['quality_value']):.3g}"
        f"<br>{escape_html(frontier_text(r))}"
        for r in rows.to_dict("records")
    ]


def energy_vs_quality(rows: pd.DataFrame, title: str, config: TaskConfig | None) -> go.Figure:
    """Energy per query (log) against quality, the frontier drawn as a step line through its models."""
    figure = go.Figure()
    figure.update_layout(title=title, legend_title_text="Energy-quality", **_LAYOUT)
    scored = rows[[_present(v) for v in rows.get("quality_value", pd.Series(dtype=float))]] if not rows.empty else rows
    if scored.empty:
        quality = config.quality if config is not None else None
        why = quality.reason if quality is not None and quality.metric == "none" else "no result has a quality figure"
        figure.add_annotation(
            text=f"No quality figure: {why}"[:160], showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
        )
        figure.update_xaxes(visible=False)
        figure.update_yaxes(visible=False)
        return figure
    on = scored["on_frontier"].fillna(False).astype(bool) if "on_frontier" in scored else pd.Series(False)
    below = scored["below_quality_floor"].astype(bool) if "below_quality_floor" in scored else pd.Series(False)
    groups = (
        ("on the frontier", on, FRONTIER_COLOUR, "diamond"),
        ("below quality floor", below, BELOW_COLOUR, "x"),
        ("others", ~on & ~below, OTHER_COLOUR, "circle"),
    )
    for name, mask, colour, symbol in groups:
        part = scored[mask.to_numpy()]
        if part.empty:
            continue
        figure.add_trace(
            go.Scatter(
                x=part["quality_value"].astype(float),
                y=part["scored_energy_wh_per_1k"].astype(float),
                mode="markers",
                name=name,
                marker={"color": colour, "size": 10, "symbol": symbol},
                text=_hover(part),
                hovertemplate="%{text}<extra></extra>",
            )
        )
    frontier = scored[on.to_numpy()]
    metric = str(scored["quality_metric"].iloc[0])
    if not frontier.empty:
        ordered = frontier.sort_values("scored_energy_wh_per_1k")
        figure.add_trace(
            go.Scatter(
                x=ordered["quality_value"].astype(float),
                y=ordered["scored_energy_wh_per_1k"].astype(float),
                mode="lines",
                line={
                    "color": FRONTIER_COLOUR,
                    "dash": "dot",
                },
                name="Pareto frontier",
                hoverinfo="skip",
            )
        )
    better = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
    figure.update_xaxes(title_text=f"{metric} ({better})")
    figure.update_yaxes(type="log", title_text="scored energy (Wh per 1,000 queries, log)")
    return figure


DEMO_DATA_NOTE = (
    "Demo data: this task's inputs and labels are generated by the embedded default, not the configured dataset; "
    "random-initialised demo models score at chance, and their quality says nothing about any real model."
)


def quality_description(config: TaskConfig, *, demo_data: bool) -> str:
    """The task's quality metric, floor and gate in a sentence (Markdown), with the demo-data note when it applies."""
    quality = config.quality
    if quality is None:
        text = "\n\nQuality: none yet."
    elif quality.metric == "none":
        text = f"\n\nQuality: none yet ({quality.reason})."
    else:
        floor = quality.floor.why if quality.floor is not None else "none"
        gate = "a result below it gets no stars" if quality.gate == "unrank" else "a result below it is flagged"
        text = f"\n\nQuality: {quality.metric} ({quality.direction} is better); floor: {floor}; {gate}."
    return text + (f"\n\n**{DEMO_DATA_NOTE}**" if demo_data else "")
