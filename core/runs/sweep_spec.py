"""A sweep's grid, apart from how it runs: which runs it holds and roughly how long they take.

``parse_grid("eps=0.1,0.3")`` or ``parse_grid("s=1:9:5")`` reads a knob's values;
``SweepSpec`` holds the base config, the grid of one or two fields, the seeds and the modes;
``sweep_points`` lists every (point, seed, mode, config); ``estimate_seconds`` guesses the wall
time for the UI. Nothing here starts a process: ``core.runs.sweep`` runs a spec.
"""

from __future__ import annotations

import heapq
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, fields

from ..engine.config import MODES, Config, ConfigError, parse_value
from .sweep_plan import device_type, make_tasks, plan_workers

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
        return math.prod(len(values) for _, values in self.grid) * len(self.seeds) * len(self.modes)

    # A sweep is recorded in the run store as a run of its own (mode "sweep"): these are what the store
    # reads of a run's config.
    @property
    def seed(self) -> int:
        return self.base.seed

    @property
    def steps(self) -> int:
        """The sweep row's progress counts runs: its step is the runs done, its steps all of them."""
        return len(self)

    def to_dict(self) -> dict:
        return {"base": self.base.to_dict(), "grid": [[name, list(values)] for name, values in self.grid],
                "seeds": list(self.seeds), "modes": list(self.modes)}

    @classmethod
    def from_dict(cls, data: dict) -> SweepSpec:
        """The spec of to_dict (other keys ignored), validated again: ConfigError naming the field."""
        try:
            base = Config.from_dict(data["base"])
            grid = tuple((str(name), tuple(values)) for name, values in data["grid"])
            return cls(base, grid, tuple(int(s) for s in data["seeds"]), tuple(data["modes"]))
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, ConfigError):
                raise
            raise ConfigError("sweep", f"not a sweep's description ({type(err).__name__}: {err})") from None


def sweep_points(spec: SweepSpec) -> list[tuple[dict, int, str, Config]]:
    """Every run of the sweep, point-major: (point, seed, mode, config); the modes of a (point, seed) share
    one config (each config is validated when built: most of the time a big grid takes to list)."""
    runs = []
    for point in spec.points():
        for seed in spec.seeds:
            cfg = spec.base.replace(**point, seed=seed)
            runs += [(point, seed, mode, cfg) for mode in spec.modes]
    return runs


WORKER_START_S = 3.0  # a loky worker's spawn, torch's import and the CPU kernels' load (measured 2-3 s)
GPU_CORES = 50  # a GPU taken as this many CPU cores: a guess until one is measured (docs/engine.md, "The GPU path")
RUN_OVERHEAD_S = 0.1  # a sweep's run in a warm worker: its data, no store write in between (the Lab's run: 0.3)
PROBED_SHAPES = 4  # timed steps an estimate may take in the server: each up to ~0.5 s, once a minute per shape


def estimate_seconds(spec: SweepSpec, *, jobs: int | None = None, cluster_threads: int | None = None) -> float:
    """Rough wall time of the sweep: its runs' seconds (the Lab's estimate of a run, engine/measure/estimate.py) spread
    over the workers that run_sweep would start (``jobs`` as its own), plus their start.

    A run's seconds are its work model scaled to a timed step of its shape. A grid over d or P has many
    shapes, so only PROBED_SHAPES of them are timed, the ones with the most work in each mode, and the
    others take the median of their mode's scales. On a Dask cluster of ``cluster_threads`` threads, each
    runs one torch thread, timed here: the estimate says what this machine would take with that many cores.
    Measured against the old rule of 20 GFLOP/s per core in docs/engine.md.
    """
    from ..engine.measure.estimate import run_seconds, run_work, step_shape, timed_scale
    from ..engine.resources import cpu_count

    runs = [(cfg, mode) for _, _, mode, cfg in sweep_points(spec)]
    if device_type(spec.base) == "cuda":  # nothing times a GPU here: its rate is the CPU model's times GPU_CORES
        return WORKER_START_S + sum(run_seconds(cfg, mode, 1, None, RUN_OVERHEAD_S) for cfg, mode in runs) / GPU_CORES
    if cluster_threads is None:
        workers, threads = plan_workers(len(runs), spec.base, "loky", jobs)
    else:
        workers, threads = cluster_threads, min(spec.base.threads, cpu_count()) or 1  # timed here: our cores at most
    shapes: dict[tuple, list] = {}
    for cfg, mode in runs:
        shapes.setdefault(step_shape(cfg, mode), []).append((cfg, mode))
    scales, fallback = {}, {}
    for mode in spec.modes:  # each mode's own steps: a PGD step's scale is not a standard step's
        groups = [group for group in shapes.values() if group[0][1] == mode]
        groups.sort(key=lambda group: -sum(run_work(*run).flops for run in group))
        for group in groups[:max(1, PROBED_SHAPES // len(spec.modes))]:
            if (scale := timed_scale(*group[0], threads)) is not None:
                scales[step_shape(*group[0])] = scale
                fallback.setdefault(mode, []).append(scale)
    seconds = [run_seconds(cfg, mode, threads, scales.get(step_shape(cfg, mode), _median(fallback.get(mode))),
                           RUN_OVERHEAD_S) for cfg, mode in runs]
    return WORKER_START_S + _makespan([sum(seconds[i] for i in task) for task in make_tasks(runs, workers)], workers)


def _median(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


def _makespan(durations: list[float], workers: int) -> float:
    """When the last task ends if each, in order, goes to the first worker free (as joblib and Dask hand them
    out). A grid's tasks alternate short standard and long adversarial runs, so one worker can get both
    standard runs and an adversarial one: 2 figure3 points took 26 s where their sum over 2 workers was 18."""
    free = [0.0] * workers
    for duration in durations:
        heapq.heapreplace(free, free[0] + duration)
    return max(free)
