"""Patch-structured data with robust and non-robust features (Definition 2.2).

Features are axis-aligned: the robust feature of class j is e_j, the non-robust one
e_{k+j}. Because of that, each patch's feature term is one coordinate, and the variants
the metrics need (feature removed, Theorem 4.3 swap) are cheap index edits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import Config
from .seeds import data_generator


@dataclass
class PatchData:
    X: torch.Tensor  # (N, P, d) patches: feature term + noise
    y: torch.Tensor  # (N,) labels in [0, k)
    robust: torch.Tensor  # (N, P) bool: patch p of example n is in J_R
    coef: torch.Tensor  # (N, P) alpha_p on J_R, beta_p on J_NR
    k: int

    def __len__(self) -> int:
        return self.y.shape[0]

    def feature_index(self) -> torch.Tensor:
        """(N, P) the coordinate that holds each patch's feature."""
        return torch.where(self.robust, self.y[:, None], self.y[:, None] + self.k)

    def feature_term(self) -> torch.Tensor:
        """(N, P, d) the feature part of X, noise excluded."""
        term = torch.zeros_like(self.X)
        term.scatter_(2, self.feature_index().unsqueeze(2), self.coef.unsqueeze(2))
        return term

    def without(self, which: str) -> torch.Tensor:
        """X with the robust or the non-robust feature terms replaced by zero, noise kept.

        Definition 4.1 on synthetic data: removing the non-robust terms leaves what the
        robust feature alone can tell ("robust-feature accuracy"), and vice versa.
        """
        keep = self.robust if which == "nonrobust" else ~self.robust
        term = self.feature_term() * (~keep).unsqueeze(2)
        return self.X - term

    def to(self, device) -> PatchData:
        return PatchData(self.X.to(device), self.y.to(device), self.robust.to(device), self.coef.to(device), self.k)

    def subset(self, n: int) -> PatchData:
        return PatchData(self.X[:n], self.y[:n], self.robust[:n], self.coef[:n], self.k)


def _coefficients(mean: float, jitter: float, shape, generator) -> torch.Tensor:
    if jitter <= 0:
        return torch.full(shape, mean)
    return mean * (1 + jitter * (2 * torch.rand(shape, generator=generator) - 1))


def make_patch_data(cfg: Config, n: int, generator: torch.Generator) -> PatchData:
    """Draw n examples on the CPU (same numbers whatever the device), in float32."""
    k, P, s, d = cfg.k, cfg.P, cfg.s, cfg.d
    y = torch.randint(0, k, (n,), generator=generator)
    # a uniformly random set J_R of s positions per example: the s smallest of P uniforms
    order = torch.rand(n, P, generator=generator).argsort(dim=1)
    robust = torch.zeros(n, P, dtype=torch.bool)
    robust.scatter_(1, order[:, :s], True)
    alpha = _coefficients(cfg.alpha, cfg.jitter, (n, P), generator)
    beta = _coefficients(cfg.beta, cfg.jitter, (n, P), generator)
    coef = torch.where(robust, alpha, beta)
    X = torch.randn(n, P, d, generator=generator).mul_(cfg.sigma_p)
    data = PatchData(X, y, robust, coef, k)
    data.X += data.feature_term()
    return data


def make_datasets(cfg: Config) -> tuple[PatchData, PatchData]:
    """Train and test sets from the config's seed; twin runs share them."""
    generator = data_generator(cfg.seed)
    train = make_patch_data(cfg, cfg.n_train, generator)
    test = make_patch_data(cfg, cfg.n_test, generator)
    return train, test


def representatives(cfg: Config, device=None) -> PatchData:
    """One noiseless example per class at alpha and beta exactly (Section 5's population view).

    Robust patches come first; positions do not matter to a patch-shared network.
    """
    k, P, s = cfg.k, cfg.P, cfg.s
    y = torch.arange(k)
    robust = torch.zeros(k, P, dtype=torch.bool)
    robust[:, :s] = True
    coef = torch.where(robust, torch.tensor(cfg.alpha), torch.tensor(cfg.beta))
    data = PatchData(torch.zeros(k, P, 2 * k), y, robust, coef, k)
    data.X += data.feature_term()
    return data.to(device) if device is not None else data
