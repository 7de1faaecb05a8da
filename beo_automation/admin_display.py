"""How admin columns show a state or a long text: CSS classes from static/css/admin.css, never
inline styles (the Content-Security-Policy allows styles from this origin only)."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import slugify


def status_badge(value: str, label: str | None = None) -> SafeString:
    """A status, outcome or severity word coloured by its meaning (.beo-status--<value>)."""
    return format_html(
        '<span class="beo-status beo-status--{}">{}</span>', slugify(value), label or value
    )


def cut_text(text: str, *, limit: int = 300) -> SafeString | str:
    """A long text in one line, cut to the column with an ellipsis; the whole of it (up to
    `limit`) in the tooltip."""
    if not text:
        return "—"
    line = " ".join(text.split())
    return format_html('<span class="beo-cut" title="{}">{}</span>', line[:limit], line)
