"""What the dashboard's charts need beyond the stored metrics: plain computations, no UI.

* the run's test set, regenerated from its config (same seed, same numbers as training saw);
* the adversarial-patch view: one test example, the PGD perturbation a stored snapshot
  suffers, everything projected on the 2k feature directions plus a residual norm, and the
  perturbation's energy split by feature direction;
* the weights as a neurons x features matrix;
* downsampling of long metric histories for plotting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import Config
from .data import PatchData, make_datasets, make_patch_data
from .fast import logits
from .metrics import pgd_attack
from .network import Arch
from .seeds import data_generator, inspect_pgd_generator
from .threats import get_threat_model

# Above this many train-set floats, skip over the train set's noise draw chunk by chunk
# instead of materialising it (paper-scale: 200M floats = 800 MB just to reach the test set).
_MATERIALISE_LIMIT = 16_000_000
_NORMAL_BLOCK = 16  # torch's CPU normal sampler fills blocks of 16: chunk sizes must be multiples
_SKIP_CHUNK_FLOATS = 4_000_000  # 16 MB at a time while skipping


def run_test_set(cfg: Config) -> PatchData:
    """The test set a run of ``cfg`` was evaluated on, identical to ``make_datasets(cfg)[1]``."""
    if cfg.n_train * cfg.P * cfg.d <= _MATERIALISE_LIMIT or cfg.P * cfg.d < _NORMAL_BLOCK:
        return make_datasets(cfg)[1]
    generator = data_generator(cfg.seed)
    _skip_patch_data(cfg, cfg.n_train, generator)
    return make_patch_data(cfg, cfg.n_test, generator)


def _skip_patch_data(cfg: Config, n: int, generator: torch.Generator) -> None:
    """Consume exactly the random numbers make_patch_data(cfg, n) would, in bounded memory.

    Mirrors core.engine.data.make_patch_data's draw order; tests/test_app_inspect.py checks the
    result against make_datasets so that a change there cannot silently desync this.
    """
    torch.randint(0, cfg.k, (n,), generator=generator)
    torch.rand(n, cfg.P, generator=generator)
    if cfg.jitter > 0:
        torch.rand(n, cfg.P, generator=generator)
        torch.rand(n, cfg.P, generator=generator)
    rows = max(_NORMAL_BLOCK, (_SKIP_CHUNK_FLOATS // (cfg.P * cfg.d)) // _NORMAL_BLOCK * _NORMAL_BLOCK)
    for start in range(0, n, rows):
        torch.randn(min(rows, n - start), cfg.P, cfg.d, generator=generator)


def feature_labels(k: int) -> list[str]:
    """Column names of the 2k feature coordinates plus the residual: u1..uk, v1..vk, rest."""
    return [f"u{j + 1}" for j in range(k)] + [f"v{j + 1}" for j in range(k)] + ["rest"]


def project_patches(X: torch.Tensor, k: int) -> np.ndarray:
    """(P, d) patches -> (P, 2k+1): the 2k feature coordinates and the norm of the rest.

    Features are axis-aligned (u_j = e_j, v_j = e_{k+j}), so projecting is slicing.
    """
    features = X[:, : 2 * k]
    rest = X[:, 2 * k :].norm(dim=1, keepdim=True)
    return torch.cat([features, rest], 1).numpy()


# Groups of the perturbation's energy, in the order the chart shows them.
DECOMPOSITION = ("-v_y", "+v_y", "-u_y", "+u_y", "other u", "other v", "noise")


def decompose(delta: torch.Tensor, y: int, k: int) -> dict[str, float]:
    """Share of ||delta||^2 (summed over patches) in each feature group; shares add to 1.

    The true class's directions are split by sign: -v_y erases the non-robust feature
    (what breaks a standard model), +u_y would strengthen the robust one, and so on.
    """
    sq = delta.pow(2)
    own_u, own_v = delta[:, y], delta[:, k + y]
    others = [j for j in range(k) if j != y]
    parts = {
        "-v_y": own_v.clamp(max=0).pow(2).sum(),
        "+v_y": own_v.clamp(min=0).pow(2).sum(),
        "-u_y": own_u.clamp(max=0).pow(2).sum(),
        "+u_y": own_u.clamp(min=0).pow(2).sum(),
        "other u": sq[:, others].sum(),
        "other v": sq[:, [k + j for j in others]].sum(),
        "noise": sq[:, 2 * k :].sum(),
    }
    total = float(sq.sum()) or 1.0
    return {name: float(value) / total for name, value in parts.items()}


@dataclass
class PatchView:
    """One example attacked at one snapshot: the arrays of the adversarial-patch view."""

    y: int
    robust: np.ndarray  # (P,) bool: which patches hold the robust feature
    clean: np.ndarray  # (P, 2k+1)
    perturbation: np.ndarray  # (P, 2k+1)
    perturbed: np.ndarray  # (P, 2k+1)
    decomposition: dict[str, float]
    pred_clean: int
    pred_attacked: int
    delta_norm: float  # the threat model's norm of the perturbation


def adversarial_patches(cfg: Config, W: torch.Tensor, test: PatchData, index: int, step: int) -> PatchView:
    """PGD (the run's evaluation attack) on test example ``index`` against weights ``W``.

    The random start is seeded by (seed, step, index): the same view every time it is asked for.
    """
    arch = Arch.from_config(cfg)
    W = W.float().cpu()
    X, y = test.X[index : index + 1], test.y[index : index + 1]
    generator = inspect_pgd_generator(cfg.seed, step, index)
    delta, _ = pgd_attack(cfg).perturb(W, X, y, arch, generator)
    with torch.no_grad():
        pred_clean = int(logits(W, X, arch).argmax(1))
        pred_attacked = int(logits(W, X + delta, arch).argmax(1))
    label = int(y)
    return PatchView(
        y=label,
        robust=test.robust[index].numpy(),
        clean=project_patches(X[0], cfg.k),
        perturbation=project_patches(delta[0], cfg.k),
        perturbed=project_patches((X + delta)[0], cfg.k),
        decomposition=decompose(delta[0], label, cfg.k),
        pred_clean=pred_clean,
        pred_attacked=pred_attacked,
        delta_norm=float(get_threat_model(cfg.threat_model).norm(delta)[0]),
    )


def weight_features(W: torch.Tensor, k: int) -> np.ndarray:
    """(k*m, d) weights -> (k*m, 2k+1): each neuron's coefficients on u_1..u_k, v_1..v_k, rest norm."""
    return project_patches(W.float().cpu(), k)


def neuron_labels(k: int, m: int) -> list[str]:
    return [f"class {r + 1} · n{i + 1}" for r in range(k) for i in range(m)]


def downsample(frame, max_points: int = 400, keep_steps=()):
    """At most about max_points rows, evenly spread, always keeping the first, the last and keep_steps."""
    if len(frame) <= max_points:
        return frame
    picks = set(np.linspace(0, len(frame) - 1, max_points).round().astype(int).tolist())
    if keep_steps:
        steps = frame["step"].to_numpy()
        picks.update(int(i) for i in np.flatnonzero(np.isin(steps, list(keep_steps))))
    return frame.iloc[sorted(picks)]
