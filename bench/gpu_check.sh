#!/usr/bin/env bash
# The GPU path in one command, for the next machine with CUDA (issue 12, item 4). Minutes, not hours.
#
#   bash bench/gpu_check.sh [OUT_DIR]     (default: gpu-check-<date>/; every step's output is kept there)
#
# 1. the test suite on CUDA, the `gpu` tests included (they skip without CUDA; here they must pass);
# 2. the bench: std, one-step and PGD-3 steps at figure3 and at paper-scale (limit_fraction, speedup);
# 3. a paper-scale twin run (goal: under 60 s);
# 4. a 64-run batched sweep against the same 64 runs one by one (goal: at least 20x);
# 5. the real-image quick run with ResNet18 on CUDA.
# Each step is timed; a failing step is reported and the script goes on. Summary at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
export PYTHONPATH=.
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"

python - <<'PY' || { echo "torch sees no CUDA device: nothing to check" | tee -a "$SUMMARY"; exit 1; }
import torch, sys
sys.exit(0 if torch.cuda.is_available() else 1)
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$SUMMARY"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$SUMMARY"

step() {  # step NAME COMMAND...: run, time, log, record pass/fail
  local name=$1; shift
  local started=$(date +%s.%N)
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local seconds=$(python -c "import time; print(f'{time.time() - $started:.1f}')")
  printf '%-28s rc=%s  %6s s  (%s)\n' "$name" "$rc" "$seconds" "$*" | tee -a "$SUMMARY"
}

# 1. the suite with the gpu tests (the browser tests are left to CI: a GPU box rarely has chromium)
step tests-gpu-marker python -m pytest -q -m gpu tests/test_gpu.py
step tests-suite python -m pytest -q -m "not browser"

# 2. the bench on the GPU
step bench-figure3 python -m core bench --preset figure3 --device cuda --all --steps 50 --json "$OUT/bench-figure3.json"
step bench-paper-scale python -m core bench --preset paper-scale --device cuda --all --steps 20 \
  --json "$OUT/bench-paper-scale.json"

# 3. paper-scale twin run (goal < 60 s)
step twin-paper-scale python -m core run --preset paper-scale --device cuda --quiet --json "$OUT/paper-scale.json"
step twin-figure3 python -m core run --preset figure3 --device cuda --quiet --json "$OUT/figure3.json"

# 4. 64 runs batched against one by one (goal >= 20x)
step sweep-64 python bench/bench_gpu_sweep.py --runs 64 --device cuda --json "$OUT/sweep-64.json"

# 5. the real-image quick run with ResNet18 on CUDA
step real-quick-resnet18 python -m core real --quick --device cuda --set model=resnet18 --quiet \
  --json "$OUT/real-quick-resnet18.json"

echo "--- bench (steps/s, limit_fraction, dense_limit_fraction, speedup_vs_peer) ---" | tee -a "$SUMMARY"
python - "$OUT" <<'PY' | tee -a "$SUMMARY"
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for name in ("bench-figure3", "bench-paper-scale", "sweep-64"):
    path = out / f"{name}.json"
    if not path.exists():
        print(name, "missing"); continue
    data = json.loads(path.read_text())
    if name.startswith("bench"):
        for setting, r in data.items():
            print(f"{name:18s} {setting:13s} {r['steps_per_s']:8.1f} steps/s  limit_fraction {r['limit_fraction']:.2f}"
                  f"  dense_limit_fraction {r['dense_limit_fraction']:.2f}  speedup_vs_peer {r['speedup_vs_peer']:.1f}x")
    else:
        print(f"{name:18s} batched {data['batched_s']:.1f} s, one by one {data['one_by_one_s']:.1f} s:"
              f" {data['speedup']:.1f}x")
PY
echo "logs and JSON in $OUT/ ; record the numbers in docs/engine.md (Speed)" | tee -a "$SUMMARY"
