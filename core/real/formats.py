"""Parsers for the datasets' own file formats, bytes in, numpy arrays out.

Only plain byte layouts are read (idx, CIFAR's binary records, MATLAB v5 through
scipy's reader): nothing here ever unpickles, so a hostile file can fail to parse but
cannot run code. Each parser raises ``FormatError`` saying what was wrong.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

MAX_FILE_BYTES = 2**30  # the largest file read (SVHN's train .mat) is ~180 MB
CIFAR_RECORD = 1 + 3 * 32 * 32  # one label byte, then the red, green and blue 32x32 planes
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class FormatError(ValueError):
    pass


def read_bytes(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes, gunzipped when its name ends in .gz; at most ``limit`` bytes (a small .gz can
    unpack to any size), and a truncated or corrupt archive is a FormatError, not a crash."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                raw = fh.read(limit + 1)
        else:
            if path.stat().st_size > limit:
                raise FormatError(f"{path.name}: larger than {limit // 2**20} MiB; not a dataset file of this lab")
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise FormatError(f"{path.name}: cannot be read ({_one_line(err)})") from None
    if len(raw) > limit:
        raise FormatError(f"{path.name}: unpacks to more than {limit // 2**20} MiB; not a dataset file of this lab")
    return raw


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:200] or type(err).__name__


def parse_idx(raw: bytes, name: str = "idx file") -> np.ndarray:
    """The idx format of MNIST: 0, 0, type code, ndim, then ndim big-endian int32 sizes, then data."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise FormatError(f"{name}: not an idx file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise FormatError(f"{name}: truncated header")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">i4", ndim, 4))
    if any(size < 0 for size in shape):
        raise FormatError(f"{name}: negative size in shape {shape}")
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow on a hostile header
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


# scipy's MATLAB reader is C code, and a hostile .mat can crash the whole process (a segfault found by
# tests/test_fuzz_datasets.py): it runs in a child process, which hands X and y back as a plain .npz.
_LOADMAT_CHILD = """
import io, sys
import numpy as np
try:
    from scipy.io import loadmat
except ImportError:
    sys.stderr.write("reading SVHN's .mat files needs scipy (pip install scipy)"); sys.exit(3)
try:
    mat = loadmat(sys.argv[1], variable_names=["X", "y"])
except NotImplementedError:
    sys.stderr.write("a MATLAB v7.3 (HDF5) file; use the v5 files from the SVHN site"); sys.exit(4)
except Exception as err:
    sys.stderr.write("not a readable MATLAB file (" + " ".join(str(err).split())[:200] + ")"); sys.exit(5)
if "X" not in mat or "y" not in mat:
    sys.stderr.write("expected variables X and y"); sys.exit(6)
buf = io.BytesIO()
try:
    np.savez(buf, X=np.asarray(mat["X"]), y=np.asarray(mat["y"]))
except Exception:
    sys.stderr.write("X and y must be numeric arrays"); sys.exit(7)
sys.stdout.buffer.write(buf.getvalue())
"""


def _loadmat_isolated(path: Path) -> dict:
    """{"X", "y"} of a MATLAB v5 file, read by scipy in a child process: a crash there is a FormatError here."""
    import io
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _LOADMAT_CHILD, str(path)], capture_output=True, timeout=600)
    if done.returncode < 0:
        signal = -done.returncode
        raise FormatError(f"{path.name}: not a readable MATLAB file (the reader crashed on it, signal {signal})")
    if done.returncode != 0:
        raise FormatError(f"{path.name}: {_one_line(done.stderr.decode('utf-8', 'replace')) or 'unreadable'}")
    with np.load(io.BytesIO(done.stdout), allow_pickle=False) as arrays:  # numbers only: never unpickles
        return {"X": arrays["X"], "y": arrays["y"]}


def parse_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """SVHN's cropped-digit .mat (MATLAB v5): X is 32 x 32 x 3 x N, y is N x 1 with 10 for digit 0."""
    try:
        mat = _loadmat_isolated(path)
    except ValueError as err:  # np.load of an object array (allow_pickle=False) or a broken archive
        raise FormatError(f"{path.name}: X and y must be numeric arrays ({_one_line(err)})") from None
    if "X" not in mat or "y" not in mat:
        raise FormatError(f"{path.name}: expected variables X and y")
    X, y = np.asarray(mat["X"]), np.asarray(mat["y"])
    if not (np.issubdtype(y.dtype, np.number) and np.issubdtype(X.dtype, np.number)):
        raise FormatError(f"{path.name}: X and y must be numeric arrays")
    y = y.reshape(-1).astype(np.int64)
    if X.ndim != 4 or X.shape[:3] != (32, 32, 3) or X.shape[3] != len(y):
        raise FormatError(f"{path.name}: X has shape {X.shape}, expected 32 x 32 x 3 x {len(y)}")
    if len(y) and (y.min() < 0 or y.max() > 10):
        raise FormatError(f"{path.name}: labels from {y.min()} to {y.max()}; SVHN's are 1 to 10 (10 = digit 0)")
    y[y == 10] = 0
    return np.ascontiguousarray(X.transpose(3, 2, 0, 1)), y
