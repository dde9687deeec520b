#!/usr/bin/env bash
# The GPU path in one command, for a machine with CUDA: under 10 minutes.
#
#   bash bench/gpu_check.sh [OUT_DIR]     (default: gpu-check-<date>/; every step's log and JSON kept there,
#                                          and OUT_DIR.tgz of them all beside it)
#
# A GPU machine whose image lacks the app's own libraries and reaches no package index takes them as wheels:
#   on a machine with the index, once:  bash bench/gpu_wheels.sh   (into .whl/, about 36 MB)
#   copy the checkout with .whl/ to the GPU machine, then run there:
#                bash bench/gpu_check.sh /tmp/gpu-check      (and bring back /tmp/gpu-check.tgz and summary.txt)
# docs/performance.md keeps the numbers it reports.
#
# Steps, most wanted first, each under its own time cap and all under GPU_CHECK_BUDGET seconds (540; on an
# H200 the steps before the suite take about 210 s and the suite about 290 s on 16 cores):
# 1. imports, the CPU kernels' compile, and the `gpu` tests (GPU against CPU numbers; they skip without
#    CUDA, here they must pass);
# 2. a paper-scale twin run (goal: under 60 s);
# 3. a 64-run batched sweep against the same 64 runs one by one (goal: at least 20x);
# 4. the bench: std, one-step and PGD-3 steps at figure3 and at paper-scale;
# 5. a figure3 twin run, and the real-image quick run with ResNet18;
# 6. the rest of the test suite (not the browser tests), in the time left.
# A failing or timed-out step is reported and the script goes on; one with no time left is skipped.
#
# GPU_CHECK_DEVICE=cpu runs the same steps on the CPU, short of the CUDA gate: a rehearsal of the
# script and its imports on a machine without a GPU (the heavy steps then run into their caps;
# GPU_CHECK_CAP=SECONDS caps every step, to see each one start). GPU_CHECK_STEPS="NAME ..." runs only
# those steps (the names of summary.txt), GPU_CHECK_WHEELS=DIR takes the wheels from DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-check-$(date +%Y%m%d-%H%M%S)}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
BUDGET=${GPU_CHECK_BUDGET:-540}
CAP=${GPU_CHECK_CAP:-600}  # a rehearsal's cap on every step
STEPS=${GPU_CHECK_STEPS:-}  # names of the steps to run (all when empty): a rerun of those that failed
WHEELS=${GPU_CHECK_WHEELS:-.whl}
SITE=${TMPDIR:-/tmp}/rfl-site
PY=${PYTHON:-$(command -v python3 || command -v python)}  # the GPU image's torch is under python3
STARTED=$SECONDS
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
wanted() { [[ -z $STEPS || " $STEPS " == *" $1 "* ]]; }
bundle() { tar -czf "$OUT.tgz" -C "$(dirname "$OUT")" "$(basename "$OUT")"; }  # one file to bring back

# The packages the image lacks, carried as wheels (bench/gpu_wheels.sh): installed beside it, not into it.
if compgen -G "$WHEELS/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl \
    > "$OUT/wheels.log" 2>&1 || say "installing $WHEELS/ failed: see wheels.log"
  export PYTHONPATH=$SITE:.${PYTHONPATH:+:$PYTHONPATH}
else  # what PYTHONPATH held stays on it: a test runs this script inside a run of it, its packages there
  export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
fi

if [[ $DEVICE == cuda ]]; then
  "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { say "torch sees no CUDA device: nothing to check"; exit 1; }
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee -a "$SUMMARY"
fi
"$PY" -c "import platform, torch, numpy; print('python', platform.python_version(), 'torch', torch.__version__, \
'cuda', torch.version.cuda, 'numpy', numpy.__version__)" 2>&1 | tee -a "$SUMMARY"
say "PYTHONPATH=$PYTHONPATH"

step() {  # step NAME CAP_SECONDS COMMAND...: run under min(CAP, time left), log, record rc and seconds
  local name=$1 cap=$2; shift 2
  wanted "$name" || return 0
  local left=$((BUDGET - (SECONDS - STARTED)))
  local limit=$((cap < left ? cap : left))
  limit=$((limit < CAP ? limit : CAP))
  if ((limit < 10)); then
    printf '%-24s skipped: %ss of the %ss budget left\n' "$name" "$left" "$BUDGET" | tee -a "$SUMMARY"
    return
  fi
  local began=$SECONDS
  # SIGINT first, so that pytest and the runs stop with a report rather than mid-write
  timeout --signal=INT --kill-after=15 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$? note=""
  ((rc == 124)) && note="  TIMED OUT at ${limit}s"
  printf '%-24s rc=%-3s %5ss%s  (%s)\n' "$name" "$rc" "$((SECONDS - began))" "$note" "$*" | tee -a "$SUMMARY"
  tail -n 2 "$OUT/$name.log" | sed 's/^/    /' | tee -a "$SUMMARY"
}

