"""One declaration per config field: its range, choices, label and help, read by validation, the UI and the CLI.

A config dataclass declares each field with ``knob(default, ...)``; the spec rides in the field's
``metadata``. ``check_knobs`` validates a config from those specs (types, ranges, choices, in field
order), ``allowed`` says in words what a field accepts, and ``knobs_of`` hands the specs to the pages
(widgets, help) and the command line (``--set`` help). A field with no spec is plain text or a flag.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

KNOB = "knob"  # the metadata key


class ConfigError(ValueError):
    """Bad input for one field; ``str(err)`` is a one-line message a user can act on."""

    def __init__(self, field: str, message: str):
        self.field = field
        # A field named by the user (an unknown --set or JSON key) may hold anything: quoted, so the
        # message stays one line; so are line breaks inside the message.
        shown = field if field.replace("_", "a").replace(" (N)", "").isalnum() and field.isascii() else repr(field)
        super().__init__(f"{shown}: {' '.join(str(message).splitlines())}"[:2000])


@dataclass(frozen=True)
class Bound:
    """A bound that depends on other fields (d >= 2k): named by its formula, checked by its value.
    ``why`` says what goes wrong past it, formatted with ``value`` and ``bound``."""

    formula: str
    of: Callable[[Any], float]
    why: str = ""


@dataclass(frozen=True)
class Knob:
    label: str = ""  # as the Lab shows it; "" = the field's name
    help: str = ""  # one line for the Lab's tooltip and the command line
    group: str = ""  # the Lab's expander
    low: float | Bound | None = None
    high: float | Bound | None = None
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None  # a callable defers a heavy import
    step: float | None = None  # the Lab's number input step
    basic: bool = False  # shown in presentation mode too

    def allowed_choices(self) -> tuple[str, ...] | None:
        return self.choices() if callable(self.choices) else self.choices


def knob(default, **spec) -> Any:
    """A dataclass field with its default and its ``Knob`` spec (label, help, range or choices)."""
    return field(default=default, metadata={KNOB: Knob(**spec)})


def knobs_of(cls_or_obj) -> dict[str, Knob]:
    """Every field's spec, in declaration order (fields declared without one get an empty spec)."""
    return {f.name: f.metadata.get(KNOB, Knob()) for f in fields(cls_or_obj)}


def kinds_of(cls_or_obj) -> dict[str, str]:
    """Every field's declared type as text: int, float, str or bool."""
    return {f.name: str(f.type) for f in fields(cls_or_obj)}


def number_text(x: float) -> str:
    """1000000 rather than 1e+06 for whole numbers a user types; 1e-12 stays short."""
    if isinstance(x, int) or float(x).is_integer() and abs(x) < 1e16:
        return str(int(x))
    return f"{x:g}"


def _bound_text(bound: float | Bound, cfg) -> str:
    if isinstance(bound, Bound):
        return bound.formula if cfg is None else f"{bound.formula} (here {number_text(bound.of(cfg))})"
    return number_text(bound)


def allowed(kind: str, spec: Knob, cfg=None) -> str:
    """What a field accepts, in words: 'an integer ≥ 2k (here 20) and ≤ 1000000', 'one of a, b'."""
    choices = spec.allowed_choices()
    if choices is not None:
        return f"one of {', '.join(choices)}"
    if kind == "bool":
        return "true or false"
    if kind not in ("int", "float"):
        return "text"
    parts = [f"≥ {_bound_text(spec.low, cfg)}"] if spec.low is not None else []
    parts += [f"≤ {_bound_text(spec.high, cfg)}"] if spec.high is not None else []
    noun = "an integer" if kind == "int" else "a number"
    return " ".join([noun, " and ".join(parts)]) if parts else noun


def parse_value(name: str, kind, raw: str, spec: Knob | None = None):
    """Parse a string for a field by its declared type; never evaluates the text."""
    kind = str(kind)
    try:
        if kind == "int":
            value = float(raw)
            if not value.is_integer():
                raise ValueError
            return int(value)
        if kind == "float":
            return float(raw)
    except (ValueError, OverflowError):  # OverflowError: int(1e400) and longer-than-4300-digit text
        raise ConfigError(name, f"expected {allowed(kind, spec or Knob())}, got {_short(raw)}") from None
    return raw


def _short(value) -> str:
    """What the user gave, quoted and cut: a message stays one readable line."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}…"


def _coerce(cfg, name: str, kind: str, spec: Knob) -> None:
    """Accept 3.0 for an int field and 3 for a float one (JSON, sliders); refuse the rest."""
    value = getattr(cfg, name)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(name, f"expected true or false, got {_short(value)}")
        return
    if kind in ("int", "float"):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        wanted = allowed(kind, spec)
        if number and isinstance(value, int) and value.bit_length() > 64:  # no float holds it: int(1e400) and up
            raise ConfigError(name, f"a {value.bit_length()}-bit integer is out of range; expected {wanted}")
        if number and not math.isfinite(value):  # inf and nan compare False with every bound: refuse them here
            raise ConfigError(name, f"expected {wanted.replace('a number', 'a finite number')}, got {value!r}")
        if not number or kind == "int" and not float(value).is_integer():
            raise ConfigError(name, f"expected {wanted}, got {_short(value)}")
        object.__setattr__(cfg, name, int(value) if kind == "int" else float(value))
        return
    if not isinstance(value, str):
        raise ConfigError(name, f"expected text, got {_short(value)}")


def _outside(value: float, spec: Knob, cfg) -> tuple[float | Bound, bool] | None:
    """The bound a value breaks, and whether it is the low one; None when it is in range."""
    for bound, is_low in ((spec.low, True), (spec.high, False)):
        if bound is None:
            continue
        limit = bound.of(cfg) if isinstance(bound, Bound) else bound
        if value < limit if is_low else value > limit:
            return bound, is_low
    return None


def check_knobs(cfg) -> None:
    """Types first (every field), then each field's range or choices in declaration order, so a bound
    that reads an earlier field (d >= 2k) sees that field already checked."""
    kinds, specs = kinds_of(cfg), knobs_of(cfg)
    for name, spec in specs.items():
        _coerce(cfg, name, kinds[name], spec)
    for name, spec in specs.items():
        value = getattr(cfg, name)
        choices = spec.allowed_choices()
        if choices is not None:
            if value not in choices:
                raise ConfigError(name, f"unknown {spec.label or name} {value!r}; choose {allowed('str', spec)}")
            continue
        broken = _outside(value, spec, cfg) if kinds[name] in ("int", "float") else None
        if broken is not None:
            bound = broken[0]
            why = bound.why if isinstance(bound, Bound) and bound.why else "{value} is out of range"
            limit = number_text(bound.of(cfg)) if isinstance(bound, Bound) else ""
            reason = why.format(value=number_text(value), bound=limit)
            raise ConfigError(name, f"{reason}; {name} must be {allowed(kinds[name], spec, cfg)}")


def knob_lines(cls) -> list[str]:
    """One line per field for a command line's help: name, what it accepts, default, help."""
    kinds, defaults = kinds_of(cls), {f.name: f.default for f in fields(cls)}
    lines = []
    for name, spec in knobs_of(cls).items():
        bounds = allowed(kinds[name], spec)
        lines.append(f"  {name:<20} {bounds} (default {defaults[name]!r}){'; ' + spec.help if spec.help else ''}")
    return lines
