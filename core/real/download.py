"""Fetch a dataset's files from the standard URLs with urllib (``download=True``).

Files land in the data folder under the names the loaders look for. Writes go to a
temporary name first, so an interrupted download never leaves a half file that looks
whole. Offline, the error says what to fetch by hand and where to put it.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..engine.config import ConfigError

MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR_DIR = "cifar-10-batches-bin"
CIFAR_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)
SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"
SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")
TIMEOUT_S = 60


def fetch(url: str, target: Path) -> Path:
    """Download url to target (atomically); ConfigError on any network failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        partial.unlink(missing_ok=True)
        reason = getattr(err, "reason", err)
        raise ConfigError("download", f"could not fetch {url} ({reason}); are you offline? "
                                      f"Download it by hand into {target.parent}") from None
    partial.replace(target)
    return target


def download_mnist(folder: Path) -> None:
    for name in MNIST_FILES:
        if (folder / name).exists() or (folder / f"{name}.gz").exists():
            continue
        for i, mirror in enumerate(MNIST_MIRRORS):
            try:
                fetch(mirror + f"{name}.gz", folder / f"{name}.gz")
                break
            except ConfigError:
                if i == len(MNIST_MIRRORS) - 1:  # every mirror failed: report the last
                    raise


def download_cifar10(folder: Path) -> None:
    """The binary tarball; only the six expected .bin members are extracted, by base name."""
    if all((folder / CIFAR_DIR / name).exists() for name in CIFAR_FILES):
        return
    with tempfile.TemporaryDirectory(dir=folder if folder.exists() else None) as tmp:
        archive = fetch(CIFAR_URL, Path(tmp) / "cifar-10-binary.tar.gz")
        out = folder / CIFAR_DIR
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                base = Path(member.name).name
                if member.isfile() and base in CIFAR_FILES:  # never trust member paths
                    with tar.extractfile(member) as src, (out / base).open("wb") as dst:
                        shutil.copyfileobj(src, dst)


def download_svhn(folder: Path) -> None:
    for name in SVHN_FILES:
        if not (folder / name).exists():
            fetch(SVHN_URL + name, folder / name)


DOWNLOADERS = {"mnist": download_mnist, "cifar10": download_cifar10, "svhn": download_svhn}
