"""The Lesson's chapters as the room page reads them: number, id, title, question, answers, correct, explanation.

They come from core.lesson (another branch, lesson-core); until it is merged here this is a stand-in
with the same fields, so that the room page and its tests run. Replace the stand-in by
``from core.lesson import CHAPTERS`` once core/lesson/ exists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chapter:
    number: int
    id: str
    title: str
    question: str
    answers: tuple[str, ...]
    correct: int
    explanation: str


CHAPTERS = (
    Chapter(1, "dense-wins", "Standard training", "Trained normally, which features does the network learn?",
            ("the sparse, strong robust ones", "the dense, weak non-robust ones", "both equally"), 1,
            "Gradient descent follows the features that fit most examples fastest: the dense non-robust ones."),
    Chapter(2, "switch", "Adversarial training", "Trained adversarially, what happens to the features it learned?",
            ("nothing changes", "it switches to the robust features", "it forgets both"), 1,
            "Once the attack erases the non-robust patches, only the robust feature still pays: the network switches."),
)


def chapter(chapter_id: str | None) -> Chapter | None:
    return next((c for c in CHAPTERS if c.id == chapter_id), None)
