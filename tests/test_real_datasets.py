"""Dataset parsers on tiny files written at test time: idx (MNIST), CIFAR binary, SVHN .mat, digits."""

import gzip
import urllib.error

import numpy as np
import pytest
import torch

from core.engine.config import ConfigError
from core.real import download
from core.real.datasets import load_dataset
from core.real.formats import CIFAR_RECORD, FormatError, parse_cifar_binary, parse_idx


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx layout: 0, 0, type 0x08 (ubyte), ndim, big-endian sizes, then the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">i4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder, n_train=6, n_test=4, gz=False):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for name, array in arrays.items():
        raw = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_files_load_scaled(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    data = load_dataset("mnist", tmp_path)
    assert data.x_train.shape == (6, 1, 28, 28) and data.x_test.shape == (4, 1, 28, 28)
    assert data.x_train.dtype == torch.float32 and 0 <= data.x_train.min() and data.x_train.max() <= 1
    expected = torch.tensor(arrays["train-images-idx3-ubyte"][2], dtype=torch.float32)
    assert torch.allclose(data.x_train[2, 0] * 255, expected)
    assert data.y_test.tolist() == [0, 1, 2, 3]


def test_idx_rejects_bad_magic_and_truncation():
    with pytest.raises(FormatError, match="magic"):
        parse_idx(b"\x01\x02\x08\x01" + b"\x00" * 8)
    good = idx_bytes(np.zeros((2, 3)))
    assert parse_idx(good).shape == (2, 3)
    with pytest.raises(FormatError, match="expected"):
        parse_idx(good[:-1])


def test_missing_mnist_file_names_file_and_layout(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ConfigError, match="t10k-labels-idx1-ubyte") as err:
        load_dataset("mnist", tmp_path)
    assert err.value.field == "data_dir" and "expected" in str(err.value)


def test_missing_folder_suggests_download(tmp_path):
    with pytest.raises(ConfigError, match="does not exist.*download"):
        load_dataset("svhn", tmp_path / "nowhere")


def cifar_batch(labels, value_of=lambda i: i):
    rec = np.zeros((len(labels), CIFAR_RECORD), np.uint8)
    rec[:, 0] = labels
    for i in range(len(labels)):
        rec[i, 1:1025] = value_of(i)  # red plane
        rec[i, 1025:2049] = 100  # green plane
        rec[i, 2049:] = 200  # blue plane
    return rec.tobytes()


def write_cifar(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        (folder / f"data_batch_{i}.bin").write_bytes(cifar_batch([i, i + 1]))
    (folder / "test_batch.bin").write_bytes(cifar_batch([9, 0, 3]))


def test_cifar_binary_records_load_in_channel_order(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-bin")
    data = load_dataset("cifar10", tmp_path)
    assert data.x_train.shape == (10, 3, 32, 32) and data.x_test.shape == (3, 3, 32, 32)
    assert data.y_train[:4].tolist() == [1, 2, 2, 3] and data.y_test.tolist() == [9, 0, 3]
    assert data.x_test[1, 0].max() == pytest.approx(1 / 255) and data.x_test[0, 2, 0, 0] == pytest.approx(200 / 255)
    assert data.classes[3] == "cat"


def test_cifar_rejects_partial_records_and_cifar100_labels():
    with pytest.raises(FormatError, match="3073"):
        parse_cifar_binary(b"\x00" * 100)
    with pytest.raises(FormatError, match="CIFAR-100"):
        parse_cifar_binary(cifar_batch([42]))


def test_cifar_python_version_is_refused_without_unpickling(tmp_path):
    pickled = tmp_path / "cifar-10-batches-py"
    pickled.mkdir()
    (pickled / "data_batch_1").write_bytes(b"not to be opened")
    with pytest.raises(ConfigError, match="pickled.*binary"):
        load_dataset("cifar10", tmp_path)


def test_svhn_mat_labels_and_layout(tmp_path):
    import scipy.io as scipy_io  # a runtime dependency (SVHN): missing it must fail, not skip
    rng = np.random.default_rng(0)
    for name, n in (("train_32x32.mat", 5), ("test_32x32.mat", 3)):
        X = rng.integers(0, 256, (32, 32, 3, n)).astype(np.uint8)
        y = np.array([[10], [1], [2], [3], [4]][:n], np.uint8)
        scipy_io.savemat(tmp_path / name, {"X": X, "y": y})
    data = load_dataset("svhn", tmp_path)
    assert data.x_train.shape == (5, 3, 32, 32) and data.y_train.tolist() == [0, 1, 2, 3, 4]
    X = scipy_io.loadmat(tmp_path / "test_32x32.mat")["X"]
    assert data.x_test[2, 1, 4, 7].item() == pytest.approx(X[4, 7, 1, 2] / 255)


def test_digits_embedded_split_is_fixed_by_seed_and_stratified():
    a, b, c = (load_dataset("digits", seed=s) for s in (0, 0, 1))
    assert a.x_train.shape[1:] == (1, 8, 8) and len(a.y_train) + len(a.y_test) == 1797
    assert 0 <= a.x_train.min() and a.x_train.max() <= 1
    assert torch.equal(a.x_test, b.x_test) and not torch.equal(a.x_test, c.x_test)
    counts = torch.bincount(a.y_test, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # 20 % of each class's ~180
    small = load_dataset("digits", seed=0, n_train=100, n_test=30)
    assert len(small.y_train) == 100 and len(small.y_test) == 30


def test_download_offline_is_a_clear_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    with pytest.raises(ConfigError, match="offline") as err:
        load_dataset("svhn", tmp_path, download=True)
    assert err.value.field == "download"
    assert not list(tmp_path.glob("*.part"))


def test_cifar_download_extracts_only_expected_members_by_base_name(tmp_path, monkeypatch):
    import io
    import tarfile

    def fake_fetch(url, target):
        with tarfile.open(target, "w:gz") as tar:
            members = {f"cifar-10-batches-bin/{n}": cifar_batch([1, 2]) for n in download.CIFAR_FILES}
            members["../escape.bin"] = b"evil"
            members["cifar-10-batches-bin/readme.html"] = b"<html>"
            for name, raw in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
        return target

    monkeypatch.setattr(download, "fetch", fake_fetch)
    data = load_dataset("cifar10", tmp_path / "c", download=True)
    assert len(data.y_train) == 10 and len(data.y_test) == 2
    assert not (tmp_path / "escape.bin").exists()
    assert sorted(p.name for p in (tmp_path / "c" / "cifar-10-batches-bin").iterdir()) == sorted(download.CIFAR_FILES)
