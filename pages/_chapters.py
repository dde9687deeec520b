"""The Lesson's chapters as the room page reads them (core.lesson.CHAPTERS), found by their id."""

from __future__ import annotations

from core.lesson import CHAPTERS, Chapter

__all__ = ["CHAPTERS", "Chapter", "chapter"]


def chapter(chapter_id: str | None) -> Chapter | None:
    return next((c for c in CHAPTERS if c.id == chapter_id), None)
