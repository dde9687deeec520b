"""The one configuration object, validated in one place.

Field names are the paper's symbols (Li & Li, ICLR 2025) so that a reader of the paper
finds them. The same frozen dataclass drives the dashboard, the command line and the
tests; every check lives in ``Config.__post_init__`` and raises ``ConfigError`` naming
the field and what is allowed, before any work starts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

ATTACK_OBJECTIVES = ("margin", "ce")
TRAIN_ATTACKS = ("one_step", "pgd")
DEVICES = ("auto", "cpu", "cuda")
MODES = ("std", "adv")


class ConfigError(ValueError):
    """Bad input for one field; ``str(err)`` is a one-line message a user can act on."""

    def __init__(self, field: str, message: str):
        self.field = field
        # A field named by the user (an unknown --set or JSON key) may hold anything: quoted, so the
        # message stays one line; so are line breaks inside the message.
        shown = field if field.replace("_", "a").replace(" (N)", "").isalnum() and field.isascii() else repr(field)
        super().__init__(f"{shown}: {' '.join(str(message).splitlines())}"[:2000])


class DataConfig:
    """What every frozen config dataclass here shares: copies, plain-data round trips."""

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        """Build from plain data (JSON, URL, form): unknown fields are refused by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown field; known fields are {', '.join(sorted(known))}")
        return cls(**data)


@dataclass(frozen=True)
class Config(DataConfig):
    # ---- data (Definition 2.2) ----
    k: int = 10  # classes; the paper's simulation uses 10
    P: int = 100  # patches per example; many patches make non-robust features dense
    s: int = 2  # robust patches per example: sparse, so S_NR / S_R > 1 at beta = 0.3
    d: int = 100  # patch dimension; must hold 2k orthogonal features
    alpha: float = 1.0  # robust feature strength (strong)
    beta: float = 0.3  # non-robust feature strength (weak, but 98 patches of it)
    sigma_p: float = 0.05  # patch noise std; small so features dominate
    jitter: float = 0.0  # relative jitter of alpha_p, beta_p; 0 = constants as in the paper
    n_train: int = 300  # full-batch GD is the paper's algorithm; 300 fits a laptop
    n_test: int = 300  # enough for accuracies to ~0.5 % resolution
    # ---- network (Section 2.3) ----
    m: int = 10  # neurons per class
    q: int = 3  # smoothed-ReLU power; the paper's q = 3
    rho: float = 1.0  # smoothed-ReLU threshold
    sigma_0: float = 0.0  # init std; 0 means the paper's Xavier choice 1/sqrt(d)
    # ---- training (Sections 2.4, 2.5) ----
    eta: float = 0.5  # GD learning rate
    eta_a: float = 10.0  # attacker step; the paper takes eta_a >> eta
    steps: int = 600  # training steps
    batch_size: int = 0  # 0 = full batch (the paper); otherwise mini-batch SGD
    train_attack: str = "one_step"  # the paper's one-step clipped ascent, or multi-step "pgd"
    train_attack_steps: int = 3  # steps of PGD when train_attack = "pgd"
    train_objective: str = "margin"  # the paper's CW margin; "ce" is Remark 2.5's variant
    # ---- attack and evaluation (Section 1.5 of SPEC) ----
    eps: float = 0.24  # radius; below sqrt(2) beta, so the swap lies outside the ball
    threat_model: str = "patch_l2"  # matches the paper's patch-wise clip
    pgd_steps: int = 10  # PGD-10 for evaluation
    pgd_objective: str = "margin"  # CW margin: the strongest simple objective here
    eval_every: int = 20  # logged steps; evaluation must stay a small share of run time
    n_eval_pgd: int = 0  # test examples attacked by PGD; 0 = all of n_test
    # ---- execution ----
    seed: int = 0  # one seed fixes data, init and attack randomness
    device: str = "auto"  # auto = CUDA when present, else CPU
    threads: int = 0  # CPU threads for torch; 0 = leave torch's default

    def __post_init__(self) -> None:
        _coerce_types(self)
        _validate(self)

    # -- helpers -------------------------------------------------------------
    @property
    def init_std(self) -> float:
        return self.sigma_0 if self.sigma_0 > 0 else 1.0 / math.sqrt(self.d)

    @property
    def n_pgd(self) -> int:
        return self.n_test if self.n_eval_pgd <= 0 else min(self.n_eval_pgd, self.n_test)

    def with_overrides(self, pairs: list[str]) -> Config:
        """Apply ``FIELD=VALUE`` strings (command line ``--set``), parsed by the field's type."""
        changes = {}
        kinds = {f.name: f.type for f in fields(self)}
        for pair in pairs:
            if "=" not in pair:
                raise ConfigError("set", f"expected FIELD=VALUE, got {pair[:60]!r}")
            name, raw = (part.strip() for part in pair.split("=", 1))
            if name not in kinds:
                raise ConfigError(name, f"unknown field; known fields are {', '.join(sorted(kinds))}")
            changes[name] = parse_value(name, kinds[name], raw)
        return self.replace(**changes)


