"""Every random stream of a run, named in one place: which seed feeds which draw.

One config seed fixes a run. The streams are kept apart by fixed offsets so that, for
example, the weights do not change when the data's generator draws one more number.
"""

from __future__ import annotations

import torch


def data_generator(seed: int) -> torch.Generator:
    """Training and test sets, drawn one after the other (core.engine.data.make_datasets)."""
    return torch.Generator().manual_seed(seed)


def swap_generator(seed: int) -> torch.Generator:
    """The other class y' of Theorem 4.3's swap in the fixed evaluation set."""
    return torch.Generator().manual_seed(seed)


def init_generator(seed: int) -> torch.Generator:
    """The initial weights: twin runs and every device start from the same ones."""
    return torch.Generator().manual_seed(seed + 1)


def training_generator(seed: int) -> torch.Generator:
    """Mini-batch order and the random starts of PGD training."""
    return torch.Generator().manual_seed(seed + 2)


def eval_pgd_generator(seed: int, step: int) -> torch.Generator:
    """PGD's random starts at an evaluation: twin runs at the same step face the same starts."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def inspect_pgd_generator(seed: int, step: int, index: int) -> torch.Generator:
    """The Lab's adversarial-patch view of one test example at one logged step."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step * 7919 + index)


def constructed_pgd_generator(seed: int) -> torch.Generator:
    """PGD's random starts against the constructed minima of Propositions 3.1/3.2 (core.engine.theory)."""
    return torch.Generator().manual_seed(seed)


def direction_pool_generator() -> torch.Generator:
    """The fixed pool of unit directions that random starts pick from (core.engine.threats)."""
    return torch.Generator().manual_seed(20250101)
