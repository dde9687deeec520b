"""Hypothesis: ``--set FIELD=VALUE`` and ``--grid FIELD=...`` on the command line end in a valid config or
sweep, or in exit code 2 with one line on stderr that names the field; never a traceback, never a hang.

The properties drive what the CLI calls (Config.with_overrides, SweepSpec.from_strings: fast, in process);
one property goes through ``core.cli.main.main`` itself for the exit code and the message.
"""

import math
import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.cli.main import main
from core.engine.config import Config, ConfigError
from core.engine.presets import get_preset
from core.runs.sweep_spec import MAX_GRID_VALUES, SweepSpec

FIELDS = sorted(Config.__dataclass_fields__)
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["inf", "-inf", "nan", "1e400", "-0", "0x10", "1_000", "", " ", "1e-400", "٣"]),
)
VALUES = st.one_of(NUMBERS, st.text(max_size=30), st.text(min_size=500, max_size=2000))
NAMES = st.one_of(st.sampled_from(FIELDS), st.text(max_size=20))
PAIRS = st.one_of(st.builds("{}={}".format, NAMES, VALUES), st.text(max_size=40))
GRID_VALUES = st.one_of(
    st.lists(NUMBERS, min_size=0, max_size=6).map(",".join),
    st.builds("{}:{}:{}".format, NUMBERS, NUMBERS, st.one_of(NUMBERS, st.integers(-5, 10**9).map(str))),
    st.text(max_size=40),
)
GRIDS = st.builds("{}={}".format, NAMES, GRID_VALUES) | st.text(max_size=40)


def one_line_about_a_field(err: ConfigError) -> None:
    message = str(err)
    assert len(message.splitlines()) == 1 and len(message) <= 2000 and ": " in message
    assert message.startswith(f"{err.field}: ") or message.startswith(f"{err.field!r}: ")  # names the field


@given(pairs=st.lists(PAIRS, max_size=4))
@example(pairs=["alpha=inf"])
@example(pairs=["d=2000000"])
@example(pairs=["threat_model=my_bad_model"])
def test_set_pairs_make_a_valid_config_or_one_line(pairs):
    try:
        cfg = get_preset("classroom").config().with_overrides(pairs)
    except ConfigError as err:
        one_line_about_a_field(err)
        said = re.sub(r"got .*$|'[^']*'", "", str(err))  # what the message offers, without the value typed
        assert "-inf" not in said and "inf ≤" not in said  # an allowed range is a real one
        return
    for name in FIELDS:
        value = getattr(cfg, name)
        assert not isinstance(value, float) or math.isfinite(value)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(grids=st.lists(GRIDS, min_size=1, max_size=2), seeds=st.integers(-3, 10**7))
@example(grids=["eps=0:1:100000000"], seeds=1)
@example(grids=["s=" + ",".join(map(str, range(MAX_GRID_VALUES + 1)))], seeds=1)
@example(grids=["s=1,2"], seeds=10**9)
def test_grids_make_a_bounded_sweep_or_one_line(grids, seeds):
    base = get_preset("classroom").config()
    try:
        spec = SweepSpec.from_strings(base, grids, seeds)
    except ConfigError as err:
        one_line_about_a_field(err)
        return
    assert all(len(values) <= MAX_GRID_VALUES for _, values in spec.grid)
    assert len(spec) >= 1


@settings(max_examples=max(10, settings().max_examples // 4),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(PAIRS, min_size=1, max_size=3))
@example(pairs=["alpha=inf"])
def test_the_command_line_exits_2_with_one_line(capsys, pairs):
    args = ["checks"]
    for pair in pairs:
        args += ["--set", pair]
    code = main(args)
    out, err = capsys.readouterr()
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
    else:
        assert code == 0 and "Traceback" not in err
