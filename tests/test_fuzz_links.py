"""Hypothesis over every page's link: any query parameters (non-finite and huge numbers, wrong types, very
long strings, unknown names, repeated keys, markup) end in a page that renders, with at most one-line messages
(st.warning / st.error) naming what is wrong and what is allowed: never Streamlit's exception box, and no
link, image or HTML made from what the link said (tests/markup.py).

Each example renders the app under AppTest (~0.3-2 s), so these take a quarter of the profile's examples.
Under the ci profile the server's work budget is small, so the Theory page refuses most setups at once
instead of computing them (its computations are the page's, not the link's; test_budget.py covers them).
"""

import os
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markup import MARKUP, no_live_markup  # tests/ is on the path
from streamlit.testing.v1 import AppTest

from core.engine.config import Config
from pages._common import is_lab_link

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = ("pages/lab.py", "pages/theory.py", "pages/runs.py", "pages/sweep.py", "pages/real.py", "pages/about.py",
         "pages/room.py")
FIELDS = sorted(Config.__dataclass_fields__)
OTHER_PARAMS = ["preset", "runs", "pair", "real", "present", "sweep", "room", "nseeds", "seedruns"]
NUMBERS = st.one_of(
    st.integers(-(2**80), 2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["inf", "-inf", "nan", "1e400", "-1e400", "1e20", "9007199254740993", "1e-320", "0x1f", ""]),
)
TEXT = st.one_of(
    st.text(max_size=20),
    st.text(min_size=300, max_size=3000),
    st.sampled_from(["my_bad_model", "__class__", "patch_l2", "linf", "ce", "cuda", "figure3", "a,b", "abc,def",
                     "[x](javascript:alert(1))", "**bold**", "<script>"]),
    st.sampled_from(MARKUP),
    st.builds("{}{}".format, st.sampled_from(["", "1", "ABCDEF", "classroom"]), st.sampled_from(MARKUP)),
)
VALUE = st.one_of(NUMBERS, TEXT)
PARAMS = st.dictionaries(
    st.one_of(st.sampled_from(FIELDS + OTHER_PARAMS), st.text(min_size=1, max_size=12)),
    st.one_of(VALUE, st.lists(VALUE, min_size=2, max_size=3)),  # a list: the key repeated in the link
    max_size=4,
)
APP_EXAMPLES = max(10, settings().max_examples // 4)
SMALL_SERVER = os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci"


def one_line(at: AppTest) -> None:
    assert not at.exception, [e.value[:300] for e in at.exception]
    for box in (*at.error, *at.warning):
        assert "Traceback" not in box.value and len(box.value.splitlines()) == 1, box.value[:300]
    no_live_markup(at)


def render(params: dict, page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    if page == "pages/lab.py" and is_lab_link(params):
        at.run()  # a link to the app's root that names a Lab setup opens the Lab
    else:
        at.switch_page(page).run()  # a link to the page itself, as shared
    one_line(at)
    assert at.title, "the page drew nothing"
    return at


@settings(max_examples=APP_EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                            HealthCheck.too_slow])
@given(params=PARAMS, page=st.sampled_from(PAGES))
@example(params={"alpha": "inf"}, page="pages/lab.py")
@example(params={"beta": "nan", "eps": "-inf"}, page="pages/theory.py")
@example(params={"k": "1e20", "seed": "1e30"}, page="pages/lab.py")
@example(params={"d": "2000000"}, page="pages/lab.py")
@example(params={"threat_model": "my_bad_model"}, page="pages/theory.py")
@example(params={"preset": ["figure3", "classroom"], "alpha": ["1", "inf"]}, page="pages/lab.py")
@example(params={"runs": "a" * 5000, "pair": "x" * 5000, "real": "../../etc", "sweep": "nope"}, page="pages/sweep.py")
@example(params={"room": '<img src="http://evil.example/x.png" onerror="alert(1)">'}, page="pages/room.py")
@example(params={"room": "![x](http://evil.example/x.png)"}, page="pages/room.py")
@example(params={"preset": "[click](http://evil.example)", "alpha": "<b>evil</b>"}, page="pages/lab.py")
def test_any_link_renders_every_page_with_one_line_messages(app_env, monkeypatch, params, page):
    if SMALL_SERVER:
        monkeypatch.setenv("RFL_SERVER_GFLOP", "0.5")
    at = render(params, page)
    at.run()  # and it stays usable: the next rerun is as clean
    one_line(at)


def shown(at: AppTest) -> str:
    return " ".join(box.value for box in (*at.error, *at.warning))


def test_a_non_finite_link_value_says_what_is_allowed(app_env):
    at = render({"alpha": "inf"}, "pages/lab.py")
    assert "alpha" in shown(at) and "finite" in shown(at) and "≥ 0 and ≤ 1000000" in shown(at)
    assert at.number_input(key="lab_f_alpha").value == 1.0  # the preset's value stays


def test_the_range_of_d_names_its_real_bounds(app_env):
    at = render({"d": "2000000"}, "pages/lab.py")
    assert "≥ 2k (here 10) and ≤ 1000000" in shown(at) and "inf" not in shown(at)


def test_underscores_of_a_threat_model_survive_the_message(app_env):
    at = render({"threat_model": "my_bad_model"}, "pages/lab.py")
    assert "my\\_bad\\_model" in shown(at) and "patch\\_l2" in shown(at)  # escaped, so markdown keeps them


def test_a_room_code_in_a_link_is_shown_as_text(app_env):
    for code in ('<img src="http://evil.example/x.png">', "[evil](http://evil.example)", "**EVIL**", "![evil](http://x/a.png)"):
        at = render({"room": code}, "pages/room.py")
        shown_text = shown(at)
        assert "no room" in shown_text and any(f"\\{c}" in shown_text for c in "[<*"), shown_text
