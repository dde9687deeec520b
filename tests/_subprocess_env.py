"""Environments for the processes the tests start: the project first on PYTHONPATH, or the project off it.

Other PYTHONPATH entries stay either way: packages may live in such a folder rather than in site-packages
(the GPU machine's carried wheels, bench/gpu_check.sh), and a child without them could not import them.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _entries() -> list[str]:
    return [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]


def with_project() -> dict:
    """This environment, with the project's root first on PYTHONPATH."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *_entries()])}


def without_project() -> dict:
    """This environment, with the project's root (however spelt, '.' included) taken off PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    kept = [entry for entry in _entries() if Path(entry).resolve() != ROOT]
    if kept:
        env["PYTHONPATH"] = os.pathsep.join(kept)
    return env
