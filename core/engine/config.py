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

from .knobs import Bound, ConfigError, check_knobs, kinds_of, knob, knobs_of, parse_value

ATTACK_OBJECTIVES = ("margin", "ce")
TRAIN_ATTACKS = ("one_step", "pgd")
DEVICES = ("auto", "cpu", "cuda")
MODES = ("std", "adv")
GROUPS = ("Data", "Network", "Training", "Attack and evaluation")  # the Lab's expanders, in order
DATA, NETWORK, TRAINING, ATTACK = GROUPS


def _threat_model_names() -> tuple[str, ...]:
    from .threats import THREAT_MODELS  # late: threats imports torch, and a config must stay cheap to import

    return tuple(THREAT_MODELS)


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

    def with_overrides(self, pairs: list[str]):
        """Apply ``FIELD=VALUE`` strings (command line ``--set``), parsed by the field's type."""
        changes = {}
        kinds, specs = kinds_of(self), knobs_of(self)
        for pair in pairs:
            if "=" not in pair:
                raise ConfigError(pair, "expected FIELD=VALUE")
            name, raw = (part.strip() for part in pair.split("=", 1))
            if name not in kinds:
                raise ConfigError(name, f"unknown field; known fields are {', '.join(sorted(kinds))}")
            changes[name] = parse_value(name, kinds[name], raw, specs[name])
        return self.replace(**changes)


