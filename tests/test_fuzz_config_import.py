"""Hypothesis: the Runs page's config import (pages._common.parse_config_upload) takes any bytes, wrong types,
deep nesting, oversize files and non-UTF-8, and answers a config or one line naming what is wrong."""

import json

from hypothesis import example, given
from hypothesis import strategies as st

from core.engine.config import Config
from pages._common import MAX_IMPORT_BYTES, parse_config_upload

FIELDS = sorted(Config.__dataclass_fields__)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**400), 10**400), st.floats(), st.text(max_size=20),
    st.sampled_from([10**400, -(10**30), 2**63, float("1e308")]),
)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=3), max_leaves=8)
CONFIGS = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=12)), JSON, max_size=6)
DOCUMENTS = st.one_of(CONFIGS, st.builds(lambda c, p: {"config": c, "preset": p}, CONFIGS, JSON), JSON)


def encode(doc) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


def check(data: bytes) -> None:
    cfg, preset, error = parse_config_upload(data)
    if error is None:
        assert isinstance(cfg, Config) and (preset is None or isinstance(preset, str))
    else:
        assert cfg is None and isinstance(error, str) and error
        assert len(error.splitlines()) == 1 and len(error) <= 2000 and "Traceback" not in error


@given(doc=DOCUMENTS)
@example(doc={"k": 10**400})
@example(doc={"alpha": 10**400})
@example(doc={"alpha": float("inf")})
@example(doc={"config": {"threat_model": "my_bad_model"}})
@example(doc={"k": [[[[1]]]], "d": {"a": None}})
def test_any_json_document_is_a_config_or_one_line(doc):
    check(encode(doc))


@given(data=st.binary(max_size=200))
@example(data=b"\xff\xfe{}")
@example(data=b"[" * 100_000 + b"]" * 100_000)
@example(data=b'{"k": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")
@example(data=b" " * (MAX_IMPORT_BYTES + 1))
@example(data=b'{"k": 1e999}')
@example(data=b'{"alpha": NaN}')
@example(data=b'{"k": 1' + b"0" * 5000 + b"}")
def test_any_bytes_are_a_config_or_one_line(data):
    check(data)
