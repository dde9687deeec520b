"""One declaration per knob: validation, the Lab's widgets and the command line's help all read it."""

import math
from dataclasses import fields

import pytest

from core.cli.main import main
from core.engine.config import GROUPS, Config, ConfigError
from core.engine.knobs import Bound, kinds_of, knobs_of, number_text
from core.engine.threats import THREAT_MODELS
from core.real.real_config import RealConfig
from pages._fields import BY_NAME, FIELDS
from pages._markdown import md_message as as_typed

SPECS = knobs_of(Config)
KINDS = kinds_of(Config)
NUMERIC = [name for name, kind in KINDS.items() if kind in ("int", "float")]


def test_every_config_field_declares_what_the_lab_and_validation_need():
    for name, spec in SPECS.items():
        assert spec.label and spec.help and spec.group in GROUPS, name
        if KINDS[name] == "str":
            assert spec.allowed_choices(), name
        else:
            assert spec.low is not None and spec.high is not None and spec.step, name
    assert SPECS["threat_model"].allowed_choices() == tuple(THREAT_MODELS)  # read late, never copied


def test_the_lab_shows_the_declaration():
    assert [f.name for f in FIELDS] == [n for g in GROUPS for n in SPECS if SPECS[n].group == g]
    for name, spec in SPECS.items():
        row = BY_NAME[name]
        assert (row.label, row.help, row.group, row.basic) == (spec.label, spec.help, spec.group, spec.basic)
        assert row.choices == spec.allowed_choices()
        if row.step is not None:  # number inputs show integers for int fields
            assert isinstance(row.step, int) == (KINDS[name] == "int")


@pytest.mark.parametrize("name", NUMERIC)
def test_validation_enforces_the_declared_range(name):
    spec, base = SPECS[name], Config()
    for bound, outside in ((spec.high, +1), (spec.low, -1)):
        limit = bound.of(base) if isinstance(bound, Bound) else bound
        inside = limit if KINDS[name] == "float" or float(limit).is_integer() else math.ceil(limit)
        try:  # the bound itself is allowed (another field's rule may object: k = 1000 needs d >= 2000)
            assert getattr(Config(**{name: inside}), name) == inside
        except ConfigError as other:
            assert other.field != name or name in ("alpha", "beta")  # > 0 while both kinds of patch exist
        step = 1 if KINDS[name] == "int" else max(abs(limit), 1.0) * 1e-3
        with pytest.raises(ConfigError) as err:
            Config(**{name: limit + outside * step})
        message = str(err.value)
        assert err.value.field == name and "\n" not in message
        assert f"{name} must be " in message and number_text(limit) in message and "inf" not in message


def test_the_command_line_help_lists_every_field_with_its_range(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and line.split()}
    for name in SPECS:
        assert name in lines, name
    assert "≥ 2 and ≤ 1000" in lines["k"] and "≥ 2k" in lines["d"] and "patch_l2" in lines["threat_model"]


def test_real_config_uses_the_same_declarations():
    specs, kinds = knobs_of(RealConfig), kinds_of(RealConfig)
    assert {f.name for f in fields(RealConfig)} == set(specs)
    for name, spec in specs.items():
        assert spec.help, name
        if kinds[name] in ("int", "float"):
            assert spec.low is not None and spec.high is not None, name
    with pytest.raises(ConfigError) as err:
        RealConfig(lr=float("inf"))
    assert err.value.field == "lr" and "finite" in str(err.value) and "≤ 100" in str(err.value)
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'"):
        RealConfig(dataset="imagenet")


def test_messages_keep_their_underscores_in_markdown():
    with pytest.raises(ConfigError) as err:
        Config(threat_model="patch_l7")
    shown = as_typed(err.value)
    assert "_" in str(err.value) and all(shown[i - 1] == "\\" for i, ch in enumerate(shown) if ch == "_")
    assert shown.replace("\\", "") == str(err.value)  # nothing else changed
    assert as_typed("d: 5 is too small: 2k = 20") == "d: 5 is too small: 2k = 20"
