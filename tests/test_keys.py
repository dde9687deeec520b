"""Session-state keys are named once, in pages/_keys.py: a page that reads or writes an undeclared key fails here.

The scan reads every page's AST: ``st.session_state[...]`` and its aliases (``ss = st.session_state``),
``.get/.pop/.setdefault(...)``, ``"key" in st.session_state``, attribute access (``ss.lab_values``) and
every widget's ``key=``. Keys built at run time (``_common.widget_key``) are declared by their prefix.
"""

import ast
from pathlib import Path

import pytest

import pages._keys as keys_module

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "pages").glob("*.py")) + [ROOT / "app.py"]
DECLARED = {name: value for name, value in vars(keys_module).items() if name.isupper() and isinstance(value, str)}
# Methods of st.session_state, not keys.
STATE_METHODS = {"get", "pop", "setdefault", "__setitem__", "keys", "items", "values", "clear", "update", "to_dict"}


def _aliases(tree: ast.AST) -> set[str]:
    """Names bound to st.session_state (``ss = st.session_state``)."""
    return {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and _is_state(node.value, set())
            for target in node.targets if isinstance(target, ast.Name)}


def _is_state(node: ast.AST, aliases: set[str]) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "session_state") or (
        isinstance(node, ast.Name) and node.id in aliases)


def _text(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def key_uses(source: str) -> list[tuple[int, str, str]]:
    """(line, how, key) for every session-state key written as text in this source."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_state(node.value, aliases) and _text(node.slice):
            found.append((node.lineno, "[...]", _text(node.slice)))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
              and node.func.attr in ("get", "pop", "setdefault") and _is_state(node.func.value, aliases)
              and _text(node.args[0])):
            found.append((node.lineno, f".{node.func.attr}()", _text(node.args[0])))
        elif (isinstance(node, ast.Compare) and _text(node.left) and len(node.ops) == 1
              and isinstance(node.ops[0], (ast.In, ast.NotIn)) and _is_state(node.comparators[0], aliases)):
            found.append((node.lineno, "in", _text(node.left)))
        elif isinstance(node, ast.Attribute) and _is_state(node.value, aliases) and node.attr not in STATE_METHODS:
            found.append((node.lineno, "attribute", node.attr))
        elif isinstance(node, ast.keyword) and node.arg == "key" and _text(node.value):
            found.append((node.value.lineno, "key=", _text(node.value)))
    return found


def test_the_scan_finds_every_way_a_page_names_a_key():
    source = '''
import streamlit as st
ss = st.session_state
ss["a1"] = 1
st.session_state.get("a2")
ss.pop("a3", None)
st.session_state.setdefault("a4", {})
if "a5" not in ss:
    ss.a6 = 2
st.button("Run", key="a7")
ss.get(variable)
'''
    assert sorted(key for _, _, key in key_uses(source)) == ["a1", "a2", "a3", "a4", "a5", "a6", "a7"]


def test_declared_keys_are_unique_and_named_after_their_text():
    values = list(DECLARED.values())
    assert len(values) == len(set(values)), "two names for one key"
    for name, value in DECLARED.items():
        assert name == value.upper() or name in ("PRESENTATION", "KNOB_PREFIX", "HOME_PREFIX"), name


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_use_only_declared_keys(path):
    if path.name == "_keys.py":
        return
    undeclared = [f"{path.name}:{line} {how} {key!r}" for line, how, key in key_uses(path.read_text())
                  if key not in DECLARED.values()]
    assert not undeclared, "declare these in pages/_keys.py: " + "; ".join(undeclared)


def test_every_declared_key_is_used_by_a_page():
    sources = {path: path.read_text() for path in PAGES if path.name != "_keys.py"}
    by_attribute = {key for source in sources.values() for _, how, key in key_uses(source) if how == "attribute"}
    text = "\n".join(sources.values())
    unused = [name for name, value in DECLARED.items() if f"keys.{name}" not in text and value not in by_attribute]
    assert not unused, f"no page uses {unused}: remove them from pages/_keys.py"
