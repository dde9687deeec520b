"""Dependencies between core's packages run one way: engine <- real <- runs <- cli, engine <- figures <- pages.

Each package's ``__init__.py`` says what it may import; this test reads every import (relative
ones resolved, late imports inside functions included) and fails on any arrow that runs back up.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What each layer may import of core (besides itself). core/__init__.py re-exports the engine's Config.
ALLOWED = {
    "engine": set(),
    "real": {"engine"},
    "figures": {"engine"},
    "lesson": {"engine", "real"},
    "runs": {"engine", "real", "lesson"},
    "classroom": set(),
    "cli": {"engine", "real", "runs", "figures", "lesson", "classroom"},
    "pages": {"engine", "real", "runs", "figures", "lesson", "classroom"},  # never the command line
    "": {"engine"},  # core/__init__.py
}


def layer_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if rel.parts[0] in ("pages",) or rel.name == "app.py":
        return "pages"
    return rel.parts[1] if len(rel.parts) > 2 else ""


def module_parts(path: Path) -> list[str]:
    rel = path.relative_to(ROOT).with_suffix("")
    return list(rel.parts)


def core_imports(path: Path, source: str | None = None) -> set[str]:
    """The core packages (second component of core.X...) this file imports, at any depth."""
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))
    package = module_parts(path)[:-1]
    found = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
                targets = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
            elif node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for target in targets:
            parts = target.split(".")
            if parts[0] == "core" and len(parts) > 1 and (ROOT / "core" / parts[1]).is_dir():
                found.add(parts[1])
    return found


def project_files():
    files = [p for p in (ROOT / "core").rglob("*.py") if p.name != "__main__.py"]
    return sorted(files + list((ROOT / "pages").rglob("*.py")) + [ROOT / "app.py"])


@pytest.mark.parametrize("path", project_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_one_way(path):
    layer = layer_of(path)
    name = path.relative_to(ROOT)
    assert layer in ALLOWED, f"{name}: core/{layer}/ is a package no layer rule knows; add it to ALLOWED"
    upward = core_imports(path) - ALLOWED[layer] - {layer}
    assert not upward, f"{name} ({layer or 'core'}) imports core.{sorted(upward)}: that arrow runs back up"


def test_every_core_package_says_what_it_may_import():
    for init in (ROOT / "core").glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import" in doc, f"{init.relative_to(ROOT)} has no 'May import' line in its docstring"


def test_the_checker_sees_an_upward_arrow():
    """The rule above misses nothing silently: a late relative import of runs from the engine is caught."""
    probe = ROOT / "core" / "engine" / "probe.py"  # never written: the source is given
    assert core_imports(probe, "def f():\n    from ..runs.store import RunStore\n") == {"runs"}
    assert core_imports(probe, "import core.cli.main\n") == {"cli"}
