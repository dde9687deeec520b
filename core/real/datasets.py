"""Image datasets as tensors in [0, 1], shape (N, C, H, W), with integer labels.

``digits`` (scikit-learn's 8x8 handwritten digits) is embedded: no files, no network,
so the quick demo runs anywhere. MNIST, CIFAR10 (binary version) and SVHN are read from
a folder the user gives, parsed with numpy (see formats.py); ``download=True`` fetches
missing files first. A missing or wrong file is a ``ConfigError`` on ``data_dir`` naming
the file and the expected layout.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..engine.config import ConfigError
from .download import CIFAR_DIR, CIFAR_FILES, DOWNLOADERS, MNIST_FILES, SVHN_FILES
from .formats import FormatError, parse_cifar_binary, parse_idx, parse_svhn_mat, read_bytes

CLASSES = {
    "digits": tuple(str(i) for i in range(10)),
    "mnist": tuple(str(i) for i in range(10)),
    "svhn": tuple(str(i) for i in range(10)),
    "cifar10": ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}
DIGITS_TEST_FRACTION = 0.2

LAYOUT = {
    "mnist": "the four idx files " + ", ".join(MNIST_FILES) + " (each optionally .gz), in DIR or DIR/MNIST/raw",
    "cifar10": "the binary version's " + ", ".join(CIFAR_FILES) + f" in DIR or DIR/{CIFAR_DIR}",
    "svhn": " and ".join(SVHN_FILES) + " (the cropped digits, format 2) in DIR",
}


@dataclass
class ImageData:
    name: str
    x_train: torch.Tensor  # float32 in [0, 1], (N, C, H, W)
    y_train: torch.Tensor  # int64
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def load_dataset(name: str, data_dir: str | Path = "", *, download: bool = False, seed: int = 0,
                 n_train: int = 0, n_test: int = 0) -> ImageData:
    """Load a dataset; n_train / n_test > 0 keep a seeded random subset of that size."""
    if name == "digits":
        xtr, ytr, xte, yte = _load_digits(seed)
    else:
        folder = Path(data_dir) if data_dir else Path("data") / name
        if download:
            folder.mkdir(parents=True, exist_ok=True)
            DOWNLOADERS[name](folder)
        try:
            xtr, ytr, xte, yte = {"mnist": _load_mnist, "cifar10": _load_cifar10, "svhn": _load_svhn}[name](folder)
        except FormatError as err:
            raise ConfigError("data_dir", f"{err}; expected {LAYOUT[name]}") from None
    rng = np.random.default_rng(seed)
    xtr, ytr = _subset(xtr, ytr, n_train, rng)
    xte, yte = _subset(xte, yte, n_test, rng)
    return ImageData(name, _to_tensor(xtr), torch.as_tensor(ytr, dtype=torch.int64),
                     _to_tensor(xte), torch.as_tensor(yte, dtype=torch.int64), CLASSES[name])


def check_data_dir(name: str, data_dir: str | Path = "") -> None:
    """Only that the dataset's files are where load_dataset looks (nothing is read): the same
    ConfigError on ``data_dir`` as loading would raise, cheap enough for a form to call on every edit."""
    if name == "digits":
        return
    folder = Path(data_dir) if data_dir else Path("data") / name
    if name == "mnist":
        for stem in MNIST_FILES:
            _find(folder, [f"{sub}{stem}{gz}" for sub in ("", "MNIST/raw/") for gz in ("", ".gz")], "mnist")
    elif name == "cifar10":
        for n in CIFAR_FILES:
            _find(folder, [n, f"{CIFAR_DIR}/{n}"], "cifar10")
    else:
        for n in SVHN_FILES:
            _find(folder, [n], name)


def _to_tensor(x: np.ndarray) -> torch.Tensor:
    x = np.asarray(x)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32) / scale)


def _subset(x, y, n, rng):
    if n <= 0 or n >= len(y):
        return x, y
    keep = np.sort(rng.choice(len(y), n, replace=False))
    return x[keep], y[keep]


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: read its bundled CSV directly when it is there (importing
    sklearn costs seconds, the file milliseconds), else through load_digits."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise ConfigError("dataset", "digits needs scikit-learn (pip install scikit-learn)")
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if csv.is_file():
        table = np.loadtxt(csv, delimiter=",")
        return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target.astype(np.int64)


def _load_digits(seed: int):
    """The 1797 digits scaled from 0..16 to [0, 1]; a stratified split fixed by the seed."""
    images, y = _digits_arrays()
    x = (images / 16.0).astype(np.float32)[:, None]
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for label in np.unique(y):  # stratified: every class keeps the same share in test
        members = rng.permutation(np.flatnonzero(y == label))
        test[members[: round(DIGITS_TEST_FRACTION * len(members))]] = True
    return x[~test], y[~test], x[test], y[test]


def _find(folder: Path, names: list[str], dataset: str) -> Path:
    """The first of the candidate paths that exists, else a ConfigError naming the file."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    if not folder.is_dir():
        raise ConfigError("data_dir", f"folder {folder} does not exist; expected {LAYOUT[dataset]} "
                                      f"(or pass download=True / --download)")
    raise ConfigError("data_dir", f"missing {names[0]} in {folder}; expected {LAYOUT[dataset]}")


def _load_mnist(folder: Path):
    def read(stem):
        candidates = [f"{sub}{stem}{gz}" for sub in ("", "MNIST/raw/") for gz in ("", ".gz")]
        path = _find(folder, candidates, "mnist")
        return parse_idx(read_bytes(path), path.name)

    xtr, ytr = read(MNIST_FILES[0]), read(MNIST_FILES[1])
    xte, yte = read(MNIST_FILES[2]), read(MNIST_FILES[3])
    for x, y, split in ((xtr, ytr, "train"), (xte, yte, "t10k")):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise FormatError(f"{split} images {x.shape} and labels {y.shape} do not match")
        if not len(y):
            raise FormatError(f"{split} files hold no images")
        if y.min() < 0 or y.max() > 9:
            raise FormatError(f"{split} labels run from {y.min()} to {y.max()}; MNIST's are 0 to 9")
    return xtr[:, None], ytr.astype(np.int64), xte[:, None], yte.astype(np.int64)


def _load_cifar10(folder: Path):
    for pickled in (folder / "cifar-10-batches-py", folder / "data_batch_1"):
        if pickled.exists() and not any((folder / d / "data_batch_1.bin").exists() for d in ("", CIFAR_DIR)):
            raise ConfigError("data_dir", f"{pickled} is CIFAR10's python (pickled) version, which is never "
                                          f"loaded here; use the binary version cifar-10-binary.tar.gz "
                                          f"({LAYOUT['cifar10']})")
    parts = [parse_cifar_binary(read_bytes(p), p.name)
             for p in (_find(folder, [n, f"{CIFAR_DIR}/{n}"], "cifar10") for n in CIFAR_FILES)]
    xtr = np.concatenate([x for x, _ in parts[:-1]])
    ytr = np.concatenate([y for _, y in parts[:-1]])
    return xtr, ytr, parts[-1][0], parts[-1][1]


def _load_svhn(folder: Path):
    xtr, ytr = parse_svhn_mat(_find(folder, [SVHN_FILES[0]], "svhn"))
    xte, yte = parse_svhn_mat(_find(folder, [SVHN_FILES[1]], "svhn"))
    return xtr, ytr, xte, yte
