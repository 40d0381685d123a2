"""Plotly figures: a task's energy against model size, where one result sits in its task, a result's phases.

Hover texts carry model ids, so they are HTML-escaped (plotly renders a subset of HTML in hover labels).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from space.escape import escape_html
from space.label import STAR_COLOURS, UNRATED_COLOUR

_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "height": 420}
DEVICE_COLOURS = {"gpu": "#2563eb", "cpu": "#f59e0b", "ram": "#10b981"}


def _empty(title: str, message: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=title, **_LAYOUT)
    figure.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return figure


def _hover(rows: pd.DataFrame) -> list[str]:
    return [
        f"<b>{escape_html(m)}</b><br>{e:.4g} Wh/1k ({escape_html(d)})<br>{p / 1e6:,.1f} M parameters"
        f"<br>{escape_html(h)} · config {escape_html(c)}"
        for m, e, d, p, h, c in zip(
            rows["model_id"],
            rows["scored_energy_wh_per_1k"].astype(float),
            rows["scored_device"],
            rows["num_parameters"].astype(float),
            rows["hardware_class"],
            rows["config_version"],
            strict=True,
        )
    ]


def energy_vs_parameters(rows: pd.DataFrame, title: str) -> go.Figure:
    """Scored energy against parameter count, both on log axes, one trace per star level."""
    if rows.empty:
        return _empty(title, "No results for this task yet")
    figure = go.Figure()
    stars = rows["stars"]
    for level in (5, 4, 3, 2, 1, None):
        part = rows[stars.isna()] if level is None else rows[stars.fillna(0).astype(int) == level]
        if part.empty:
            continue
        name = "not rated" if level is None else "★" * level
        figure.add_trace(
            go.Scattergl(
                x=part["num_parameters"].astype(float),
                y=part["scored_energy_wh_per_1k"].astype(float),
                mode="markers",
                name=name,
                marker={"color": STAR_COLOURS.get(level or 0, UNRATED_COLOUR), "size": 8, "opacity": 0.8},
                text=_hover(part),
                hovertemplate="%{text}<extra></extra>",
            )
        )
    figure.update_layout(title=title, legend_title_text="Rating", **_LAYOUT)
    figure.update_xaxes(type="log", title_text="parameters")
    figure.update_yaxes(type="log", title_text="scored energy (Wh per 1,000 queries)")
    return figure


def position_in_task(peers: pd.DataFrame, model_id: str, energy: float, title: str) -> go.Figure:
    """The task's energy distribution (same hardware) as a histogram on a log scale, with this result marked."""
    values = peers["scored_energy_wh_per_1k"].astype(float).to_numpy()
    values = values[values > 0]
    if len(values) == 0:
        return _empty(title, "No results to compare with")
    edges = np.logspace(np.log10(values.min()) - 0.05, np.log10(values.max()) + 0.05, 30)
    counts, edges = np.histogram(values, bins=edges)
    centres = np.sqrt(edges[:-1] * edges[1:])
    figure = go.Figure(
        go.Bar(
            x=centres,
            y=counts,
            width=np.diff(edges),
            marker_color="#9ca3af",
            name="other results",
            hovertemplate="%{y} results near %{x:.3g} Wh/1k<extra></extra>",
        )
    )
    figure.add_vline(x=energy, line_color="#dc2626", line_width=3)
    figure.add_annotation(
        x=np.log10(energy),
        y=1,
        yref="paper",
        text=escape_html(model_id),
        showarrow=False,
        font={"color": "#dc2626"},
        yanchor="bottom",
    )
    figure.update_layout(title=title, showlegend=False, **_LAYOUT)
    figure.update_xaxes(type="log", title_text="scored energy (Wh per 1,000 queries)")
    figure.update_yaxes(title_text="results")
    return figure


PHASE_METHODS = {
    "window": "own window",
    "time_attributed": "split by time",
    "subtracted": "difference of windows",
    "imported": "imported",
}
"""How each phase figure was obtained (`EnergyFigure.method`), as written on its bar."""


def phases_bar(phases: pd.DataFrame, title: str) -> go.Figure:
    """Energy per phase and device with 95% intervals; estimated figures are hatched, each bar names its method."""
    if phases.empty:
        return _empty(title, "No per-phase figures for this result")
    figure = go.Figure()
    for device, part in phases.groupby("device", sort=False):
        means = part["mean_wh_per_1k"].astype(float)
        measured = part["measured"].fillna(False).astype(bool)
        figure.add_trace(
            go.Bar(
                x=part["phase"],
                y=means,
                name=str(device).upper(),
                marker={
                    "color": DEVICE_COLOURS.get(str(device), "#6b7280"),
                    "pattern": {"shape": ["" if m else "/" for m in measured]},
                },
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": (part["ci95_high_wh_per_1k"].astype(float) - means).clip(lower=0),
                    "arrayminus": (means - part["ci95_low_wh_per_1k"].astype(float)).clip(lower=0),
                },
                customdata=[
                    f"{'measured' if m else 'estimated'}, {PHASE_METHODS.get(str(k), str(k))}"
                    for m, k in zip(measured, part["method"], strict=True)
                ],
                text=[PHASE_METHODS.get(str(k), str(k)) for k in part["method"]],
                textposition="outside",
                hovertemplate="%{x}: %{y:.4g} Wh/1k (%{customdata})<extra>" + str(device).upper() + "</extra>",
            )
        )
    figure.update_layout(title=title, barmode="group", legend_title_text="device (hatched: estimated)", **_LAYOUT)
    figure.update_yaxes(title_text="Wh per 1,000 queries")
    return figure
