"""A sweep's grid, apart from how it runs: which runs it holds and roughly how long they take.

``parse_grid("eps=0.1,0.3")`` or ``parse_grid("s=1:9:5")`` reads a knob's values;
``SweepSpec`` holds the base config, the grid of one or two fields, the seeds and the modes;
``sweep_points`` lists every (point, seed, mode, config); ``estimate_seconds`` guesses the wall
time for the UI. Nothing here starts a process: ``core.runs.sweep`` runs a spec.
"""

from __future__ import annotations

import math

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, fields

from ..engine.config import MODES, Config, ConfigError, parse_value

MODE_CHOICES = {"std": ("std",), "adv": ("adv",), "both": MODES}
_KINDS = {f.name: str(f.type) for f in fields(Config)}
# Bounds on what a grid may name, checked before anything is built: a typed "0:1:100000000" must not make
# a list of 10^8 values (and 10^8 configs) in the server. Generous for any phase diagram.
MAX_GRID_VALUES = 200
MAX_SEEDS = 1000
MAX_RUNS = 100_000


def parse_grid(spec: str, base: Config | None = None) -> tuple[str, list]:
    """``FIELD=V1,V2,...`` or ``FIELD=A:B:N`` (N evenly spaced points, both ends included).

    Values are parsed by the field's type (ints stay ints); with a base config, each value
    is also checked by building the config. Any problem raises ConfigError naming the field.
    """
    if "=" not in spec:
        raise ConfigError(spec.strip() or "grid", "expected FIELD=V1,V2,... or FIELD=A:B:N")
    name, raw = (part.strip() for part in spec.split("=", 1))
    if name not in _KINDS:
        raise ConfigError(name, f"unknown field; known fields are {', '.join(sorted(_KINDS))}")
    if name == "seed":
        raise ConfigError(name, "sweep seeds with --seeds N (or SweepSpec seeds), not a grid")
    kind = _KINDS[name]
    if ":" in raw:
        values = _range(name, kind, raw)
    else:
        items = [item.strip() for item in raw.split(",") if item.strip()]
        if len(items) > MAX_GRID_VALUES:
            raise ConfigError(name, f"{len(items)} values; a grid has at most {MAX_GRID_VALUES} per field")
        values = [parse_value(name, kind, item) for item in items]
    if not values:
        raise ConfigError(name, f"no values in {spec!r}")
    if len(set(values)) != len(values):
        raise ConfigError(name, f"repeated values in {raw!r}")
    if base is not None:
        for value in values:
            base.replace(**{name: value})  # raises ConfigError naming the field
    return name, values


def _range(name: str, kind: str, raw: str) -> list:
    parts = raw.split(":")
    if len(parts) != 3 or kind not in ("int", "float"):
        raise ConfigError(name, f"expected A:B:N for a numeric field, got {raw!r}")
    low, high = (float(parse_value(name, "float", p)) for p in parts[:2])
    count = parse_value(name + " (N)", "int", parts[2])
    if not 1 <= count <= MAX_GRID_VALUES:
        raise ConfigError(name, f"N = {count} in {raw!r}; allowed 1 <= N <= {MAX_GRID_VALUES}")
    step = (high - low) / (count - 1) if count > 1 else 0.0
    values = [round(low + i * step, 12) for i in range(count)]  # round off 0.30000000000000004
    if kind == "int":
        if any(not float(v).is_integer() for v in values):
            raise ConfigError(name, f"{raw!r} gives non-integer points; choose N so that (B-A)/(N-1) is whole")
        values = [int(v) for v in values]
    return values


@dataclass(frozen=True)
class SweepSpec:
    """base config, grid ((field, values), ...) of one or two fields, seeds, modes."""

    base: Config
    grid: tuple
    seeds: tuple = (0,)
    modes: tuple = MODES

    def __post_init__(self):
        pairs = self.grid.items() if isinstance(self.grid, dict) else self.grid
        # numpy scalars (from a UI's arrays) become plain numbers, which Config's type checks accept
        grid = tuple((name, tuple(v.item() if hasattr(v, "item") else v for v in values)) for name, values in pairs)
        if not 1 <= len(grid) <= 2:
            raise ConfigError("grid", f"sweep one or two fields, got {len(grid)}")
        if len(grid) == 2 and grid[0][0] == grid[1][0]:
            raise ConfigError(grid[0][0], "the same field is swept twice")
        seeds = self.seeds
        if isinstance(seeds, int):  # N seeds from the base's seed on
            if not 1 <= seeds <= MAX_SEEDS:
                raise ConfigError("seeds", f"{seeds} seeds; allowed 1 <= seeds <= {MAX_SEEDS}")
            seeds = range(self.base.seed, self.base.seed + seeds)
        modes = MODE_CHOICES.get(self.modes) if isinstance(self.modes, str) else self.modes
        if not modes or any(m not in MODES for m in modes):
            raise ConfigError("mode", f"unknown mode {self.modes!r}; choose std, adv or both")
        if not seeds or any(not values for _, values in grid):
            raise ConfigError("grid", "every swept field and the seeds need at least one value")
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "seeds", tuple(int(s) for s in seeds))
        object.__setattr__(self, "modes", tuple(modes))
        runs = math.prod(len(values) for _, values in grid) * len(self.seeds) * len(self.modes)
        if runs > MAX_RUNS:
            raise ConfigError("grid", f"{runs} runs; a sweep has at most {MAX_RUNS}: fewer values or seeds")
        for point in self.points():  # every value, and cross-field checks (s <= P, d >= 2k), by name
            self.base.replace(**point)

    @classmethod
    def from_strings(cls, base: Config, grids: Sequence[str], seeds: int = 1, mode: str = "both") -> SweepSpec:
        return cls(base, tuple(parse_grid(g, base) for g in grids), seeds, mode)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.grid)

    def points(self) -> list[dict]:
        return [dict(zip(self.fields, combo, strict=True)) for combo in itertools.product(*(v for _, v in self.grid))]

    def __len__(self) -> int:
        return len(self.points()) * len(self.seeds) * len(self.modes)


def sweep_points(spec: SweepSpec) -> list[tuple[dict, int, str, Config]]:
    """Every run of the sweep, point-major: (point, seed, mode, config)."""
    return [(point, seed, mode, spec.base.replace(**point, seed=seed))
            for point in spec.points() for seed in spec.seeds for mode in spec.modes]


def device_type(cfg: Config) -> str:
    from ..engine.resources import resolve_device

    return resolve_device(cfg.device).type


def estimate_seconds(spec: SweepSpec, *, workers: int | None = None, gflops_per_core: float = 20.0) -> float:
    """Rough wall time: floating-point work of training and evaluation over the machine's rate.

    20 GFLOP/s per core is what the fused CPU kernels reach at classroom size (measured); a
    GPU is taken as 50 cores. Plus ~5 s for starting workers (spawn, import torch).
    """
    from joblib import cpu_count

    from ..engine.estimate import run_work  # the same count of a run's matrix products as the Lab's estimate

    total = sum(run_work(cfg, mode).flops for _, _, mode, cfg in sweep_points(spec))
    cores = 50 if device_type(spec.base) == "cuda" else (workers or max(1, cpu_count()))
    return 5.0 + total / (gflops_per_core * 1e9 * cores * 0.85)
