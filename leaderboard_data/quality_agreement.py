"""Whether a re-scored quality agrees with the published one: `verify` re-runs the queries and scores them again."""

from __future__ import annotations

from dataclasses import dataclass

from leaderboard_data.records import Quality

TOLERANCE = 1e-6
"""Identical outputs score identically; this only absorbs float noise in the aggregate."""


@dataclass(frozen=True)
class QualityAgreement:
    """A published quality against the re-scored one of the same setup."""

    published: Quality | None
    rescored: Quality | None

    @property
    def agrees(self) -> bool | None:
        """The re-scored figure lies within the published interval (or equals it); None with a figure missing."""
        p, r = self.published, self.rescored
        if p is None or r is None or p.value is None or r.value is None:
            return None
        if abs(p.value - r.value) <= TOLERANCE:
            return True
        return p.ci_low is not None and p.ci_high is not None and p.ci_low <= r.value <= p.ci_high

    def text(self) -> str:
        """One line for `energy-score verify`."""
        verdict = {True: "agrees", False: "disagrees", None: "not compared"}[self.agrees]
        return f"quality: published {_figure(self.published)}; rescored {_figure(self.rescored)}: {verdict}"


def _figure(quality: Quality | None) -> str:
    if quality is None:
        return "not scored"
    if quality.value is None:
        return f"none ({quality.note or 'no figure'})"
    interval = f" [{quality.ci_low:.4g}, {quality.ci_high:.4g}]" if quality.ci_low is not None else ""
    return f"{quality.metric} {quality.value:.4g}{interval}"
