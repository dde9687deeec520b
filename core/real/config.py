"""RealConfig: one frozen, validated description of a real-image experiment (SPEC 1.8).

Defaults differ per dataset (the paper's model and eps for each), so build one with
``RealConfig.for_dataset(name, quick=...)``; plain ``RealConfig()`` is the full digits
setting. Every check lives in ``__post_init__`` and raises ``core.engine.config.ConfigError``
naming the field, before any data is read or any network trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ..engine.config import ConfigError, DataConfig

DATASETS = ("digits", "mnist", "cifar10", "svhn")
MODELS = ("auto", "small_cnn", "resnet18", "wrn34_10")
THREATS = ("linf", "l2")
DEVICES = ("auto", "cpu", "cuda")

# The paper's learner per dataset (Appendix A): ResNet18 on MNIST, WRN-34-10 on CIFAR10/SVHN.
PAPER_MODEL = {"digits": "small_cnn", "mnist": "resnet18", "cifar10": "wrn34_10", "svhn": "wrn34_10"}


@dataclass(frozen=True)
class RealConfig(DataConfig):
    # ---- data ----
    dataset: str = "digits"  # digits is embedded in scikit-learn: no download, runs anywhere
    data_dir: str = ""  # folder holding the dataset's files; "" = data/<dataset>
    download: bool = False  # fetch missing files from the standard URLs (urllib)
    n_train: int = 0  # training images used; 0 = all
    n_test: int = 0  # test images used; 0 = all
    # ---- learner ----
    model: str = "auto"  # auto = PAPER_MODEL[dataset]
    width: int = 0  # 0 = the model's usual width; small values make quick or test models
    # ---- training (the same recipe for reference and fresh networks) ----
    epochs: int = 30
    ref_epochs: int = 0  # reference networks' epochs; 0 = epochs
    batch_size: int = 64
    lr: float = 0.05  # SGD with momentum, cosine schedule to 0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    # ---- threat model: adversarial training, PGD evaluation and the feature attacks ----
    threat: str = "linf"
    eps: float = 0.2  # on 8x8 digits; 0.3 leaves PGD training stuck near chance at quick sizes
    pgd_steps: int = 7  # PGD steps inside adversarial training
    pgd_step_size: float = 0.0  # 0 = 2.5 eps / steps (Madry et al.)
    eval_pgd_steps: int = 20  # PGD steps when measuring robust test accuracy
    n_eval_pgd: int = 0  # test images attacked for acc_pgd each epoch; 0 = all of n_test
    # ---- representative datasets (representation inversion, Ilyas et al. 2019) ----
    n_rep: int = 0  # target images per representative dataset; 0 = all of n_test
    inversion_steps: int = 100
    inversion_step_size: float = 0.0  # steepest-descent step in the threat's norm; 0 = 2 eps / steps
    # ---- NRF-PGD / RF-PGD targeted attacks (Appendix A.2) ----
    n_attack: int = 0  # source images; 0 = all of n_test
    attack_steps: int = 50  # step size 2.5 eps / steps
    # ---- execution ----
    seed: int = 0
    device: str = "auto"  # auto = CUDA when torch sees it, else CPU
    threads: int = 0  # torch CPU threads; 0 = leave torch's default
    quick: bool = False  # records that the quick preset of for_dataset was used

    def __post_init__(self) -> None:
        _coerce(self)
        _validate(self)

    # -- derived values ------------------------------------------------------
    @property
    def model_name(self) -> str:
        return PAPER_MODEL[self.dataset] if self.model == "auto" else self.model

    @property
    def train_step_size(self) -> float:
        return self.pgd_step_size or 2.5 * self.eps / self.pgd_steps

    @property
    def inversion_step(self) -> float:
        """The inversion may travel 2 eps in all (steps x step): far enough to match a standard
        network's representation, not so far that every inversion becomes a clean image of its
        target class (docs/real-images.md shows what an unbounded inversion does on digits)."""
        return self.inversion_step_size or 2 * self.eps / max(1, self.inversion_steps)

    @property
    def reference_epochs(self) -> int:
        return self.ref_epochs or self.epochs

    @classmethod
    def for_dataset(cls, dataset: str = "digits", quick: bool = False, **overrides) -> RealConfig:
        """The dataset's preset (full or quick) with overrides on top."""
        if dataset not in DATASETS:
            raise ConfigError("dataset", f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
        base = {**FULL[dataset], **(QUICK[dataset] if quick else {})}
        return cls(**{"dataset": dataset, "quick": quick, **base, **overrides})


# Full settings: the paper's threat models (MNIST l_inf 0.3; CIFAR10/SVHN l_inf 8/255) and
# models. Meant for a GPU; epochs are modest stand-ins for the paper's unreported schedule.
FULL: dict[str, dict] = {
    "digits": dict(),
    "mnist": dict(eps=0.3, epochs=20, batch_size=128, pgd_steps=20, pgd_step_size=0.03, lr=0.02,
                  inversion_steps=200, n_rep=2000, n_attack=2000, attack_steps=100),
    "cifar10": dict(eps=8 / 255, epochs=60, batch_size=128, pgd_steps=10, pgd_step_size=2 / 255, lr=0.1,
                    inversion_steps=200, n_rep=2000, n_attack=2000, attack_steps=100),
    "svhn": dict(eps=8 / 255, epochs=30, batch_size=128, pgd_steps=10, pgd_step_size=2 / 255, lr=0.01,
                 inversion_steps=200, n_rep=2000, n_attack=2000, attack_steps=100),
}

# Quick settings fit minutes on 2 CPU cores. Digits: tuned with bench/real_quick.py so that
# the pattern of the paper's Tables 1 and 2 holds on seeds 0, 1, 2 (docs/real-images.md).
# Elsewhere: the small CNN on a subsample, a smoke-sized run rather than the paper's.
_QUICK_IMAGES = dict(model="small_cnn", width=16, n_train=5000, n_test=500, epochs=5, pgd_steps=4,
                     pgd_step_size=0.0, eval_pgd_steps=10, n_eval_pgd=200, inversion_steps=50, n_rep=300,
                     n_attack=300, attack_steps=30, lr=0.05)
QUICK: dict[str, dict] = {
    "digits": dict(epochs=10, pgd_steps=4, eval_pgd_steps=10, inversion_steps=50, attack_steps=30),
    "mnist": _QUICK_IMAGES,
    "cifar10": _QUICK_IMAGES,
    "svhn": _QUICK_IMAGES,
}

# (lowest, highest) for numeric fields.
_RANGES: dict[str, tuple[float, float]] = {
    "n_train": (0, 10_000_000), "n_test": (0, 10_000_000), "width": (0, 4096),
    "epochs": (1, 100_000), "ref_epochs": (0, 100_000), "batch_size": (1, 1_000_000),
    "lr": (1e-9, 100.0), "momentum": (0.0, 0.999), "weight_decay": (0.0, 1.0),
    "eps": (1e-9, 1000.0), "pgd_steps": (1, 1000), "pgd_step_size": (0.0, 1000.0),
    "eval_pgd_steps": (0, 1000), "n_eval_pgd": (0, 10_000_000), "n_rep": (0, 10_000_000),
    "inversion_steps": (0, 100_000), "inversion_step_size": (0.0, 1000.0), "n_attack": (0, 10_000_000),
    "attack_steps": (0, 100_000), "seed": (0, 2**63 - 1), "threads": (0, 1024),
}
_CHOICES = {"dataset": DATASETS, "model": MODELS, "threat": THREATS, "device": DEVICES}


def _coerce(cfg: RealConfig) -> None:
    """Accept 3.0 for an int and 3 for a float (JSON, sliders); refuse everything else by name."""
    for f in fields(cfg):
        value, kind = getattr(cfg, f.name), str(f.type)
        if kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f.name, f"expected true or false, got {value!r}")
        elif kind == "int":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
                raise ConfigError(f.name, f"expected an integer, got {value!r}")
            object.__setattr__(cfg, f.name, int(value))
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f.name, f"expected a finite number, got {value!r}")
            object.__setattr__(cfg, f.name, float(value))
        elif not isinstance(value, str):
            raise ConfigError(f.name, f"expected text, got {value!r}")


def _validate(cfg: RealConfig) -> None:
    for name, allowed in _CHOICES.items():
        if getattr(cfg, name) not in allowed:
            raise ConfigError(name, f"unknown value {getattr(cfg, name)!r}; choose one of {', '.join(allowed)}")
    for name, (low, high) in _RANGES.items():
        value = getattr(cfg, name)
        if not low <= value <= high:
            raise ConfigError(name, f"{value:g} is out of range; allowed {low:g} <= {name} <= {high:g}")
    if cfg.threat == "linf" and cfg.eps >= 1:
        raise ConfigError("eps", f"{cfg.eps:g} covers the whole [0, 1] pixel range; l_inf eps must be < 1")
    if cfg.n_train and cfg.batch_size > cfg.n_train:
        raise ConfigError("batch_size", f"{cfg.batch_size} exceeds n_train = {cfg.n_train}")
