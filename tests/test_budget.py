"""The server's budget: what a page computes inside the Streamlit server is estimated first and refused,
with a message naming the knob to shrink, when it would not fit; nothing is allocated then."""

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.engine.config import ConfigError
from core.engine.measure import budget
from core.engine.measure.budget import ServerBudget, check_server, dynamics_cost, minima_cost, patch_view_cost
from core.engine.presets import PRESETS, get_preset

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def refuse(*_args, **_kwargs):
    raise AssertionError("the expensive computation ran although the budget refused it")


def test_the_presets_fit_the_default_budget_and_paper_scale_theory_does_not(monkeypatch):
    monkeypatch.delenv(budget.MEMORY_ENV, raising=False)
    monkeypatch.delenv(budget.WORK_ENV, raising=False)
    for name in ("classroom", "figure3", "dense-loses", "eps-too-small"):
        cfg = PRESETS[name].config()
        for cost in (minima_cost(cfg, 6, 100), dynamics_cost(cfg), patch_view_cost(cfg)):
            check_server(name, cost)
    with pytest.raises(ConfigError, match="shrink n_test or P or d") as err:
        check_server("Theory", minima_cost(get_preset("paper-scale").config(), 6, 100))
    assert err.value.field == "n_test" and "GFLOP" in str(err.value)


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(budget.MEMORY_ENV, "64")
    monkeypatch.setenv(budget.WORK_ENV, "not a number")  # a bad value keeps the default
    assert ServerBudget.from_env() == ServerBudget(64 * 2**20, budget.DEFAULT_GFLOP * 1e9)


def test_the_estimates_grow_with_their_knobs():
    cfg = get_preset("classroom").config()
    assert minima_cost(cfg.replace(n_test=2 * cfg.n_test), 6, 100).bytes > minima_cost(cfg, 6, 100).bytes
    assert dynamics_cost(cfg.replace(steps=2 * cfg.steps)).flops > dynamics_cost(cfg).flops
    # the estimate covers what the test set really holds
    from core.engine.look_inside import run_test_set

    test = run_test_set(cfg)
    assert patch_view_cost(cfg).bytes >= test.X.numel() * test.X.element_size()


def test_pgd_start_pool_counts_so_a_huge_d_with_a_tiny_test_set_is_refused(monkeypatch):
    """The pool of PGD's start directions is 4096 rows of d: at d = 200000 it alone is ~9 GB to draw, while
    ten test examples of two patches are 64 MB. Before it was counted the server would have drawn it."""
    from core.engine.random_starts import pool_bytes

    monkeypatch.delenv(budget.MEMORY_ENV, raising=False)
    cfg = get_preset("classroom").config().replace(d=200_000, P=2, s=1, n_train=10, n_test=10)
    for what, cost in (("Theory", minima_cost(cfg, 6, 100)), ("The patch view", patch_view_cost(cfg))):
        assert cost.bytes >= pool_bytes(cfg.d)
        with pytest.raises(ConfigError, match="MB, over its budget") as err:
            check_server(what, cost)
        assert "d" in str(err.value).rsplit("shrink", 1)[1]


def theory_link(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at.switch_page("pages/theory.py").run()


def test_a_link_naming_a_huge_test_set_is_refused_on_the_theory_page(app_env, monkeypatch):
    """Valid for a background job (the Lab can run it), too big for the server: a message, no allocation."""
    monkeypatch.setenv(budget.MEMORY_ENV, "64")
    monkeypatch.setattr("core.engine.theory.evaluate_constructed", refuse)
    monkeypatch.setattr("core.engine.theory.reduced_dynamics", refuse)
    at = theory_link(n_test="20000")
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["lab_values"]["n_test"] == 20000
    message = " ".join(w.value for w in at.warning)
    assert "n\\_test" in message and "RFL\\_SERVER\\_MEMORY\\_MB" in message and "shrink" in message


def test_a_link_naming_a_huge_d_is_refused_on_the_theory_page_for_its_start_pool(app_env, monkeypatch):
    """Tiny data, huge d: only PGD's start pool (~9 GB to draw) is too big, at the default budget."""
    monkeypatch.delenv(budget.MEMORY_ENV, raising=False)
    monkeypatch.setattr("core.engine.theory.evaluate_constructed", refuse)
    at = theory_link(d="200000", P="2", s="1", n_train="10", n_test="10")
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["lab_values"]["d"] == 200000
    message = " ".join(w.value for w in at.warning)
    assert "constructed minima" in message and "shrink" in message and "MB" in message


def test_a_link_naming_endless_dynamics_is_refused(app_env, monkeypatch):
    monkeypatch.setattr("core.engine.theory.evaluate_constructed", refuse)
    monkeypatch.setattr("core.engine.theory.reduced_dynamics", refuse)
    at = theory_link(steps="10000000")
    assert not at.exception, [e.value for e in at.exception]
    message = " ".join(w.value for w in at.warning)
    assert "steps" in message and "GFLOP" in message


def test_the_patch_view_of_a_run_too_big_for_the_server_is_refused(app_env, monkeypatch):
    """A stored run whose test set the server cannot hold: the patch tab says so; no test set is built."""
    from core.runs.store import RunStore, new_id

    monkeypatch.setenv(budget.MEMORY_ENV, "16")
    monkeypatch.setattr("pages._inside.run_test_set", refuse)
    cfg = get_preset("classroom").config(n_test=20_000, device="cpu")
    store = RunStore(app_env)
    pair, ids = new_id(), {}
    for mode in ("std", "adv"):
        ids[mode] = store.create_run(cfg, mode, pair_id=pair, status="finished")
        store.log_snapshot(ids[mode], 0, torch.zeros(cfg.k * cfg.m, cfg.d))
    store.close()
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["pair"] = pair
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("patch view" in i.value and "n\\_test" in i.value for i in at.info), [i.value for i in at.info]
