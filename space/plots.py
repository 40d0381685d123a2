"""Plotly figures: a task's energy against model size, where one result sits in its task, a result's phases.

Hover texts carry model ids, so they are HTML-escaped (plotly renders a subset of HTML in hover labels).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from leaderboard_data.badges import STAR_COLOURS, UNRATED_COLOUR
from space.escape import escape_html

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


def _jitter(key: str) -> float:
    """A stable vertical offset in [-0.28, 0.28] so points of one task do not sit on one line."""
    return (int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF - 0.5) * 0.56


def tasks_overview(points: pd.DataFrame, order: list[tuple[str, str, float | None]], title: str) -> go.Figure:
    """Every task on one log energy axis: a point per model, the task's median as a red bar.

    `order` is (task, title, median or None) from bottom to top; tasks without results keep their row, labelled
    "no results".
    """
    if not order:
        return _empty(title, "No tasks configured")
    rows = {task: i for i, (task, _, _) in enumerate(order)}
    labels = [f"{t} (no results)" if median is None else t for _, t, median in order]
    figure = go.Figure()
    if not points.empty:
        y = [rows[t] + _jitter(f"{t}/{m}") for t, m in zip(points["task"], points["model_id"], strict=True)]
        measured = points["scored_energy_measured"].fillna(False).astype(bool)
        marker = go.Scattergl if len(points) > 2000 else go.Scatter
        figure.add_trace(
            marker(
                x=points["scored_energy_wh_per_1k"].astype(float),
                y=y,
                mode="markers",
                name="one model",
                marker={"color": ["#2563eb" if m else "#f59e0b" for m in measured], "size": 7, "opacity": 0.6},
                text=[
                    f"<b>{escape_html(m)}</b><br>{e:.4g} Wh/1k ({'measured' if ok else 'estimated'})"
                    for m, e, ok in zip(
                        points["model_id"], points["scored_energy_wh_per_1k"].astype(float), measured, strict=True
                    )
                ],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    medians = [(i, median) for i, (_, _, median) in enumerate(order) if median is not None]
    if medians:
        figure.add_trace(
            go.Scatter(
                x=[m for _, m in medians],
                y=[i for i, _ in medians],
                mode="markers",
                name="median",
                marker={"symbol": "line-ns", "size": 26, "line": {"width": 4, "color": "#dc2626"}},
                hovertemplate="median %{x:.3g} Wh/1k<extra></extra>",
            )
        )
    height = max(420, 46 * len(order) + 120)
    figure.update_layout(
        title=title,
        legend={"orientation": "h", "y": -0.12},
        **{**_LAYOUT, "height": height, "margin": {"l": 230, "r": 20, "t": 50, "b": 80}},
    )
    figure.update_xaxes(type="log", title_text="scored energy (Wh per 1,000 queries; blue measured, orange estimated)")
    figure.update_yaxes(
        tickvals=list(range(len(order))), ticktext=[escape_html(t) for t in labels], range=[-0.6, len(order) - 0.4]
    )
    return figure


def compare_phases(phases: dict[str, pd.DataFrame], title: str) -> go.Figure:
    """Side by side, each picked result's energy per phase on its scored device, with 95% intervals."""
    if not any(len(p) for p in phases.values()):
        return _empty(title, "Pick 2 to 4 results")
    figure = go.Figure()
    for name, part in phases.items():
        means = part["mean_wh_per_1k"].astype(float)
        figure.add_trace(
            go.Bar(
                x=part["phase"],
                y=means,
                name=escape_html(name),
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": (part["ci95_high_wh_per_1k"].astype(float) - means).clip(lower=0),
                    "arrayminus": (means - part["ci95_low_wh_per_1k"].astype(float)).clip(lower=0),
                },
                hovertemplate="%{x}: %{y:.4g} Wh/1k<extra>" + escape_html(name) + "</extra>",
            )
        )
    figure.update_layout(title=title, barmode="group", legend_title_text="result", **_LAYOUT)
    figure.update_yaxes(title_text="Wh per 1,000 queries")
    return figure


def compare_intervals(rows: pd.DataFrame, names: list[str], title: str) -> go.Figure:
    """Each picked result's scored energy with its 95% interval, one row each, on a log axis."""
    if rows.empty:
        return _empty(title, "Pick 2 to 4 results")
    energy = rows["scored_energy_wh_per_1k"].astype(float).to_numpy()
    low = rows["scored_energy_ci95_low"].astype(float).fillna(pd.Series(energy, index=rows.index)).to_numpy()
    high = rows["scored_energy_ci95_high"].astype(float).fillna(pd.Series(energy, index=rows.index)).to_numpy()
    labels = [escape_html(n) for n in names]
    figure = go.Figure(
        go.Scatter(
            x=energy,
            y=labels,
            mode="markers",
            marker={"size": 11, "color": "#2563eb"},
            error_x={"type": "data", "symmetric": False, "array": high - energy, "arrayminus": energy - low},
            hovertemplate="%{y}: %{x:.4g} Wh/1k<extra></extra>",
        )
    )
    figure.update_layout(title=title, showlegend=False, **{**_LAYOUT, "height": 140 + 60 * len(rows)})
    figure.update_xaxes(title_text="scored energy, Wh per 1,000 queries (bars: 95% interval)")
    return figure
