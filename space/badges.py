"""The Space's badge URL: `/badge/<org>/<name>/<task>.svg`, drawn by `leaderboard_data.badges` from the Space's data.

The route is added to the FastAPI app Gradio serves, so it lives at a stable address beside the page. A model
or task without a result gets a grey "no result" badge with status 404, which still renders in a model card.
The SVG is served with a Content-Security-Policy that forbids scripts, in addition to XML-escaping the text.
"""

from __future__ import annotations

import os
import threading
import time
from urllib.parse import quote

import pandas as pd
from fastapi import FastAPI, Response

from leaderboard_data.badges import Badge, badge_from_row, badge_svg, best_rows
from space.data import LeaderboardData

ROUTE = "/badge/{path:path}"
MEDIA_TYPE = "image/svg+xml"
REFRESH_EVERY_S = 60.0
_HEADERS = {
    "Cache-Control": "public, max-age=300",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}
_NO_RESULT = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="136" height="20" role="img" aria-label="energy: no result">'
    '<title>AI Energy Score: no result for this model and task</title><rect width="136" height="20" rx="3" '
    'fill="#9ca3af"/><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
    'font-size="11"><text x="68" y="14">⚡ energy: no result</text></g></svg>\n'
)


def badge_url_path(model_id: str, task: str) -> str:
    """The badge's path on the Space, the model id percent-encoded segment by segment."""
    return f"/badge/{quote(model_id, safe='/')}/{quote(task, safe='')}.svg"


def public_base_url(host_header: str | None) -> str:
    """The Space's public address: `https://$SPACE_HOST` on a Space, else the address the browser used."""
    space_host = os.environ.get("SPACE_HOST")
    if space_host:
        return f"https://{space_host}"
    host = host_header or "127.0.0.1:7860"
    local = host.split(":")[0] in ("127.0.0.1", "localhost", "0.0.0.0")
    return f"{'http' if local else 'https'}://{host}"


def markdown_snippet(base_url: str, model_id: str, task: str) -> str:
    """What to paste into a model card: the badge, linked to the leaderboard."""
    return f"[![AI Energy Score]({base_url}{badge_url_path(model_id, task)})]({base_url}/)"


class BadgeSource:
    """Finds the badge of a (model, task) in the Space's rated data, refreshing it at most once a minute.

    The page's timer only runs while someone has the page open, so the badge route checks the store itself.
    """

    def __init__(self, source: LeaderboardData) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._checked = 0.0

    def _snapshot_frame(self) -> pd.DataFrame:
        with self._lock:
            if time.monotonic() - self._checked > REFRESH_EVERY_S:
                self._checked = time.monotonic()
                return self.source.refresh().frame
        return self.source.snapshot().frame

    def badge(self, model_id: str, task: str) -> Badge | None:
        """The badge of one (model, task), or None when the Space has no result for it."""
        frame = self._snapshot_frame()
        if frame.empty:
            return None
        rows = best_rows(frame[(frame["model_id"] == model_id) & (frame["task"] == task)])
        if rows.empty:
            return None
        config = self.source.task_configs.get(task)
        return badge_from_row(rows.iloc[0].to_dict(), config.title if config else task)


def split_badge_path(path: str) -> tuple[str, str] | None:
    """('org/name', 'task') from 'org/name/task.svg', or None for any other shape."""
    if not path.endswith(".svg") or "/" not in path:
        return None
    model_id, _, task = path.removesuffix(".svg").rpartition("/")
    return (model_id, task) if model_id and task else None


def add_badge_route(app: FastAPI, badges: BadgeSource) -> None:
    """Serve `/badge/<org>/<name>/<task>.svg` from `app` (Gradio's FastAPI app)."""

    def badge(path: str) -> Response:
        parts = split_badge_path(path)
        found = badges.badge(*parts) if parts else None
        if found is None:
            return Response(_NO_RESULT, status_code=404, media_type=MEDIA_TYPE, headers=_HEADERS)
        return Response(badge_svg(found), media_type=MEDIA_TYPE, headers=_HEADERS)

    app.add_api_route(ROUTE, badge, methods=["GET"], include_in_schema=False)
