"""Every Config knob as the Lab shows it: group, label, one line of help (from SPEC 1.1-1.5 and
core/config.py's comments), input step. One table, so the Lab, the URL and the tests agree."""

from __future__ import annotations

from dataclasses import dataclass, fields

from core.engine.config import ATTACK_OBJECTIVES, DEVICES, TRAIN_ATTACKS, Config
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


GROUPS = ("Data", "Network", "Training", "Attack and evaluation")

FIELDS: tuple[Field, ...] = (
    # ---- Data (Definition 2.2, SPEC 1.1) ----
    Field("k", "Data", "classes k", "Number of classes; the paper's simulation uses 10.", 1),
    Field("P", "Data", "patches P", "Patches per example. Many patches make the non-robust feature dense.", 1),
    Field("s", "Data", "robust patches s", "Patches holding the robust feature u_y; the other P - s hold the "
          "non-robust v_y. Fewer robust patches = denser non-robust feature.", 1, basic=True),
    Field("d", "Data", "patch dimension d", "Must hold the 2k orthogonal features: d >= 2k.", 1),
    Field("alpha", "Data", "robust strength α", "Robust feature strength: strong (Assumption 2.3 asks α > β).", 0.1,
          basic=True),
    Field("beta", "Data", "non-robust strength β", "Non-robust feature strength: weak, but on P - s patches.", 0.05,
          basic=True),
    Field("sigma_p", "Data", "patch noise σ_p", "Std of the Gaussian noise on every patch; small so features "
          "dominate.", 0.01),
    Field("jitter", "Data", "strength jitter", "Relative jitter of α_p and β_p; 0 = constants, as in the paper.",
          0.05),
    Field("n_train", "Data", "training examples", "Full-batch gradient descent is the paper's algorithm.", 50),
    Field("n_test", "Data", "test examples", "Test set for every accuracy; 300 gives ~0.5 % resolution.", 50),
    Field("seed", "Data", "seed", "One seed fixes data, initialisation and attack randomness.", 1),
    # ---- Network (Section 2.3, SPEC 1.3) ----
    Field("m", "Network", "neurons per class m", "Filters per class, shared over patches; no second layer.", 1),
    Field("q", "Network", "activation power q", "Smoothed ReLU z^q / (q ρ^(q-1)) below ρ; the paper's q = 3.", 1),
    Field("rho", "Network", "activation threshold ρ", "Where the smoothed ReLU turns linear. A larger ρ widens the "
          "window in which the adversarial model resists PGD (docs/engine.md).", 0.1),
    Field("sigma_0", "Network", "init std σ₀", "Initial weight std; 0 = the paper's Xavier choice 1/√d.", 0.01),
    # ---- Training (Sections 2.4, 2.5, SPEC 1.4) ----
    Field("steps", "Training", "training steps T", "Gradient steps of each run.", 50, basic=True),
    Field("eta", "Training", "learning rate η", "Gradient-descent step on the weights.", 0.1),
    Field("eta_a", "Training", "attacker step η_A", "Step of the one-step training attack; the paper takes "
          "η_A ≫ η. Small values give a visible Phase I.", 1.0),
    Field("batch_size", "Training", "batch size", "0 = full batch (the paper); otherwise mini-batch SGD.", 10),
    Field("train_attack", "Training", "training attack", "one_step = the paper's clipped gradient ascent; pgd = "
          "multi-step PGD (Madry et al.), the paper's future work.", choices=TRAIN_ATTACKS),
    Field("train_attack_steps", "Training", "PGD training steps", "Steps of the training attack when it is pgd.", 1),
    Field("train_objective", "Training", "training attack objective", "margin = Carlini-Wagner margin (the paper); "
          "ce = cross-entropy (Remark 2.5).", choices=ATTACK_OBJECTIVES),
    Field("device", "Training", "device", "auto = CUDA when present, else CPU.", choices=DEVICES),
    Field("threads", "Training", "CPU threads", "Torch threads per run; 0 = the job worker's share of the cores.",
          1),
    # ---- Attack and evaluation (SPEC 1.5, 1.6) ----
    Field("threat_model", "Attack and evaluation", "threat model", "The set a perturbation must stay in.",
          choices=tuple(THREAT_MODELS)),
    Field("eps", "Attack and evaluation", "radius ε", "Attack radius for training and evaluation. The swap attack "
          "has per-patch size √2 β.", 0.01, basic=True),
    Field("pgd_steps", "Attack and evaluation", "PGD steps K", "PGD-K for evaluation, step size 2.5 ε / K, random "
          "start.", 1),
    Field("pgd_objective", "Attack and evaluation", "PGD objective", "margin (strongest simple objective here) or "
          "ce.", choices=ATTACK_OBJECTIVES),
    Field("eval_every", "Attack and evaluation", "log every", "Training steps between logged (evaluated) steps.", 1),
    Field("n_eval_pgd", "Attack and evaluation", "PGD test examples", "Test examples attacked by PGD; 0 = all.", 50),
)

BY_NAME = {f.name: f for f in FIELDS}
assert set(BY_NAME) == {f.name for f in fields(Config)}, "every Config field needs a row here"

KINDS = {f.name: str(f.type) for f in fields(Config)}
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
