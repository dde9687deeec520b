"""Hypothesis: corrupt, truncated or hostile MNIST / CIFAR10 / SVHN files end in one ConfigError on data_dir
(one line, naming the file and the expected layout) or load as valid data; never another exception.

The files are the valid tiny ones of tests/test_real_datasets.py, then cut, flipped, padded or replaced.
"""

import gzip
import io
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.engine.config import ConfigError
from core.real.datasets import load_dataset
from core.real.download import CIFAR_FILES, MNIST_FILES, SVHN_FILES
from core.real.formats import CIFAR_RECORD, FormatError, parse_cifar_binary, parse_idx, read_bytes

FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">i4").tobytes() + array.astype(np.uint8).tobytes()


def mnist_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {
        MNIST_FILES[0]: idx_bytes(rng.integers(0, 256, (3, 28, 28))),
        MNIST_FILES[1]: idx_bytes(np.arange(3) % 10),
        MNIST_FILES[2]: idx_bytes(rng.integers(0, 256, (2, 28, 28))),
        MNIST_FILES[3]: idx_bytes(np.arange(2) % 10),
    }


def cifar_files() -> dict[str, bytes]:
    record = bytes([3]) + bytes(CIFAR_RECORD - 1)
    return {name: record * 2 for name in CIFAR_FILES}


def svhn_files() -> dict[str, bytes]:
    from scipy.io import savemat

    out = {}
    for name in SVHN_FILES:
        buffer = io.BytesIO()
        savemat(buffer, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[1], [10]])})
        out[name] = buffer.getvalue()
    return out


BUILDERS = {"mnist": mnist_files, "cifar10": cifar_files, "svhn": svhn_files}


@st.composite
def corruption(draw, raw: bytes):
    """One way a file goes bad: truncated, a byte flipped, junk appended, replaced, empty."""
    kind = draw(st.sampled_from(["truncate", "flip", "append", "replace", "empty", "header"]))
    if kind == "truncate":
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    if kind == "flip":
        i = draw(st.integers(0, len(raw) - 1))
        return raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1:]
    if kind == "append":
        return raw + draw(st.binary(min_size=1, max_size=64))
    if kind == "header":  # a hostile header: sizes that overflow or go negative
        return raw[:4] + draw(st.binary(min_size=4, max_size=16)) + raw[8:]
    if kind == "empty":
        return b""
    return draw(st.binary(max_size=256))


@st.composite
def broken_dataset(draw, datasets=("cifar10", "mnist")):
    dataset = draw(st.sampled_from(datasets))
    files = BUILDERS[dataset]()
    victim = draw(st.sampled_from(sorted(files)))
    files[victim] = draw(corruption(files[victim]))
    gz = dataset == "mnist" and draw(st.booleans())
    cut_gz = gz and draw(st.booleans())  # a truncated download of the .gz itself
    return dataset, files, victim, gz, cut_gz


def write(folder, files: dict, gz: bool, cut_gz: bool):
    for name, raw in files.items():
        if gz:
            packed = gzip.compress(raw)
            (folder / f"{name}.gz").write_bytes(packed[: len(packed) // 2] if cut_gz else packed)
        else:
            (folder / name).write_bytes(raw)


@FUZZ
@given(case=broken_dataset())
@example(case=("mnist", {**mnist_files(), MNIST_FILES[0]: b"\x00\x00\x08\x03\x7f\xff\xff\xff" * 2}, MNIST_FILES[0],
               False, False))
@example(case=("mnist", mnist_files(), MNIST_FILES[1], True, True))
@example(case=("mnist", {**mnist_files(), MNIST_FILES[1]: idx_bytes(np.array([0, 1, 200]))}, MNIST_FILES[1],
               False, False))
def test_a_broken_dataset_file_is_one_line_on_data_dir(tmp_path_factory, case):
    check_one_line_or_valid(tmp_path_factory, case)


# SVHN's .mat files are read in a process of their own (formats._loadmat_isolated), a second per file: SVHN
# gets a twentieth of the profile's examples, and the two corruptions a truncated download and a hostile header.
@settings(FUZZ, max_examples=max(5, settings().max_examples // 20))
@given(case=broken_dataset(("svhn",)))
@example(case=("svhn", {**svhn_files(), SVHN_FILES[0]: svhn_files()[SVHN_FILES[0]][:100]}, SVHN_FILES[0], False,
               False))
@example(case=("svhn", {**svhn_files(), SVHN_FILES[1]: b"MATLAB 5.0" + bytes(200)}, SVHN_FILES[1], False, False))
def test_a_broken_svhn_file_is_one_line_on_data_dir(tmp_path_factory, case):
    check_one_line_or_valid(tmp_path_factory, case)


def check_one_line_or_valid(tmp_path_factory, case):
    dataset, files, victim, gz, cut_gz = case
    folder = tmp_path_factory.mktemp(dataset)
    write(folder, files, gz, cut_gz)
    try:
        data = load_dataset(dataset, folder)
    except ConfigError as err:
        message = str(err)
        assert err.field == "data_dir" and "\n" not in message and "Traceback" not in message
        assert "expected" in message  # what is allowed: the layout
        return
    # Survived the corruption: then it is valid data a run can use.
    assert len(data.y_train) and len(data.y_test) and data.x_train.shape[1:] == data.x_test.shape[1:]
    assert 0 <= int(data.y_train.min()) and int(data.y_train.max()) < data.n_classes
    assert np.isfinite(data.x_train.numpy()).all()


@FUZZ
@given(raw=st.binary(max_size=512))
def test_parsers_refuse_any_bytes_with_format_error(raw):
    for parse in (parse_idx, parse_cifar_binary):
        try:
            parse(raw)
        except FormatError as err:
            assert "\n" not in str(err)


def test_a_gzip_bomb_is_refused_before_it_unpacks(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes(4096)))
    with pytest.raises(FormatError, match="unpacks to more than"):
        read_bytes(path, limit=1024)
    path.write_bytes(b"\x1f\x8b" + zlib.compress(b"junk"))
    with pytest.raises(FormatError, match="cannot be read"):
        read_bytes(path)
