"""Every Config knob as the Lab shows it, read from its one declaration in core/engine/config.py (group, label,
help, input step, choices): the Lab, the URL, the sweep page and the tests agree because there is no second table."""

from __future__ import annotations

from dataclasses import dataclass

from core.engine.config import GROUPS, Config
from core.engine.knobs import Knob, kinds_of, knobs_of
from core.engine.threats import THREAT_MODELS


@dataclass(frozen=True)
class Field:
    name: str
    group: str
    label: str
    help: str
    step: float | int | None = None  # number inputs; None for choices
    choices: tuple | None = None
    basic: bool = False  # shown in presentation mode too


def _row(name: str, kind: str, spec: Knob) -> Field:
    step = None if spec.step is None else int(spec.step) if kind == "int" else float(spec.step)
    return Field(name, spec.group, spec.label or name, spec.help, step, spec.allowed_choices(), spec.basic)


KINDS = kinds_of(Config)
_ROWS = [_row(name, KINDS[name], spec) for name, spec in knobs_of(Config).items()]
FIELDS: tuple[Field, ...] = tuple(row for group in GROUPS for row in _ROWS if row.group == group)  # the Lab's order
BY_NAME = {f.name: f for f in FIELDS}
assert set(BY_NAME) == set(KINDS), "every Config field needs a group in its knob declaration"

DEFAULTS = Config().to_dict()


def typed(name: str, value):
    """A value as its field's Python type, so number inputs get int or float consistently."""
    kind = KINDS[name]
    try:
        if kind == "int" and isinstance(value, (int, float)) and float(value).is_integer():
            return int(value)
        if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    except (OverflowError, ValueError):
        pass
    return value


def choice_label(name: str, value) -> str:
    if name == "threat_model" and value in THREAT_MODELS:
        return f"{value} — {THREAT_MODELS[value].description}"
    return str(value)