@dataclass(frozen=True)
class Config(DataConfig):
    """Each field: default, then range or choices, the Lab's group, label, help and input step; the
    comment says why the default. Fields are in the Lab's order within each group."""

    # ---- data (Definition 2.2) ----
    k: int = knob(10, low=2, high=1000, group=DATA, label="classes k", step=1,
                  help="Number of classes; the paper's simulation uses 10.")  # the paper's simulation uses 10
    P: int = knob(100, low=1, high=100_000, group=DATA, label="patches P", step=1,
                  help="Patches per example. Many patches make the non-robust feature dense.")
    # s: sparse robust patches, so S_NR / S_R > 1 at beta = 0.3
    s: int = knob(2, low=0, high=Bound("P", lambda c: c.P, "{value} robust patches do not fit in P = {bound} patches"),
                  group=DATA, label="robust patches s", step=1, basic=True,
                  help="Patches holding the robust feature u_y; the other P - s hold the non-robust v_y. Fewer "
                       "robust patches = denser non-robust feature.")
    d: int = knob(100, low=Bound("2k", lambda c: 2 * c.k, "{value} is too small: 2k = {bound} orthogonal features "
                                 "must fit"), high=1_000_000, group=DATA, label="patch dimension d", step=1,
                  help="Must hold the 2k orthogonal features: d >= 2k.")
    alpha: float = knob(1.0, low=0.0, high=1e6, group=DATA, label="robust strength α", step=0.1, basic=True,
                        help="Robust feature strength: strong (Assumption 2.3 asks α > β).")  # strong
    # beta: weak, but 98 patches of it
    beta: float = knob(0.3, low=0.0, high=1e6, group=DATA, label="non-robust strength β", step=0.05, basic=True,
                       help="Non-robust feature strength: weak, but on P - s patches.")
    sigma_p: float = knob(0.05, low=0.0, high=1e6, group=DATA, label="patch noise σ_p", step=0.01,  # features dominate
                          help="Std of the Gaussian noise on every patch; small so features dominate.")
    jitter: float = knob(0.0, low=0.0, high=0.99, group=DATA, label="strength jitter", step=0.05,  # as in the paper
                         help="Relative jitter of α_p and β_p; 0 = constants, as in the paper.")
    # n_train: full-batch GD is the paper's algorithm; 300 fits a laptop
    n_train: int = knob(300, low=1, high=10_000_000, group=DATA, label="training examples", step=50,
                        help="Full-batch gradient descent is the paper's algorithm.")
    n_test: int = knob(300, low=1, high=10_000_000, group=DATA, label="test examples", step=50,  # ~0.5 % resolution
                       help="Test set for every accuracy; 300 gives ~0.5 % resolution.")
    # ---- network (Section 2.3) ----
    m: int = knob(10, low=1, high=100_000, group=NETWORK, label="neurons per class m", step=1,
                  help="Filters per class, shared over patches; no second layer.")
    q: int = knob(3, low=2, high=10, group=NETWORK, label="activation power q", step=1,  # the paper's q = 3
                  help="Smoothed ReLU z^q / (q ρ^(q-1)) below ρ; the paper's q = 3.")
    rho: float = knob(1.0, low=1e-6, high=1e6, group=NETWORK, label="activation threshold ρ", step=0.1,
                      help="Where the smoothed ReLU turns linear. A larger ρ widens the window in which the "
                           "adversarial model resists PGD (docs/engine.md).")
    sigma_0: float = knob(0.0, low=0.0, high=1e6, group=NETWORK, label="init std σ₀", step=0.01,  # 0 = Xavier
                          help="Initial weight std; 0 = the paper's Xavier choice 1/√d.")
    # ---- training (Sections 2.4, 2.5) ----
    steps: int = knob(600, low=0, high=10_000_000, group=TRAINING, label="training steps T", step=50, basic=True,
                      help="Gradient steps of each run.")
    eta: float = knob(0.5, low=1e-12, high=1e6, group=TRAINING, label="learning rate η", step=0.1,
                      help="Gradient-descent step on the weights.")
    eta_a: float = knob(10.0, low=0.0, high=1e9, group=TRAINING, label="attacker step η_A", step=1.0,  # eta_a >> eta
                        help="Step of the one-step training attack; the paper takes η_A ≫ η. Small values give a "
                             "visible Phase I.")
    batch_size: int = knob(0, low=0, high=Bound("n_train", lambda c: c.n_train, "{value} exceeds n_train = {bound}"),
                           group=TRAINING, label="batch size", step=10,  # 0 = full batch, the paper's algorithm
                           help="0 = full batch (the paper); otherwise mini-batch SGD.")
    # train_attack: the paper's one-step clipped ascent, or multi-step "pgd"
    train_attack: str = knob("one_step", choices=TRAIN_ATTACKS, group=TRAINING, label="training attack",
                             help="one_step = the paper's clipped gradient ascent; pgd = multi-step PGD (Madry et "
                                  "al.), the paper's future work.")
    train_attack_steps: int = knob(3, low=1, high=1000, group=TRAINING, label="PGD training steps", step=1,
                                   help="Steps of the training attack when it is pgd.")
    # train_objective: the paper's CW margin; "ce" is Remark 2.5's variant
    train_objective: str = knob("margin", choices=ATTACK_OBJECTIVES, group=TRAINING,
                                label="training attack objective",
                                help="margin = Carlini-Wagner margin (the paper); ce = cross-entropy (Remark 2.5).")
    # ---- attack and evaluation (Section 2.5; PGD as Madry et al.) ----
    threat_model: str = knob("patch_l2", choices=_threat_model_names, group=ATTACK, label="threat model",
                             help="The set a perturbation must stay in.")  # matches the paper's patch-wise clip
    # eps: below sqrt(2) beta, so the swap lies outside the ball
    eps: float = knob(0.24, low=1e-12, high=1e6, group=ATTACK, label="radius ε", step=0.01, basic=True,
                      help="Attack radius for training and evaluation. The swap attack has per-patch size √2 β.")
    pgd_steps: int = knob(10, low=0, high=1000, group=ATTACK, label="PGD steps K", step=1,  # PGD-10 for evaluation
                          help="PGD-K for evaluation, step size 2.5 ε / K, random start.")
    pgd_objective: str = knob("margin", choices=ATTACK_OBJECTIVES, group=ATTACK, label="PGD objective",
                              help="margin (strongest simple objective here) or ce.")  # CW margin: the strongest
    # eval_every: evaluation must stay a small share of run time
    eval_every: int = knob(20, low=1, high=10_000_000, group=ATTACK, label="log every", step=1,
                           help="Training steps between logged (evaluated) steps.")
    n_eval_pgd: int = knob(0, low=0, high=10_000_000, group=ATTACK, label="PGD test examples", step=50,
                           help="Test examples attacked by PGD; 0 = all.")  # 0 = all of n_test
    # ---- execution ----
    seed: int = knob(0, low=0, high=2**63 - 1, group=DATA, label="seed", step=1,  # fixes data, init, attacks
                     help="One seed fixes data, initialisation and attack randomness.")
    device: str = knob("auto", choices=DEVICES, group=TRAINING, label="device",
                       help="auto = CUDA when present, else CPU.")
    threads: int = knob(0, low=0, high=1024, group=TRAINING, label="CPU threads", step=1,  # 0 = torch's default
                        help="Torch threads per run; 0 = the job worker's share of the cores, more while other "
                             "workers are idle (the numbers do not depend on it).")

    def __post_init__(self) -> None:
        check_knobs(self)
        _validate(self)

    # -- helpers -------------------------------------------------------------
    @property
    def init_std(self) -> float:
        return self.sigma_0 if self.sigma_0 > 0 else 1.0 / math.sqrt(self.d)

    @property
    def n_pgd(self) -> int:
        return self.n_test if self.n_eval_pgd <= 0 else min(self.n_eval_pgd, self.n_test)


def _validate(cfg: Config) -> None:
    """The rules no single field's range can say."""
    if cfg.alpha <= 0 and cfg.s > 0:
        raise ConfigError("alpha", "must be > 0 when there are robust patches (s > 0)")
    if cfg.beta <= 0 and cfg.s < cfg.P:
        raise ConfigError("beta", "must be > 0 when there are non-robust patches (s < P)")