# (lowest, highest) allowed for numeric fields; None = unbounded. Keeps messages uniform.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "k": (2, 1000),
    "P": (1, 100_000),
    "s": (0, None),  # upper bound P, checked below
    "d": (None, 1_000_000),  # lower bound 2k, checked below
    "alpha": (0.0, 1e6),
    "beta": (0.0, 1e6),
    "sigma_p": (0.0, 1e6),
    "jitter": (0.0, 0.99),
    "n_train": (1, 10_000_000),
    "n_test": (1, 10_000_000),
    "m": (1, 100_000),
    "q": (2, 10),
    "rho": (1e-6, 1e6),
    "sigma_0": (0.0, 1e6),
    "eta": (1e-12, 1e6),
    "eta_a": (0.0, 1e9),
    "steps": (0, 10_000_000),
    "batch_size": (0, 10_000_000),
    "train_attack_steps": (1, 1000),
    "eps": (1e-12, 1e6),
    "pgd_steps": (0, 1000),
    "eval_every": (1, 10_000_000),
    "n_eval_pgd": (0, 10_000_000),
    "seed": (0, 2**63 - 1),
    "threads": (0, 1024),
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "train_attack": TRAIN_ATTACKS,
    "train_objective": ATTACK_OBJECTIVES,
    "pgd_objective": ATTACK_OBJECTIVES,
    "device": DEVICES,
}


def parse_value(name: str, kind, raw: str):
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
    except ValueError:
        allowed = f"; allowed {_allowed(name)}" if name in _RANGES else ""
        expected = "an integer" if kind == "int" else "a number"
        raise ConfigError(name, f"expected {expected}, got {raw!r}{allowed}") from None
    return raw


# Bounds that depend on another field, for the messages (checked in _validate).
_RELATIVE = {"d": ("2k", None), "s": (None, "P")}


def _allowed(name: str) -> str:
    """'2 <= k <= 1000', 'd >= 2k' or 'any finite number': what a message offers instead."""
    low, high = _RANGES.get(name, (None, None))
    rel_low, rel_high = _RELATIVE.get(name, (None, None))
    lo = rel_low if low is None else f"{low:g}"
    hi = rel_high if high is None else f"{high:g}"
    if lo is not None and hi is not None:
        return f"{lo} <= {name} <= {hi}"
    if lo is not None or hi is not None:
        return f"{name} >= {lo}" if lo is not None else f"{name} <= {hi}"
    return f"any finite {name}"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}…"


def _coerce_types(cfg: Config) -> None:
    """Accept 3.0 for an int field and 3 for a float one (JSON, sliders); refuse the rest."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        kind = str(f.type)
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:  # no float holds it
            raise ConfigError(f.name, f"a {value.bit_length()}-bit integer is out of range; allowed {_allowed(f.name)}")
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
                raise ConfigError(f.name, f"expected an integer, got {_short(value)}; allowed {_allowed(f.name)}")
            object.__setattr__(cfg, f.name, int(value))
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f.name, f"expected a number, got {_short(value)}; allowed {_allowed(f.name)}")
            if not math.isfinite(value):
                raise ConfigError(f.name, f"must be a finite number, got {value!r}; allowed {_allowed(f.name)}")
            object.__setattr__(cfg, f.name, float(value))
        elif not isinstance(value, str):
            raise ConfigError(f.name, f"expected text, got {_short(value)}")


def _validate(cfg: Config) -> None:
    from .threats import THREAT_MODELS  # late import: threats imports torch

    for name, (low, high) in _RANGES.items():
        value = getattr(cfg, name)
        if low is not None and value < low or high is not None and value > high:
            raise ConfigError(name, f"{value:g} is out of range; allowed {_allowed(name)}")
    for name, allowed in _CHOICES.items():
        if getattr(cfg, name) not in allowed:
            raise ConfigError(name, f"unknown value {getattr(cfg, name)!r}; choose one of {', '.join(allowed)}")
    if cfg.threat_model not in THREAT_MODELS:
        raise ConfigError(
            "threat_model", f"unknown threat model {cfg.threat_model!r}; choose one of {', '.join(THREAT_MODELS)}"
        )
    if cfg.s > cfg.P:
        raise ConfigError("s", f"{cfg.s} robust patches do not fit in P = {cfg.P} patches; allowed 0 <= s <= P")
    if cfg.d < 2 * cfg.k:
        raise ConfigError("d", f"{cfg.d} is too small: 2k = {2 * cfg.k} orthogonal features must fit; allowed d >= 2k")
    if cfg.alpha <= 0 and cfg.s > 0:
        raise ConfigError("alpha", "must be > 0 when there are robust patches (s > 0)")
    if cfg.beta <= 0 and cfg.s < cfg.P:
        raise ConfigError("beta", "must be > 0 when there are non-robust patches (s < P)")
    if cfg.batch_size > cfg.n_train:
        raise ConfigError(
            "batch_size", f"{cfg.batch_size} exceeds n_train = {cfg.n_train}; allowed 0 (full batch) to n_train"
        )
