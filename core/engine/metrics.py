"""What is measured at each logged step (the paper's Section 6.1 and Definition 4.1; docs/engine.md).

Every function takes one run (W (K, d), data (n, P, d)) or a batch of runs (W (R, K, d),
data (R, n, P, d)); ``evaluate_runs`` is the one evaluation both training loops use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .attacks import OneStepAttack, PGDAttack, per_run, swap_classes, swap_perturbation
from .config import Config
from .data import PatchData
from .fast import chunk_rows, chunks, logits
from .network import Arch, preact
from .seeds import eval_pgd_generator, swap_generator
from .threats import get_threat_model

# The metric names, in the order tables and CSV columns show them (docs/engine.md says what each measures).
METRICS = (
    "corr_robust",
    "corr_nonrobust",
    "lambda_robust",
    "gamma_nonrobust",
    "acc_clean",
    "acc_pgd",
    "acc_swap",
    "acc_robust_feature",
    "acc_nonrobust_feature",
    "acc_onestep",
    "loss",
    "acc_train",
)


def feature_alignments(W: torch.Tensor, k: int, m: int) -> dict[str, list[float]]:
    """The paper's weight-feature correlations of every run in W (R, k*m, d): max over a
    class's neurons, mean over classes. corr_* use <w, u_r> / ||w||; lambda/gamma the raw one."""
    per_class = W.reshape(-1, k, m, W.shape[-1])  # (R, k, m, d)
    raw_robust = torch.diagonal(per_class[..., :k], dim1=1, dim2=3)  # (R, m, k): W[r, c, i, c]
    raw_nonrobust = torch.diagonal(per_class[..., k : 2 * k], dim1=1, dim2=3)
    norms = per_class.norm(dim=3).clamp_min(1e-12).transpose(1, 2)  # (R, m, k)
    return {
        "corr_robust": (raw_robust / norms).amax(1).mean(1).tolist(),
        "corr_nonrobust": (raw_nonrobust / norms).amax(1).mean(1).tolist(),
        "lambda_robust": raw_robust.amax(1).mean(1).tolist(),
        "gamma_nonrobust": raw_nonrobust.amax(1).mean(1).tolist(),
    }


def feature_alignment(W: torch.Tensor, k: int, m: int) -> dict[str, float]:
    """feature_alignments of one run."""
    return {name: values[0] for name, values in feature_alignments(W, k, m).items()}


def phase_transition_step(history: list[dict]) -> int | None:
    """First logged step where corr_robust overtakes corr_nonrobust after being behind."""
    behind = False
    for row in history:
        if row["corr_robust"] < row["corr_nonrobust"]:
            behind = True
        elif behind and row["corr_robust"] > row["corr_nonrobust"]:
            return row["step"]
    return None


_VARIANTS = ("X_robust_only", "X_nonrobust_only", "X_swap", "y_swap")


