"""Hypothesis over the typed boxes: the Sweep page's grids, the Real images page's data folder and the Room
page's Join box. Any text ends in the run count or one line naming the knob and what is allowed, with Run
disabled; a grid too large is refused before it is built; no text typed comes back as markup."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markup import MARKUP, no_live_markup  # tests/ is on the path
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
NUMBER = st.one_of(st.integers(-(10**6), 10**9).map(str), st.floats().map(repr),
                   st.sampled_from(["inf", "nan", "1e400", "", "x", "٣"]))
GRID = st.one_of(
    st.lists(NUMBER, max_size=6).map(",".join),
    st.builds("{}:{}:{}".format, NUMBER, NUMBER, NUMBER),
    st.text(max_size=60),
    st.text(min_size=500, max_size=3000),
    st.sampled_from(MARKUP),
    st.builds("1,{}".format, st.sampled_from(MARKUP)),
)


@settings(max_examples=max(8, settings().max_examples // 8),  # ~1 s each: two page renders
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(x_values=GRID, y_values=GRID)
@example(x_values="0:1:100000000", y_values="0.1:0.7:7")
@example(x_values="1,2", y_values="0:1:1e400")
@example(x_values=",".join(str(i) for i in range(1, 5000)), y_values="0.3")
@example(x_values="1:50:50", y_values="0.1:0.7:200")  # 100 000 runs: refused before they are built
@example(x_values="[evil](http://evil.example)", y_values="<img src=http://evil.example/x.png>")
def test_typed_grids_end_in_a_count_or_one_line(app_env, x_values, y_values):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/sweep.py").run()
    at.text_input(key="sweep_xv_s").set_value(x_values)
    at.text_input(key="sweep_yv_beta").set_value(y_values).run()
    assert not at.exception, [e.value[:300] for e in at.exception]
    no_live_markup(at)
    if at.error:
        assert len(at.error) == 1 and len(at.error[0].value.splitlines()) == 1
        assert at.button(key="sweep_run").disabled
    else:
        assert any(" runs, about " in box.value for box in at.info)
        assert not at.button(key="sweep_run").disabled


@pytest.fixture
def real_page(app_env):
    """One Real images page for all examples: typing into its box is a rerun, as in a browser."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("pages/real.py").run()
    at.selectbox(key="real_dataset").set_value("mnist").run()
    return at


@settings(max_examples=max(10, settings().max_examples // 4),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(folder=st.one_of(st.text(max_size=40), st.text(min_size=300, max_size=6000)))
@example(folder="a" * 5000)
@example(folder="~no_such_user_here/mnist")
@example(folder="data/\x00mnist")
def test_the_real_images_data_folder_box_takes_any_text(real_page, folder):
    """The Real images page's data folder: any typed text ends in one line on data_dir, Run disabled."""
    at = real_page
    at.text_input(key="real_dir_mnist").set_value(folder).run()
    assert not at.exception, [e.value[:300] for e in at.exception]
    assert [len(e.value.splitlines()) for e in at.error] == [1], [e.value[:300] for e in at.error]
    assert at.button(key="real_run_button").disabled


@pytest.fixture
def room_page(app_env):
    """One Room page for all examples: typing and pressing Join are reruns, as in a browser."""
    return AppTest.from_file(APP, default_timeout=60).switch_page("pages/room.py").run()


@settings(max_examples=max(10, settings().max_examples // 4),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(code=st.one_of(st.text(max_size=40), st.sampled_from(MARKUP), st.text(min_size=200, max_size=2000)),
       key=st.one_of(st.just(""), st.text(max_size=40), st.sampled_from(MARKUP)))
@example(code="<img src=http://evil.example/x.png>", key="")
@example(code="[evil](http://evil.example)", key="**evil**")
def test_the_room_join_box_takes_any_text(room_page, code, key):
    """Any code and key typed into Join: one line saying why (or the room), never markup, never a new room."""
    at = room_page
    at.text_input(key="room_join_code").set_value(code)
    at.text_input(key="room_join_key").set_value(key)
    at.button(key="room_join").click().run()
    assert not at.exception, [e.value[:300] for e in at.exception]
    assert [len(e.value.splitlines()) for e in at.error] == [1], [e.value[:300] for e in at.error]
    assert "no room" in at.error[0].value
    no_live_markup(at)
