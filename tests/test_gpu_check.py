"""bench/gpu_check.sh and bench/gpu_wheels.sh, the GPU machine's one command, kept runnable without a GPU.

A GPU machine may be had for minutes only, so the script must work the first time there: its wheels
must match what CI installs, and its plumbing (the wheel folder, the step selection, the summary, the
bundle brought back) is rehearsed here on the CPU.
"""

import os
import re
import subprocess
import sys
import tarfile

from _subprocess_env import ROOT, with_project, without_project  # tests/ is on the path


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_the_gpu_wheels_fetch_is_pinned_where_ci_pins_it():
    script = (ROOT / "bench" / "gpu_wheels.sh").read_text()
    missing = re.search(r"MISSING=\(([^)]*)\)", script).group(1).split()
    pinned = {_normalised(line.split("==")[0]) for line in (ROOT / "constraints.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    assert len(missing) > 10
    assert [name for name in missing if _normalised(name) not in pinned] == []


def test_the_gpu_check_runs_its_chosen_steps_on_the_cpu_and_bundles_what_it_wrote(tmp_path):
    out, carried = tmp_path / "gpu-check", str(tmp_path / "carried-site")
    env = {**with_project(), "PYTHON": sys.executable, "GPU_CHECK_DEVICE": "cpu", "TMPDIR": str(tmp_path),
           "GPU_CHECK_STEPS": "imports tests-gpu", "GPU_CHECK_WHEELS": str(tmp_path / "no-wheels")}
    # a run of the suite inside the script has its packages on PYTHONPATH: this nested run must keep them
    env["PYTHONPATH"] += os.pathsep + carried
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = (out / "summary.txt").read_text()
    assert "imports ok" in summary
    assert re.search(r"^PYTHONPATH=\.:.*" + re.escape(carried) + "$", summary, re.M)
    assert re.search(r"^tests-gpu\s+rc=0 ", summary, re.M)  # the gpu tests skip without CUDA
    assert "twin-paper-scale" not in summary  # not chosen: not run
    assert "sweep-64: missing" in summary  # the results section reads what is there
    with tarfile.open(tmp_path / "gpu-check.tgz") as bundle:
        names = set(bundle.getnames())
    assert {"gpu-check/summary.txt", "gpu-check/imports.log", "gpu-check/tests-gpu.log"} <= names


def test_child_processes_keep_a_carried_package_folder_on_their_path(monkeypatch, tmp_path):
    """There the packages the image lacks live in a folder on PYTHONPATH (gpu_check.sh): the tests' child
    processes, with the project or without it (the Dask cluster's), must keep it."""
    site = str(tmp_path / "site")
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([site, "."]))
    assert with_project()["PYTHONPATH"].split(os.pathsep) == [str(ROOT), site, "."]
    assert without_project()["PYTHONPATH"] == site
    monkeypatch.setenv("PYTHONPATH", ".")
    assert "PYTHONPATH" not in without_project()