@dataclass
class EvalSet:
    """The test set and its fixed variants, built once per data set (twin runs share it).

    For a batch of runs every tensor has a leading run dimension (``EvalSet.stack``)."""

    test: PatchData
    X_robust_only: torch.Tensor  # non-robust feature terms removed: acc_robust_feature
    X_nonrobust_only: torch.Tensor  # robust feature terms removed: acc_nonrobust_feature
    X_swap: torch.Tensor  # Theorem 4.3 swap applied
    y_swap: torch.Tensor  # (n,) the class whose non-robust feature the swap puts in

    @classmethod
    def build(cls, test: PatchData, seed: int) -> EvalSet:
        y_swap = swap_classes(test, swap_generator(seed))
        swap = swap_perturbation(test, None, y_other=y_swap)
        return cls(test, test.without("nonrobust"), test.without("robust"), test.X + swap, y_swap)

    @classmethod
    def stack(cls, sets: list[EvalSet]) -> EvalSet:
        first = sets[0].test
        test = PatchData(*(torch.stack([getattr(s.test, f) for s in sets]) for f in ("X", "y", "robust", "coef")),
                         first.k)
        return cls(test, *(torch.stack([getattr(s, f) for s in sets]) for f in _VARIANTS))

    def to(self, device, dtype=None) -> EvalSet:
        def move(x):
            return x.to(device=device, dtype=dtype if dtype is not None and x.is_floating_point() else None)

        test = PatchData(move(self.test.X), self.test.y.to(device), self.test.robust.to(device),
                         move(self.test.coef), self.test.k)
        return EvalSet(test, *(move(getattr(self, f)) for f in _VARIANTS))

    def runs(self, part: slice) -> EvalSet:
        """The runs `part` of a stacked set."""
        t = self.test
        return EvalSet(PatchData(t.X[part], t.y[part], t.robust[part], t.coef[part], t.k),
                       *(getattr(self, f)[part] for f in _VARIANTS))

    def variant_edits(self, W: torch.Tensor, examples: slice):
        """How each feature variant changes the pre-activations of the examples `examples`:
        {name: (amount (N, P), row (N, K))}, the variant's Z being Z + amount * row per patch.

        Features are coordinates (data.py), so removing or swapping a patch's feature term moves
        its pre-activations along one or two columns of W: the robust-only inputs drop beta_p
        times column k + y on the non-robust patches, the non-robust-only ones alpha_p times
        column y on the robust patches, and the swap adds beta_p (column k + y' - column k + y)."""
        t, k = self.test, self.test.k
        y, y_other = t.y[..., examples].reshape(-1), self.y_swap[..., examples].reshape(-1)
        robust = t.robust[..., examples, :].reshape(y.shape[0], -1)
        coef = t.coef[..., examples, :].reshape(y.shape[0], -1).to(W.dtype)
        columns = W.transpose(-1, -2).reshape(-1, W.shape[-2])  # (R * d, K): row c of run r at r * d + c
        run = 0 if W.dim() == 2 else (torch.arange(W.shape[0], device=W.device) * W.shape[-1]).repeat_interleave(
            y.shape[0] // W.shape[0])

        def column(index):
            return columns.index_select(0, index + run)

        on_nonrobust = coef * (~robust).to(coef.dtype)
        return {
            "acc_robust_feature": (-on_nonrobust, column(k + y)),
            "acc_nonrobust_feature": (-(coef - on_nonrobust), column(y)),
            "acc_swap": (on_nonrobust, column(k + y_other) - column(k + y)),
        }


def correct_counts(W, X, y, arch: Arch, attack=None, generator=None) -> torch.Tensor:
    """Correct predictions per run (a 0-d tensor for one run), example chunk by chunk.

    With an attack, each chunk is attacked first; generator feeds its random starts (one
    per run for a batch, a list)."""
    n = y.shape[-1]
    correct = torch.zeros(W.shape[:-2], device=W.device, dtype=torch.long)
    geometry = starts = None
    if attack is not None:  # what every chunk shares: W's pair geometry, the starts of all examples
        geometry, starts = attack.prepare(W, arch, counting=True), attack.start_draws(X, generator)
    for part in chunks(n, chunk_rows(n, X.shape[-2], max(W.shape[-2:]), X.device)):
        Xc, yc = X[..., part, :, :], y[..., part]
        if attack is None:
            F = logits(W, Xc, arch)
        else:
            F = _logits_at(W, attack.point(W, Xc, yc, arch, generator, geometry=geometry,
                                           starts=None if starts is None else starts.part(part)), arch)
        correct += (F.argmax(1).view(yc.shape) == yc).sum(-1)
    return correct


def _logits_at(W, point, arch: Arch) -> torch.Tensor:
    """The logits at an attack's point, from its pre-activations when it has them: then the
    attacked inputs are never formed (an evaluation only counts)."""
    return logits(W, None, arch, point.Z) if point.Z is not None else logits(W, point.X, arch)


def clean_variant_and_one_step_counts(W, ev: EvalSet, arch: Arch, one_step: OneStepAttack) -> dict:
    """Correct counts per run at the clean inputs, the three feature variants and the one-step
    attack, from one forward product per chunk: the variants' pre-activations are the clean ones
    plus a change along one or two columns of W (EvalSet.variant_edits), and the one-step attack
    starts from the clean ones (its forward pass gives the clean logits anyway)."""
    X, y = ev.test.X, ev.test.y
    n = y.shape[-1]
    names = ("acc_clean", "acc_robust_feature", "acc_nonrobust_feature", "acc_swap", "acc_onestep")
    counts = {name: torch.zeros(W.shape[:-2], device=W.device, dtype=torch.long) for name in names}
    geometry = one_step.prepare(W, arch, counting=True)
    for part in chunks(n, chunk_rows(n, X.shape[-2], max(W.shape[-2:]), X.device)):
        Xc, yc = X[..., part, :, :], y[..., part]
        Z = preact(W, Xc)

        def count(name, F, yc=yc):
            counts[name] += (F.argmax(1).view(yc.shape) == yc).sum(-1)

        for name, (amount, row) in ev.variant_edits(W, part).items():
            count(name, logits(W, None, arch, torch.addcmul(Z, amount[..., None], row[:, None, :])))
        point = one_step.point(W, Xc, yc, arch, geometry=geometry, Z=Z)
        count("acc_clean", point.F_clean)
        count("acc_onestep", _logits_at(W, point, arch))
    return counts


def accuracy(W, X, y, arch: Arch) -> float:
    return correct_counts(W, X, y, arch).item() / max(1, len(y))


def attacked_accuracy(W, X, y, arch: Arch, attack, generator) -> float:
    return correct_counts(W, X, y, arch, attack, generator).item() / max(1, len(y))


def pgd_attack(cfg: Config) -> PGDAttack:
    return PGDAttack.standard(get_threat_model(cfg.threat_model), cfg.eps, cfg.pgd_steps, cfg.pgd_objective)


def evaluate_runs(W: torch.Tensor, ev: EvalSet, cfgs, step: int) -> list[dict[str, float]]:
    """Test metrics of every run at weights W, one dict per run. PGD's random start is
    seeded by (seed, step), so two runs evaluated at the same step face the same starts."""
    cfg = cfgs[0]
    arch = Arch.from_config(cfg)
    threat = get_threat_model(cfg.threat_model)
    eps = per_run(cfgs, "eps", W)
    y, n = ev.test.y, cfg.n_pgd
    generators = [eval_pgd_generator(c.seed, step) for c in cfgs]
    pgd = PGDAttack.standard(threat, eps, cfg.pgd_steps, cfg.pgd_objective)
    one_step = OneStepAttack(threat, eps, per_run(cfgs, "eta_a", W), cfg.train_objective)
    counts = {name: (count, y.shape[-1]) for name, count in
              clean_variant_and_one_step_counts(W, ev, arch, one_step).items()}
    counts["acc_pgd"] = (correct_counts(W, ev.test.X[..., :n, :, :], y[..., :n], arch, pgd,
                                        generators if W.dim() > 2 else generators[0]), n)
    acc = {name: (count.reshape(-1).double() / max(1, total)).tolist() for name, (count, total) in counts.items()}
    align = feature_alignments(W, cfg.k, cfg.m)
    return [{**{name: values[r] for name, values in align.items()}, **{name: values[r] for name, values in acc.items()}}
            for r in range(len(cfgs))]


def evaluate(W: torch.Tensor, ev: EvalSet, cfg: Config, step: int) -> dict[str, float]:
    """evaluate_runs of one run."""
    return evaluate_runs(W, ev, [cfg], step)[0]
