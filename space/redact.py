"""Server paths taken out of every message the Space shows.

Errors raised below the Space (model checks, stores, workers' failure reasons) may name folders of the machine
that runs it, e.g. "does not exist in the local models folder /srv/energy-score-data/models". Those say nothing
useful to a visitor and tell an attacker how the server is laid out, so the Space replaces any absolute path
with a placeholder at its boundary, whatever the wording of the message around it. URLs and `org/name` ids are
left alone: a path is a `/` that follows no letter, digit, dot, colon or slash, and has at least two segments.
"""

from __future__ import annotations

import re

PLACEHOLDER = "‹server path›"

# A segment ends at whitespace, a quote, a bracket or a markdown/HTML delimiter; markdown escapes (`\_`) stay in.
_SEGMENT = r"[^\s/'\"`<>()\[\]|,;]+"
_PATH = re.compile(rf"(?<![\w.:/\\~-])(?:~|\.\.?)?(?:/{_SEGMENT}){{2,}}/?")
_WINDOWS_PATH = re.compile(rf"\b[A-Za-z]:\\(?:{_SEGMENT}\\?)+")


def redact_paths(text: str) -> str:
    """`text` with every absolute or dot-relative path replaced by PLACEHOLDER."""
    return _WINDOWS_PATH.sub(_replace, _PATH.sub(_replace, text))


def _replace(match: re.Match[str]) -> str:
    """The placeholder, keeping a sentence's closing dot that the path pattern swallowed."""
    found = match.group(0)
    return PLACEHOLDER + found[len(found.rstrip(".")) :]
