"""The Sweep page: renders, estimates, refuses bad grids before any work."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def own_manager(app_env):
    """A test that presses Run sweep starts the job manager of its store: its workers end with the test."""
    yield
    from core.runs.jobs import _managers

    for path, manager in list(_managers.items()):
        if path == str(app_env.resolve()):
            manager.shutdown()


@pytest.fixture
def sweep_page(app_env) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    return at.switch_page("pages/sweep.py").run()


def test_sweep_page_renders_with_an_estimate(sweep_page):
    at = sweep_page
    assert not at.exception
    assert "runs, about" in at.info[0].value
    assert not at.button(key="sweep_run").disabled


def test_bad_grid_names_the_field_and_disables_run(sweep_page):
    at = sweep_page
    at.text_input(key="sweep_xv_s").set_value("1,99").run()
    assert "s: 99 robust patches do not fit" in at.error[0].value
    assert at.button(key="sweep_run").disabled
    at.text_input(key="sweep_xv_s").set_value("1,2").run()
    assert not at.error and not at.button(key="sweep_run").disabled


def test_changing_the_grid_changes_the_run_count(sweep_page):
    at = sweep_page
    at.text_input(key="sweep_xv_s").set_value("1,2").run()
    at.text_input(key="sweep_yv_beta").set_value("0.2,0.4").run()
    at.radio(key="sweep_mode").set_value("std").run()
    assert at.info[0].value.startswith("4 runs")


def test_a_long_sweep_is_estimated_in_minutes_not_thousands_of_seconds(app_env, monkeypatch):
    import streamlit as st

    import core.runs.sweep_spec

    st.cache_data.clear()  # the page keeps an estimate a minute; this one must be computed afresh
    monkeypatch.setattr(core.runs.sweep_spec, "estimate_seconds", lambda spec, **kw: 3600.0)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at = at.switch_page("pages/sweep.py").run()
    assert "runs, about 60 min on this machine" in at.info[0].value


# ---- a Dask cluster named in the server's settings -------------------------------------------


def test_an_unreachable_cluster_is_said_in_one_line_and_the_server_still_runs_sweeps(app_env, monkeypatch):
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("RFL_DASK_SCHEDULER", f"tcp://127.0.0.1:{port}")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at = at.switch_page("pages/sweep.py").run()
    assert not at.exception
    warning = at.warning[0].value
    assert "cluster is unreachable" in warning and f"127.0.0.1:{port}" in warning and "\n" not in warning
    assert "on this machine" in at.info[0].value and not at.button(key="sweep_run").disabled


def test_a_dask_cluster_s_workers_are_shown_and_a_sweep_runs_there(app_env, own_manager, monkeypatch, tmp_path):
    """The sweep is a job: a job worker is the cluster's client (the code is shipped to the cluster's
    scheduler and worker processes, as to another machine's) and writes each run to the store as it comes back."""
    import time

    from _dask_processes import start_cluster

    cluster = start_cluster(tmp_path / "cluster")
    try:
        monkeypatch.setenv("RFL_DASK_SCHEDULER", cluster.address)
        # the page alone: after AppTest's switch_page, a button's click does not reach the script
        at = AppTest.from_file(str(Path(APP).parent / "pages" / "sweep.py"), default_timeout=60).run()
        assert not at.exception
        assert at.radio(key="sweep_where").value.startswith("the cluster (2 workers, 2 threads)")
        assert len(at.dataframe[0].value) == 2  # the workers table: one row per worker
        at.selectbox(key="sweep_y").set_value("(none)").run()
        at.text_input(key="sweep_xv_s").set_value("1,2").run()
        at.radio(key="sweep_mode").set_value("std").run()
        assert "on the cluster" in at.info[0].value
        at.button(key="sweep_run").click().run()
        for _ in range(480):  # bounded: two classroom runs, polled as the page's fragment does
            running = "sweep_stop" in [b.key for b in at.button]
            if not running and any("runs finished by worker" in c.value for c in at.caption):
                break
            time.sleep(0.5)
            at.run()
        captions = [c.value for c in at.caption if "runs finished by worker" in c.value]
        assert captions and sum(int(part.rsplit(" ", 1)[1]) for part in captions[0].split(": ", 1)[1].split(", ")) == 2
        assert not at.error
    finally:
        cluster.close()


def test_a_rerun_with_the_same_grid_neither_rebuilds_nor_reestimates_it(app_env, monkeypatch):
    """A grid of thousands of runs took 2.1-2.4 s of the server per click before the page cached it."""
    import streamlit as st

    from core.runs import sweep_spec

    st.cache_data.clear()
    estimated, real = [], sweep_spec.estimate_seconds

    def counted(spec, **kw):
        estimated.append(len(spec))
        return real(spec, **kw)

    monkeypatch.setattr(sweep_spec, "estimate_seconds", counted)
    at = AppTest.from_file(APP, default_timeout=60).run().switch_page("pages/sweep.py").run()
    at.run()
    at.run()
    assert estimated == [56]  # the default grid, 4 x 7 points x both modes, estimated once
    at.text_input(key="sweep_xv_s").set_value("1,2").run()
    assert estimated == [56, 28] and at.info[0].value.startswith("28 runs")


def test_the_panels_are_drawn_again_only_when_new_runs_came_in(app_env, own_manager, monkeypatch):
    """Every poll drew every panel (0.6-0.8 s of the server at 8 panels): a finished sweep's reruns draw none."""
    import time

    from core.figures import phase

    drawn, real = [], phase.phase_figures

    def counted(frame, *args, **kwargs):
        drawn.append(len(frame))
        return real(frame, *args, **kwargs)

    monkeypatch.setattr(phase, "phase_figures", counted)
    # the page alone: after AppTest's switch_page, a button's click does not reach the script
    at = AppTest.from_file(str(Path(APP).parent / "pages" / "sweep.py"), default_timeout=60).run()
    at.selectbox(key="sweep_y").set_value("(none)").run()
    at.text_input(key="sweep_xv_s").set_value("1,2").run()
    at.radio(key="sweep_mode").set_value("std").run()
    at.button(key="sweep_run").click().run()
    for _ in range(480):  # bounded: two runs on a job worker (started by the click), polled as the fragment does
        if any(p.text.endswith("— done") for p in at.get("progress")):
            break
        time.sleep(0.5)
        at.run()
    assert any(p.text == "2 of 2 runs finished — done" for p in at.get("progress"))
    assert drawn and drawn[-1] == 2 and len(drawn) == len(set(drawn))  # once per row count
    for _ in range(3):
        at.run()
    assert drawn[-1] == 2 and len(drawn) == len(set(drawn)) and not at.exception
