"""The energy label of one result: a 260x364 px card (drawn at 2x by default) made with Pillow.

It carries what a reader needs to trust the number: model, task, hardware, Wh per 1,000 queries with its 95%
interval and whether it was measured or estimated, the stars (or why there are none), the config version
and the date.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from functools import cache
from math import cos, pi, sin
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from leaderboard_data.badges import STAR_COLOURS, UNRATED_COLOUR
from space import columns as C
from space.data import present

WIDTH, HEIGHT = 260, 364
INK = "#111827"
MUTED = "#4b5563"
_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)

FontT = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class LabelInfo:
    """What the label shows; every field is plain text or a number, never markup."""

    model_id: str
    task_title: str
    hardware: str
    energy_wh_per_1k: float
    ci_low: float | None
    ci_high: float | None
    scored_on: str
    stars: int | None
    rating_note: str
    date: str
    config_version: str
    precision: str


@cache
def _font(size: int, bold: bool) -> FontT:
    """DejaVu Sans when the system has it (Debian, Spaces), else Pillow's bundled scalable font."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in _FONT_DIRS:
        if (folder / name).is_file():
            return ImageFont.truetype(str(folder / name), size)
    return ImageFont.load_default(size=size)


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float, fill: str | None, outline: str) -> None:
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.45
        angle = -pi / 2 + i * pi / 5
        points.append((cx + r * cos(angle), cy + r * sin(angle)))
    draw.polygon(points, fill=fill, outline=outline, width=max(1, round(radius / 8)))


def _centered(draw: ImageDraw.ImageDraw, y: float, text: str, font: FontT, fill: str, width: int) -> None:
    box = draw.textbbox((0, 0), text, font=font)
    draw.text(((width - (box[2] - box[0])) / 2, y), text, font=font, fill=fill)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: FontT, max_width: float) -> str:
    """Shorten `text` with an ellipsis until it fits `max_width` pixels."""
    if draw.textlength(text, font=font) <= max_width:
        return text
    while text and draw.textlength(text + "…", font=font) > max_width:
        text = text[:-1]
    return text + "…"


def _energy_text(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value:,.0f}"


def render_label(info: LabelInfo, scale: int = 2) -> Image.Image:
    """Draw the label at `scale` times 260x364 pixels."""
    s = scale
    width, height = WIDTH * s, HEIGHT * s
    colour = STAR_COLOURS.get(info.stars or 0, UNRATED_COLOUR)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width - 1, height - 1), outline=colour, width=3 * s)
    draw.rectangle((0, 0, width, 50 * s), fill=colour)
    _centered(draw, 9 * s, "AI ENERGY SCORE", _font(17 * s, True), "white", width)
    _centered(draw, 31 * s, "energy per 1,000 queries", _font(10 * s, False), "white", width)

    model_font = _font(14 * s, True)
    lines = textwrap.wrap(info.model_id, width=26, break_on_hyphens=False)[:2] or [""]
    for i, line in enumerate(lines):
        _centered(draw, (60 + i * 18) * s, _fit(draw, line, model_font, width - 20 * s), model_font, INK, width)
    _centered(
        draw,
        98 * s,
        _fit(draw, info.task_title, _font(11 * s, False), width - 20 * s),
        _font(11 * s, False),
        MUTED,
        width,
    )

    if info.stars is not None:
        for i in range(5):
            filled = i < info.stars
            _star(draw, (62 + i * 34) * s, 136 * s, 14 * s, colour if filled else None, colour if filled else "#9ca3af")
    else:
        note = _fit(draw, info.rating_note or "not rated", _font(10 * s, False), width - 20 * s)
        _centered(draw, 122 * s, "NOT RATED", _font(13 * s, True), UNRATED_COLOUR, width)
        _centered(draw, 140 * s, note, _font(10 * s, False), UNRATED_COLOUR, width)

    _centered(draw, 164 * s, _energy_text(info.energy_wh_per_1k), _font(36 * s, True), INK, width)
    _centered(draw, 208 * s, "Wh per 1,000 queries", _font(12 * s, False), INK, width)
    if info.ci_low is not None and info.ci_high is not None:
        interval = f"95% interval {_energy_text(info.ci_low)} – {_energy_text(info.ci_high)}"
        _centered(draw, 226 * s, interval, _font(10 * s, False), MUTED, width)
    _centered(draw, 242 * s, info.scored_on, _font(10 * s, False), MUTED, width)

    draw.line((14 * s, 264 * s, width - 14 * s, 264 * s), fill="#d1d5db", width=s)
    small = _font(10 * s, False)
    rows = [
        ("Hardware", info.hardware),
        ("Precision", info.precision),
        ("Config", f"version {info.config_version}"),
        ("Date", info.date),
    ]
    for i, (key, value) in enumerate(rows):
        y = (274 + i * 19) * s
        draw.text((16 * s, y), key, font=_font(10 * s, True), fill=INK)
        draw.text((88 * s, y), _fit(draw, value, small, width - 104 * s), font=small, fill=MUTED)
    return image


def label_png(info: LabelInfo, scale: int = 2) -> bytes:
    """The label as PNG bytes."""
    buffer = io.BytesIO()
    render_label(info, scale).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def label_info(row: dict[str, Any], task_title: str) -> LabelInfo:
    """A label from one result row of `space.data` (display and raw columns)."""

    def optional(name: str) -> float | None:
        return float(row[name]) if present(row.get(name)) else None

    return LabelInfo(
        model_id=str(row["model_id"]),
        task_title=task_title,
        hardware=str(row[C.HARDWARE.label]),
        energy_wh_per_1k=float(row["scored_energy_wh_per_1k"]),
        ci_low=optional("scored_energy_ci95_low"),
        ci_high=optional("scored_energy_ci95_high"),
        scored_on=f"scored on {row[C.SCORED_ON.label]}",
        stars=int(row["stars"]) if present(row.get("stars")) else None,
        rating_note=str(row.get("rating_note") or ""),
        date=str(row[C.DATE.label]),
        config_version=str(row.get("config_version") or ""),
        precision=str(row[C.PRECISION.label]),
    )
