"""Representative datasets and feature attacks on top of attacks.py: choosing images,
batching, and the summary numbers (representation distances, success rates)."""

from __future__ import annotations

import torch

from .real_attacks import feature_pgd, invert
from .real_config import RealConfig
from .real_training import Cancelled, predict

CHUNK = 256  # images per inversion / attack batch: bounds memory for the big models


def pick_other_class(y: torch.Tensor, pool_y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """For each label in y, the index of a random pool image whose label differs."""
    out = torch.empty(len(y), dtype=torch.long)
    for i, label in enumerate(y.tolist()):
        candidates = torch.nonzero(pool_y != label).flatten()
        out[i] = candidates[torch.randint(len(candidates), (1,), generator=gen)]
    return out


def pick_of_class(classes: torch.Tensor, pool_y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    out = torch.empty(len(classes), dtype=torch.long)
    for i, label in enumerate(classes.tolist()):
        candidates = torch.nonzero(pool_y == label).flatten()
        out[i] = candidates[torch.randint(len(candidates), (1,), generator=gen)]
    return out


def _chunked(fn, *tensors, stop=None):
    parts = []
    for i in range(0, len(tensors[0]), CHUNK):
        if stop is not None and stop():
            raise Cancelled("stopped")
        parts.append(fn(*(t[i : i + CHUNK] for t in tensors)))
    return torch.cat(parts)


def rep_distance(model, z, x) -> float:
    """Mean relative representation distance ||g(z) - g(x)|| / ||g(x)||."""
    model.eval()
    with torch.no_grad():
        gz, gx = model.features(z), model.features(x)
    return ((gz - gx).norm(dim=1) / gx.norm(dim=1).clamp_min(1e-12)).mean().item()


def build_representatives(model, x_target, x_start, cfg: RealConfig, should_stop=None, report=None) -> torch.Tensor:
    """One representative dataset: invert ``model``'s representation of each target from its start."""
    parts = []
    for i in range(0, len(x_target), CHUNK):
        if should_stop is not None and should_stop():
            raise Cancelled("stopped during inversion")
        parts.append(invert(model, x_target[i : i + CHUNK], x_start[i : i + CHUNK], cfg.inversion_steps,
                            cfg.inversion_step, cfg.threat, should_stop))
        if report:
            report(min(1.0, (i + CHUNK) / len(x_target)))
    return torch.cat(parts)


def attack_success(extractor, victims: dict, x_src, x_tgt, y_tgt, cfg: RealConfig, stop=None) -> dict:
    """Success rate of a feature-matching attack (NRF-PGD or RF-PGD) against each victim."""
    step = 2.5 * cfg.eps / max(1, cfg.attack_steps)
    adv = _chunked(lambda s, t: feature_pgd(extractor, s, t, cfg.eps, cfg.attack_steps, step, cfg.threat),
                   x_src, x_tgt, stop=stop)
    rates = {name: (predict(net, adv) == y_tgt).float().mean().item() for name, net in victims.items()}
    return {**rates, "n": len(y_tgt), "eps": cfg.eps, "threat": cfg.threat}
