"""The pictures' own rules, without a browser: the patch view follows a training run, a finished run's curves
reach its last logged step, the radius badge tells ε = 0.1 from ε = 0.3, sweep heatmaps keep equal cells on
uneven grids, and the Sweep page's caption names each theory line by the look it has."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.engine.assumptions import assumption_checks
from core.engine.presets import get_preset
from core.figures import phase
from core.figures.charts import patch_ticks

APP = str(Path(__file__).resolve().parents[1] / "app.py")


# ---- the patch view follows the run ---------------------------------------------------------------
def lab(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    return at


def test_the_patch_view_follows_the_logged_steps_of_a_run_that_trains(app_env):
    """Snapshot 0 only, then more arrive while the page is open: the view moves to the newest, not step 0."""
    import torch

    from core.runs.store import RunStore, new_id

    cfg = get_preset("classroom").config(steps=40, eval_every=20, n_train=30, n_test=12)
    store, pair, ids = RunStore(app_env), new_id(), {}
    W = torch.zeros(cfg.k * cfg.m, cfg.d)
    for mode in ("std", "adv"):
        ids[mode] = store.create_run(cfg, mode, pair_id=pair, preset="classroom", client_id="someone")
        store.start_run(ids[mode], "cpu")
        store.log_batch(ids[mode], rows=[{"step": 0, "corr_robust": 0.1, "corr_nonrobust": 0.1}],
                        snapshots=[(0, W)], step=0)
    at = lab(preset="classroom", pair=pair, steps="40", eval_every="20", n_train="30", n_test="12")
    assert not at.exception, [e.value for e in at.exception]
    assert "(the only snapshot so far)" in " ".join(c.value for c in at.caption)
    for step in (20, 40):
        for mode in ("std", "adv"):
            store.log_batch(ids[mode], rows=[{"step": step, "corr_robust": 0.2, "corr_nonrobust": 0.1}],
                            snapshots=[(step, W + step)], step=step)
    at.run()
    assert any("at step 40" in m.value for m in at.markdown)

    def arrive(step):
        for mode in ("std", "adv"):
            store.log_batch(ids[mode], rows=[{"step": step, "corr_robust": 0.2, "corr_nonrobust": 0.1}],
                            snapshots=[(step, W + step)], step=step)

    assert not at.get("select_slider")  # following: no slider the server would have to move

    at.toggle(key="lab_patch_follow").set_value(False).run()  # the user stops following: a slider at the newest
    assert at.select_slider(key="lab_patch_step").value == 40
    at.select_slider(key="lab_patch_step").set_value(20).run()  # and goes back: it stays there
    arrive(60)
    at.run()
    assert any("at step 20" in m.value for m in at.markdown)
    assert at.select_slider(key="lab_patch_step").options == ["0", "20", "40", "60"]
    at.toggle(key="lab_patch_follow").set_value(True).run()  # following again: the newest
    arrive(80)
    at.run()
    assert any("at step 80" in m.value for m in at.markdown)


def test_a_stale_browser_value_cannot_stop_the_view_following(app_env):
    """A refresh queued on a busy server carries the widget values the browser had when it asked. The view's
    widgets are moved by the user only, so replaying the page's own widget values (as a queued refresh does)
    after new snapshots arrived still shows the newest step."""
    import torch

    from core.runs.store import RunStore, new_id

    cfg = get_preset("classroom").config(steps=40, eval_every=20, n_train=30, n_test=12)
    store, pair, ids = RunStore(app_env), new_id(), {}
    W = torch.zeros(cfg.k * cfg.m, cfg.d)

    def arrive(step):
        for mode in ("std", "adv"):
            store.log_batch(ids[mode], rows=[{"step": step, "corr_robust": 0.2, "corr_nonrobust": 0.1}],
                            snapshots=[(step, W + step)], step=step)

    for mode in ("std", "adv"):
        ids[mode] = store.create_run(cfg, mode, pair_id=pair, preset="classroom", client_id="someone")
        store.start_run(ids[mode], "cpu")
    arrive(0)
    arrive(20)
    at = lab(preset="classroom", pair=pair, steps="40", eval_every="20", n_train="30", n_test="12")
    follow = at.toggle(key="lab_patch_follow").value
    arrive(40)
    at.toggle(key="lab_patch_follow").set_value(follow).run()  # the browser's values as they were: no change
    assert not at.exception, [e.value for e in at.exception]
    assert any("at step 40" in m.value for m in at.markdown)


# ---- a finished run's curves reach its last logged step -----------------------------------------------
def test_a_finished_pair_is_drawn_to_its_last_logged_step(app_finished_pair):
    at = lab(preset="classroom", pair=app_finished_pair["pair"], steps="20", eval_every="10", n_train="30",
             n_test="12")
    assert not at.exception, [e.value for e in at.exception]
    for chart in at.get("plotly_chart")[:2]:  # correlations, accuracies
        spec = json.loads(chart.proto.spec)
        assert spec["layout"]["xaxis"]["range"][1] == 20
        curves = [t for t in spec["data"] if t.get("x") is not None and t.get("type", "scatter") == "scatter"]
        assert curves and all(_last(t["x"]) == 20 for t in curves), [t.get("name") for t in curves]


def _last(x):
    """The last x of a trace as Plotly JSON holds it: a list, or numpy's bytes in base64."""
    if isinstance(x, dict):
        import base64

        return np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"]))[-1]
    return x[-1]


