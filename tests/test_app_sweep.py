"""The Sweep page: renders, estimates, refuses bad grids before any work."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


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
