"""Markup a link or a typed box may carry, and the check that a page rendered none of it as markup.

Streamlit renders st.markdown, st.error, st.caption and the like as Markdown (and HTML where allowed): text
from a user must reach them escaped (pages/_markdown.py), so that ``[x](http://evil)`` shows those
characters instead of a link, and ``<img ...>`` shows as text instead of an image.
"""

import re

EVIL = "evil"  # every payload names it, so the check looks only at elements that show a payload
MARKUP = (
    "[evil](http://evil.example)",
    "![evil](http://evil.example/x.png)",
    '<img src="http://evil.example/x.png" onerror="alert(1)">',
    "<a href=http://evil.example>evil</a>",
    "<script>evil()</script>",
    "**evil**",
    "`evil`",
    ":red[evil]",
    "$evil$",
    "<https://evil.example>",
    "evil<br>evil",
)
# Markup that would be live: an unescaped tag, a link or image, emphasis or code around the payload.
LIVE = re.compile(r"(?<!\\)<\s*[a-zA-Z/]|(?<!\\)\]\(|(?<!\\)\*\*evil|(?<!\\)`evil|(?<!\\):red\[|(?<!\\)\$evil")


def no_live_markup(at) -> None:
    """No markdown-rendered element that shows a payload renders it as markup."""
    for kind in ("markdown", "error", "warning", "info", "success", "caption", "title", "header", "subheader"):
        for element in at.get(kind):
            value = str(getattr(element, "value", "") or "")
            if EVIL in value.lower():
                assert not LIVE.search(value), f"{kind} renders markup from user text: {value[:300]!r}"
