"""Every import of the repository runs one way, and no files import each other in a circle.

The layers, bottom up: the engine's model (core/engine/*.py) with its speed paths beneath the
training loop (core/engine/fast/, reached through its package face alone) and its measuring above
it (core/engine/measure/, imported only from above the engine); then real <- lesson <- runs <- cli,
engine <- figures <- pages; bench/ on top of everything. Each core package's ``__init__.py`` says
what it may import. This test reads every import of every Python file but the tests (relative ones
resolved, late imports inside functions included), draws the file-to-file graph, and fails on any
arrow that runs back up and on any circle.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = {"engine", "engine.fast", "engine.measure", "real", "lesson", "figures", "runs", "classroom", "cli"}

# What each layer may import of the repository (besides itself).
ALLOWED = {
    "engine": {"engine.fast"},  # the model files reach the speed paths through one seam
    "engine.fast": {"engine"},  # the model's torch code, which the fast paths replace (FAST_BENEATH)
    "engine.measure": {"engine", "engine.fast"},  # never imported from inside the engine
    "real": {"engine"},
    "figures": {"engine"},
    "lesson": {"engine", "real"},
    "runs": {"engine", "engine.fast", "engine.measure", "real", "lesson"},
    "classroom": set(),  # who is who in a class and its rooms: nothing of core beneath it
    "cli": CORE - {"cli"},
    "pages": CORE - {"cli"},  # never the command line
    "": {"engine"},  # core/__init__.py: the engine's Config
    "entry": CORE | {""},  # the __main__.py entry points sit on top of everything
    "bench": CORE | {"pages", ""},  # benchmarks and scripts stand on everything; nothing stands on them
}
# The engine files the fast paths build on: the torch code they replace and the data it takes. The
# training loop, the metrics and the attacks' classes sit above the seam.
FAST_BENEATH = {"network.py", "threats.py", "random_starts.py", "attack_point.py", "seeds.py"}


def layer_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if rel.name == "__main__.py":
        return "entry"
    if rel.parts[0] == "pages" or rel.name == "app.py":
        return "pages"
    if rel.parts[0] == "bench":
        return "bench"
    if len(rel.parts) == 2:
        return ""
    if rel.parts[1] == "engine" and len(rel.parts) > 3:
        return f"engine.{rel.parts[2]}"
    return rel.parts[1]


def project_files() -> list[Path]:
    files = [*(ROOT / "core").rglob("*.py"), *(ROOT / "pages").rglob("*.py"), *(ROOT / "bench").glob("*.py"),
             ROOT / "app.py"]
    return sorted(files)


def module_file(name: str, beside: Path | None = None) -> Path | None:
    """The repository's file for a dotted module name (a package's __init__.py), or None. A bare
    name may be a script's sibling (bench/room_class.py imports load_class)."""
    parts = name.split(".")
    for base in (ROOT, beside):
        if base is None:
            continue
        for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


def imported_files(path: Path, source: str | None = None) -> set[Path]:
    """The repository files this file imports, at any depth (late imports inside functions too)."""
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - (node.level - 1)] + ([node.module] if node.module else []))
            # `from M import n`: n is a module of its own where M/n.py is one, else a name of M
            names = [f"{base}.{alias.name}" if module_file(f"{base}.{alias.name}") else base for alias in node.names]
        for name in names:
            target = module_file(name, beside=path.parent if path.parent.name == "bench" else None)
            if target is not None and target != path:
                found.add(target)
    return found


def graph() -> dict[Path, set[Path]]:
    return {path: imported_files(path) for path in project_files()}


def circles(edges: dict[Path, set[Path]]) -> list[set[Path]]:
    """The strongly connected components with more than one file (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in edges:
        if node not in index:
            visit(node)
    return found


GRAPH = graph()


@pytest.mark.parametrize("path", sorted(GRAPH), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_one_way(path):
    layer = layer_of(path)
    name = path.relative_to(ROOT)
    assert layer in ALLOWED, f"{name}: {layer} is a package no layer rule knows; add it to ALLOWED"
    upward = {layer_of(target) for target in GRAPH[path]} - ALLOWED[layer] - {layer}
    assert not upward, f"{name} ({layer or 'core'}) imports {sorted(upward)}: that arrow runs back up"


def test_the_fast_paths_are_reached_through_one_seam():
    """Outside core/engine/fast/ only its face, core.engine.fast, is imported (tests and bench/, which time
    the paths one by one, aside); inside, only the model's torch code beneath it."""
    fast = ROOT / "core" / "engine" / "fast"
    for path, targets in GRAPH.items():
        if layer_of(path) == "bench":
            continue
        inside = path.parent == fast
        for target in targets:
            if target.parent == fast and not inside:
                assert target.name == "__init__.py", f"{path.relative_to(ROOT)} imports {target.name} past the seam"
            if inside and target.parent == fast.parent:
                assert target.name in FAST_BENEATH, f"{path.relative_to(ROOT)} imports {target.name} from above it"


def test_numba_is_imported_by_the_kernels_alone():
    for path in GRAPH:
        tree = ast.parse(path.read_text())
        modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}
        if any(m == "numba" or m.startswith("numba.") for m in modules):
            assert path.relative_to(ROOT).as_posix() in ("core/engine/fast/kernels.py",
                                                          "core/engine/fast/numba_kernels.py",
                                                          "core/engine/fast/philox_kernel.py"), path


def test_no_files_import_each_other_in_a_circle():
    found = [{p.relative_to(ROOT).as_posix() for p in component} for component in circles(GRAPH)]
    assert found == []


def test_every_core_package_says_what_it_may_import():
    for init in [*(ROOT / "core").glob("*/__init__.py"), *(ROOT / "core").glob("*/*/__init__.py")]:
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import" in doc, f"{init.relative_to(ROOT)} has no 'May import' line in its docstring"


def test_the_checker_sees_an_upward_arrow_and_a_circle():
    """The rules above miss nothing silently: a late relative import of runs from the engine is caught,
    bench/ is read, and a two-file loop is a circle."""
    probe = ROOT / "core" / "engine" / "probe.py"  # never written: the source is given
    late = imported_files(probe, "def f():\n    from ..runs.store import RunStore\n")
    assert {layer_of(t) for t in late} == {"runs"}
    assert {layer_of(t) for t in imported_files(probe, "import core.cli.main\n")} == {"cli"}
    assert {layer_of(t) for t in imported_files(probe, "from .measure import estimate\n")} == {"engine.measure"}
    assert any(layer_of(p) == "bench" for p in GRAPH)
    a, b = ROOT / "a.py", ROOT / "b.py"
    assert circles({a: {b}, b: {a}}) == [{a, b}] and circles({a: {b}, b: set()}) == []
