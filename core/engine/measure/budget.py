"""What the dashboard's server process may compute itself, estimated before it computes.

The Streamlit server serves a whole class: a page that builds a 20 GB test set inside it takes every
student's page down. Background jobs have the machine's memory (resources.check_memory); the server
has a small fixed budget. Every computation a page runs in the server (the Theory page's constructed
minima and reduced dynamics, the Lab's look-inside views that regenerate a run's test set) asks
``check_server`` first with an estimate of its peak bytes and its work, and is refused with a
ConfigError naming the knob to shrink when it does not fit.

The budget: RFL_SERVER_MEMORY_MB (default 2048) and RFL_SERVER_GFLOP (default 200) override it;
the tests set them small.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..config import Config, ConfigError
from ..random_starts import pool_bytes

BYTES = 4  # float32
DEFAULT_MEMORY_MB = 2048
DEFAULT_GFLOP = 200.0  # figure3's Theory page (~100 GFLOP) fits; paper-scale's (~1500) does not
MEMORY_ENV = "RFL_SERVER_MEMORY_MB"
WORK_ENV = "RFL_SERVER_GFLOP"


@dataclass(frozen=True)
class ServerBudget:
    memory_bytes: int
    flops: float

    @classmethod
    def from_env(cls) -> ServerBudget:
        def number(name: str, default: float) -> float:
            try:
                value = float(os.environ.get(name, default))
            except ValueError:
                value = default
            return value if value > 0 else default

        return cls(int(number(MEMORY_ENV, DEFAULT_MEMORY_MB) * 2**20), number(WORK_ENV, DEFAULT_GFLOP) * 1e9)


@dataclass(frozen=True)
class Cost:
    """Peak bytes, floating-point work, and the knobs that drive them (biggest share first)."""

    bytes: float
    flops: float
    knobs: tuple[str, ...]


def _forward_flops(cfg: Config, n: float) -> float:
    """One pass of the network over n examples: X W^T is 2 n P d (k m) flops, plus the activations."""
    return 2.0 * n * cfg.P * cfg.d * cfg.k * cfg.m + 4.0 * n * cfg.P * cfg.k * cfg.m


def minima_cost(cfg: Config, scales: int, pgd_cap: int) -> Cost:
    """theory.evaluate_constructed: the test set (X, its swap copy, the PGD copy) and, per minimum and
    scale, clean / swap / loss passes over all of it plus PGD on at most pgd_cap examples."""
    n, n_pgd = cfg.n_test, min(cfg.n_pgd, pgd_cap)
    data = BYTES * n * cfg.P * (cfg.d * 4 + 2)
    activations = BYTES * n * cfg.P * cfg.k * cfg.m * 3
    per_eval = 3 * _forward_flops(cfg, n) + _forward_flops(cfg, n_pgd) * (3 * cfg.pgd_steps + 1)
    return Cost(data + activations + pool_bytes(cfg.d, BYTES), 2 * scales * per_eval, ("n_test", "P", "d"))


def dynamics_cost(cfg: Config) -> Cost:
    """theory.reduced_dynamics, both modes: k noiseless examples of P patches in 2k dimensions, `steps`
    gradient steps (an attack and a gradient each), one logged row per eval_every steps."""
    small = cfg.replace(d=2 * cfg.k, n_train=cfg.k)
    step = 4 * _forward_flops(small, cfg.k)
    rows = 2 * (cfg.steps // cfg.eval_every + 2) * 200  # a dict of five floats per logged step
    return Cost(BYTES * cfg.k * cfg.P * 2 * cfg.k * 8 + rows, 2.0 * cfg.steps * step, ("steps",))


def patch_view_cost(cfg: Config) -> Cost:
    """look_inside.run_test_set: the run's n_test examples kept, its n_train ones drawn and skipped; and the
    view's PGD start pool."""
    kept = BYTES * cfg.n_test * cfg.P * (cfg.d + 2)
    drawn = (cfg.n_train + cfg.n_test) * cfg.P * cfg.d * 20.0  # ~20 flops a Gaussian sample
    pool = pool_bytes(cfg.d, BYTES)  # the view's PGD start pool (look_inside.adversarial_patches)
    return Cost(kept + BYTES * 4_000_000 + pool, drawn, ("n_test", "P", "d") if cfg.n_test >= cfg.n_train else
                ("n_train", "P", "d"))


def check_server(what: str, cost: Cost, budget: ServerBudget | None = None) -> None:
    """Refuse, before any work, what would not fit the server's budget; the message names the knobs."""
    budget = budget or ServerBudget.from_env()
    field = cost.knobs[0]
    shrink = " or ".join(cost.knobs)
    if cost.bytes > budget.memory_bytes:
        raise ConfigError(field, f"{what} runs inside the dashboard's server and would need about "
                                 f"{cost.bytes / 2**20:,.0f} MB, over its budget of {budget.memory_bytes / 2**20:,.0f}"
                                 f" MB ({MEMORY_ENV}); shrink {shrink}")
    if cost.flops > budget.flops:
        raise ConfigError(field, f"{what} runs inside the dashboard's server and would take about "
                                 f"{cost.flops / 1e9:,.0f} GFLOP, over its budget of {budget.flops / 1e9:,.0f}"
                                 f" GFLOP ({WORK_ENV}); shrink {shrink}")
