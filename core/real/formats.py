"""Parsers for the datasets' own file formats, bytes in, numpy arrays out.

Only plain byte layouts are read (idx, CIFAR's binary records, MATLAB v5 through
scipy's reader): nothing here ever unpickles, so a hostile file can fail to parse but
cannot run code. Each parser raises ``FormatError`` saying what was wrong.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

CIFAR_RECORD = 1 + 3 * 32 * 32  # one label byte, then the red, green and blue 32x32 planes
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class FormatError(ValueError):
    pass


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when its name ends in .gz."""
    path = Path(path)
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as fh:
            return fh.read()
    return path.read_bytes()


def parse_idx(raw: bytes, name: str = "idx file") -> np.ndarray:
    """The idx format of MNIST: 0, 0, type code, ndim, then ndim big-endian int32 sizes, then data."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise FormatError(f"{name}: not an idx file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise FormatError(f"{name}: truncated header")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">i4", ndim, 4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise FormatError(f"{name}: {len(raw)} bytes, expected {expected} for shape {shape}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def parse_cifar_binary(raw: bytes, name: str = "cifar batch") -> tuple[np.ndarray, np.ndarray]:
    """CIFAR10's binary version: 3073-byte records -> (uint8 images N x 3 x 32 x 32, labels N)."""
    if not raw or len(raw) % CIFAR_RECORD:
        raise FormatError(f"{name}: {len(raw)} bytes is not a whole number of {CIFAR_RECORD}-byte records")
    records = np.frombuffer(raw, np.uint8).reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise FormatError(f"{name}: label {labels.max()} > 9; is this the CIFAR-100 binary?")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def parse_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """SVHN's cropped-digit .mat (MATLAB v5): X is 32 x 32 x 3 x N, y is N x 1 with 10 for digit 0."""
    try:
        from scipy.io import loadmat  # reads MATLAB's own format; it never unpickles
    except ImportError:
        raise FormatError("reading SVHN's .mat files needs scipy (pip install scipy)") from None
    try:
        mat = loadmat(str(path), variable_names=["X", "y"])
    except NotImplementedError:
        raise FormatError(f"{path.name}: a MATLAB v7.3 (HDF5) file; use the v5 files from the SVHN site") from None
    except (ValueError, OSError, TypeError) as err:
        raise FormatError(f"{path.name}: not a readable MATLAB file ({err})") from None
    if "X" not in mat or "y" not in mat:
        raise FormatError(f"{path.name}: expected variables X and y")
    X, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1).astype(np.int64)
    if X.ndim != 4 or X.shape[:3] != (32, 32, 3) or X.shape[3] != len(y):
        raise FormatError(f"{path.name}: X has shape {X.shape}, expected 32 x 32 x 3 x {len(y)}")
    y[y == 10] = 0
    return np.ascontiguousarray(X.transpose(3, 2, 0, 1)), y
