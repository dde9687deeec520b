"""Robust Feature Lab's engine: data, network, attacks, training and theory (no UI here)."""

import os

# A run's numbers must not depend on its thread count: the job manager hands idle cores to running runs
# between two steps. MKL's float products split their sums by thread count (on a 16-core Xeon already at
# 2 threads); its strict reproducible mode keeps one order at every count, and at one thread it gives the
# numbers it gave without it. MKL reads this at its first product, so it is set here, before any engine
# code runs; a value the user set stays.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

from .engine.config import Config, ConfigError  # noqa: E402  (after the setting above)

__all__ = ["Config", "ConfigError"]
