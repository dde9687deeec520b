"""Runs shared by test_claims.py and test_lesson_claims.py: each (preset, seed, modes) trains once per session.

Training is the slow part of those tests; the classroom twins alone serve the claims of
core/engine/claims.py, the classroom PGD gap and the Lesson's chapters 2, 3, 4 and 7.
"""

from functools import cache

from core.engine.presets import get_preset
from core.engine.train import run_twins


@cache
def twins(preset: str, seed: int, modes: tuple[str, ...] = ("std", "adv")) -> dict:
    return run_twins(get_preset(preset).config(seed=seed, device="cpu"), modes)
