"""Escaping of everything submitters control (model ids, names, error messages) before the page shows it.

Markdown cells and `gr.Markdown` render HTML and LaTeX, so markdown's punctuation is backslash-escaped and
the text then HTML-escaped; a model id such as `<script>` or `[x](javascript:...)` stays plain text.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

HUB_URL = "https://huggingface.co"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|$~])")


def escape_html(text: object) -> str:
    """HTML-escape any value, quotes included."""
    return html.escape(str(text), quote=True)


def escape_markdown(text: object) -> str:
    """Neutralise markdown and LaTeX punctuation, then HTML-escape; newlines become spaces.

    Backslash-escaping comes first so that the entities HTML-escaping writes (`&#x27;`) stay intact.
    """
    flat = " ".join(str(text).split())
    return escape_html(_MD_SPECIAL.sub(r"\\\1", flat))


def hub_url(model_id: str) -> str:
    """The model's page on the Hub, with the id percent-encoded so it cannot leave the URL."""
    return f"{HUB_URL}/{quote(model_id, safe='/')}"


def model_link(model_id: str) -> str:
    """A markdown link to the model's Hub page whose text is the escaped id."""
    return f"[{escape_markdown(model_id)}]({hub_url(model_id)})"