# 1. the environment, then the GPU's numbers against the CPU's
step imports 60 "$PY" -c "import core.engine.train, core.runs.sweep, core.real.pipeline, streamlit, plotly, \
dask.distributed, numba; print('imports ok')"
if wanted imports && ! grep -q "imports ok" "$OUT/imports.log"; then  # every step would fail: give the device time back now
  say "the imports failed (imports.log): stopping"; bundle; exit 1
fi
# numba compiles the CPU kernels on a machine's first use (a minute or more for both dtypes) and caches
# them: the gpu tests compare against them, so the compile gets its own step and cap
step kernels 150 "$PY" -c "import time, torch; from core.engine.fast import warm_kernels; t = time.time(); \
warm_kernels(torch.float32); warm_kernels(torch.float64); print(f'kernels ready in {time.time() - t:.0f} s')"
step tests-gpu 150 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py
# 2-3. the GPU goals
step twin-paper-scale 150 "$PY" -m core run --preset paper-scale --device "$DEVICE" --quiet --json "$OUT/paper-scale.json"
step sweep-64 180 "$PY" bench/bench_gpu_sweep.py --runs 64 --one-by-one 16 --device "$DEVICE" --scaling 1,8,32,64 \
  --json "$OUT/sweep-64.json"
# 4. the bench on the GPU
step bench-figure3 90 "$PY" -m core bench --preset figure3 --device "$DEVICE" --all --steps 50 \
  --json "$OUT/bench-figure3.json"
step bench-paper-scale 90 "$PY" -m core bench --preset paper-scale --device "$DEVICE" --all --steps 20 \
  --json "$OUT/bench-paper-scale.json"
# 5. a figure3 twin, and real images with ResNet18 on CUDA
step twin-figure3 60 "$PY" -m core run --preset figure3 --device "$DEVICE" --quiet --json "$OUT/figure3.json"
step real-quick-resnet18 120 "$PY" -m core real --quick --device "$DEVICE" --set model=resnet18 --quiet \
  --json "$OUT/real-quick-resnet18.json"
# 6. the rest of the suite in the time left (the browser tests are CI's: the image has no Chromium)
step tests-suite 600 "$PY" -m pytest -q -p no:cacheprovider -m "not browser and not gpu" \
  --ignore-glob='tests/test_browser_*'

say "--- results ---"
"$PY" - "$OUT" <<'PY' 2>&1 | tee -a "$SUMMARY"
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
def load(name):
    path = out / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None
for name in ("paper-scale", "figure3"):
    data = load(name)
    if data is None:
        print(f"twin {name}: missing"); continue
    runs = data.get("runs", data)
    seconds = {mode: r.get("train_seconds", 0) + r.get("eval_seconds", 0) for mode, r in runs.items()
               if isinstance(r, dict) and "train_seconds" in r}
    print(f"twin {name}: " + ", ".join(f"{mode} {s:.1f} s" for mode, s in seconds.items())
          + f" (together {sum(seconds.values()):.1f} s)")
sweep = load("sweep-64")
print("sweep-64: missing" if sweep is None else
      f"sweep-64: batched {sweep['batched_s']:.1f} s, one by one {sweep['one_by_one_s']:.1f} s"
      f" ({sweep.get('one_by_one_timed_runs', sweep['runs'])} of {sweep['runs']} runs timed): {sweep['speedup']:.1f}x")
for mode, sizes in (sweep or {}).get("scaling", {}).items():  # flat with R: shared overhead; growing: per-run work
    print(f"sweep {mode} batched: " + ", ".join(f"R={size} train {t['train_s']:.2f} s eval {t['eval_s']:.2f} s"
                                              for size, t in sizes.items()))
for name in ("bench-figure3", "bench-paper-scale"):
    data = load(name)
    if data is None:
        print(f"{name}: missing"); continue
    for setting, r in data.items():
        rounds = r.get("limit_fraction_rounds") or [r["limit_fraction"]]
        print(f"{name:18s} {setting:13s} {r['steps_per_s']:8.1f} steps/s  limit_fraction {r['limit_fraction']:.2f}"
              f" (rounds {min(rounds):.2f}-{max(rounds):.2f}, in-step {r.get('limit_in_step_fraction', float('nan')):.2f})"
              f"  dense_limit_fraction {r['dense_limit_fraction']:.2f}"
              f"  speedup_vs_peer {r['speedup_vs_peer']:.1f}x")
PY
say "total $((SECONDS - STARTED)) s; logs and JSON in $OUT/ and $OUT.tgz; record the numbers in docs/performance.md"
bundle
