#!/usr/bin/env bash
# Wheels of the packages a GPU machine's image lacks, for bench/gpu_check.sh (run on a machine that
# reaches the package index, not on the GPU machine).
#
#   bash bench/gpu_wheels.sh [PYTHON_VERSION] [DIR]     (defaults: 3.12, .whl/ -- git-ignored)
#
# The GPU image this was written for reaches no package index. It holds PyTorch (with CUDA), numpy,
# numba, pandas, scipy, scikit-learn, pytest, hypothesis and most of what those need, but not the app's
# and the sweeps' own libraries. This fetches those, at the versions CI last passed on (constraints.txt),
# as wheels for the machine's Python (3.12, x86-64), without their dependencies: the list below is the
# rest of requirements.txt's closure, the part the image does not have. Copy DIR along with the checkout;
# gpu_check.sh installs it (--no-index).
# Playwright is left out (40 MB, and the browser tests do not run there).
set -euo pipefail
cd "$(dirname "$0")/.."
PY_VERSION=${1:-3.12}
DIR=${2:-.whl}
MISSING=(altair dask distributed importlib_metadata itsdangerous jsonschema jsonschema-specifications lazy-importer
         locket partd plotly pydeck python-multipart referencing rpds-py starlette streamlit tblib tornado uvicorn
         watchdog websockets zict)
pins=()
for name in "${MISSING[@]}"; do
  # constraints.txt spells some names with '_' or capitals: compare them normalised, as pip does
  pin=$(grep -iE "^${name//[-_]/[-_]}==" constraints.txt || true)
  [[ -n $pin ]] || { echo "no pin for $name in constraints.txt" >&2; exit 1; }
  pins+=("$pin")
done
mkdir -p "$DIR"
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
           manylinux1_x86_64; do
  platforms+=(--platform "$tag")
done
python -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" --implementation cp \
  "${platforms[@]}" -d "$DIR" "${pins[@]}" 2> >(grep -v "is ignored: it is neither" >&2)
ls "$DIR"/*.whl | wc -l | xargs echo "wheels in $DIR:"
du -sh "$DIR"
