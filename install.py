"""Set up the app's environment in one step: `python3 install.py` (then `. .venv/bin/activate`).

Creates .venv and installs requirements.txt (``--dev``: requirements-dev.txt) at the versions CI passed on
(constraints.txt). PyPI's PyTorch for Linux brings several GB of CUDA libraries; on a machine without an
NVIDIA GPU (no ``nvidia-smi``) pip also reads PyTorch's CPU package index, whose CPU build it then prefers.
Where that index cannot be reached, pip is not sent there (it would retry it for every package) and takes
PyTorch from whatever its own configuration offers.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def reachable(url: str, timeout_s: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=timeout_s):
            return True
    except OSError:
        return False


def pip_arguments(dev: bool, gpu: bool, index_reachable: bool) -> list[str]:
    """What pip is asked: the pinned requirements, and PyTorch's CPU index on a machine without a GPU."""
    args = ["install", "-c", str(ROOT / "constraints.txt"), "-r",
            str(ROOT / ("requirements-dev.txt" if dev else "requirements.txt"))]
    if not gpu and index_reachable:
        args += ["--extra-index-url", CPU_INDEX]
    return args


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--venv", type=Path, default=ROOT / ".venv")
    p.add_argument("--dev", action="store_true", help="also what the tests need (requirements-dev.txt)")
    args = p.parse_args(argv)
    gpu = shutil.which("nvidia-smi") is not None
    index = not gpu and reachable(CPU_INDEX)
    if not gpu and not index:
        print(f"note: {CPU_INDEX} cannot be reached; pip takes PyTorch from its own configuration", flush=True)
    if not (args.venv / "bin" / "python").exists():
        venv.create(args.venv, with_pip=True)
    python = args.venv / "bin" / "python"
    command = [str(python), "-m", "pip", *pip_arguments(args.dev, gpu, index)]
    print(" ".join(command), flush=True)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
