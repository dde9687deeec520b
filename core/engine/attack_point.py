"""What an attack hands the training loop and the evaluation: the attacked chunk."""

from __future__ import annotations

import torch


class AttackPoint:
    """An attacked chunk: its inputs X, their pre-activations Z when the attack has them (else
    None), and the logits at the clean inputs when the attack computed them (else None). X may be
    made on first use: an evaluation that only counts correct answers reads Z and never pays it."""

    def __init__(self, X=None, Z=None, F_clean=None, make_X=None):
        self._X, self._make_X, self.Z, self.F_clean = X, make_X, Z, F_clean

    @property
    def X(self) -> torch.Tensor:
        if self._X is None:
            self._X, self._make_X = self._make_X(), None
        return self._X
