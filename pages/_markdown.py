"""Text shown inside markdown elements (st.error, st.caption, st.markdown) exactly as typed.

One place for the escaping, so a field name keeps its underscores (patch_l2, n_train) and text from a
link or an upload can render neither as formatting nor as a link."""

from __future__ import annotations

import re

_MARKDOWN_SPECIAL = "\\`*_{}[]<>()#+-.!|~$:"


def md_escape(text: str) -> str:
    """Text that came from a link or an uploaded file, safe to show in a markdown element: every markdown
    character is escaped, so it can render neither as formatting nor as a link or an image."""
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)


_ALWAYS_SPECIAL = "\\`*_{}[]<>|~$#"


def md_message(text: str) -> str:
    """A one-line message (a config error quoting what the user typed) for a markdown element, kept readable:
    the characters that format (* _ ` ~ $), link ([ ] < >) or structure (# | and a leading - + or "1.") are
    escaped, and : or . only where they touch text (http://, www.x), so "d: 5 is too small." reads as is."""
    text = " ".join(str(text).split())  # one line: newlines would start new blocks
    out = []
    for i, ch in enumerate(text):
        touching = i + 1 < len(text) and not text[i + 1].isspace()
        if ch in _ALWAYS_SPECIAL or ch in ":." and touching or ch in "-+" and i == 0:
            out.append("\\" + ch)
        else:
            out.append(ch)
    escaped = "".join(out)
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", escaped)  # "1. text" would start a numbered list