# ---- the radius badge -------------------------------------------------------------------------------
def test_the_radius_badge_differs_where_the_attack_can_and_cannot_cancel_a_patch():
    from pages._controls import badge

    def radius(eps):
        return next(c for c in assumption_checks(get_preset("classroom").config(eps=eps)) if c.name == "radius")

    small, usual, large = radius(0.1), radius(0.3), radius(0.45)
    assert (small.status, usual.status, large.status) == ("red", "amber", "green")
    assert badge(small).split("]")[0] != badge(usual).split("]")[0]  # colour and icon
    assert "not break" in small.why and ":material/" in badge(small)


# ---- sweep heatmaps --------------------------------------------------------------------------------
def _sweep(xs=(1, 2, 3, 4, 6, 8, 12), ys=(0.1, 0.3, 0.7)) -> pd.DataFrame:
    rows = [{"mode": "std", "s": x, "beta": y, "seed": 0, "status": "finished", "corr_robust": 0.1 * x,
             "corr_nonrobust": y, "acc_clean": 1.0, "acc_pgd": 0.0, "acc_swap": 0.5} for x in xs for y in ys]
    return pd.DataFrame(rows)


def test_an_uneven_grid_gets_equal_cells_labelled_with_its_values():
    fig = phase.phase_figure(_sweep(), get_preset("classroom").config(), "s", "beta", "corr_gap", "std")
    heat = fig.data[0]
    assert list(heat.x) == list(range(7)) and list(heat.y) == list(range(3))  # one unit per cell
    assert list(fig.layout.xaxis.ticktext) == ["1", "2", "3", "4", "6", "8", "12"]
    assert phase.cell_values({"x": 5, "y": 2, "customdata": heat.customdata[2][5]}) == (8, 0.7)


def test_the_density_curve_crosses_the_cells_where_its_values_lie():
    """S_NR/S_R = 1 at beta = 0.3 (P = 50, alpha = 1) is s = 49 * 0.027 ~ 1.3: between cells 0 (s = 1) and 1 (s = 2)."""
    base = get_preset("classroom").config()
    gx, gy, values, *_ = phase._theory_lines(base, "s", "beta", (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0),
                                             (0.1, 0.3, 0.7), "std")[0]
    row = int(np.argmin(abs(gy - 1.0)))  # beta = 0.3
    crossing = gx[np.flatnonzero(np.diff(np.sign(values[row])))[0]]
    assert 0 < crossing < 1


@pytest.mark.parametrize("line", [phase.DENSITY_LINE, phase.ADVERSARIAL_LINE, phase.SWAP_LINE])
def test_the_sweep_caption_names_each_line_by_its_dash_and_colour(line):
    name, colour, dash = line
    assert f"{phase.DASH_WORD[dash]} {colour}" in phase.boundaries_caption()
    assert "solid black" in phase.boundaries_caption() and "dashed black" not in phase.boundaries_caption()


def test_patch_ticks_name_every_star_and_crowd_none():
    robust = np.zeros(50, dtype=bool)
    robust[[1, 23, 36]] = True
    values, texts = patch_ticks(robust)
    assert {"p2 ★", "p24 ★", "p37 ★"} <= set(texts)
    assert all(b - a >= 2 for a, b in zip(values, values[1:], strict=False))
