#!/usr/bin/env bash
# The GPU checks of issue 24 as one command on a lent NVIDIA GPU (H100 or H200), in two steps:
#
#   PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh prepare
#       here, without a GPU: every device=cuda plan that the checks build is compiled, and its
#       PTX written to .gpu-bundle/ (the device machine has no MLIR bindings to compile it);
#       the device tests run on the NumPy reference meanwhile.
#   bash benchmarks/gpu_check.sh run DIR
#       on the device (send .gpu-bundle/ along): pytest -m gpu, then benchmarks/gpu.py; writes
#       DIR/pytest-gpu.txt and DIR/RESULTS-gpu.md. At most 180 s of tests and 200 s of benchmarks
#       (the W5/W6 rows against three peers take most of it); run with timeout_s of about 480.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE="$PWD/.gpu-bundle"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
case "${1:-}" in
prepare)
    PY="${PYTHON:-python3}"
    rm -rf "$BUNDLE"
    mkdir -p "$BUNDLE"
    export TENSORIR_CUDA_PREPARE="$BUNDLE"
    "$PY" -m pytest -m gpu -q -p no:warnings tests/runtime/cuda
    "$PY" -W ignore benchmarks/gpu.py --prepare
    echo "prepared $(ls "$BUNDLE" | wc -l) PTX modules in $BUNDLE"
    ;;
run)
    OUT="${2:?usage: gpu_check.sh run DIR}"
    PY="${PYTHON:-python3}"
    [ -d "$BUNDLE" ] || { echo "no $BUNDLE: run 'gpu_check.sh prepare' first and send it along" >&2; exit 2; }
    mkdir -p "$OUT"
    export TENSORIR_PTX_BUNDLE="$BUNDLE" XLA_PYTHON_CLIENT_PREALLOCATE=false MPLBACKEND=Agg
    export TENSORIR_COMPILEDIR="${TMPDIR:-/tmp}/tensorir-gpu-check"
    { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true; } > "$OUT/device.txt" 2>&1
    # Each part has its own limit, so a hang in one still leaves the others' results in DIR.
    # Four test processes where pytest-xdist is installed (each compiles its own functions).
    PARALLEL=()
    if "$PY" -c "import xdist" 2>/dev/null; then PARALLEL=(-n 4); fi
    timeout 180 "$PY" -m pytest -m gpu -rs -q -p no:cacheprovider "${PARALLEL[@]}" tests/runtime/cuda 2>&1 \
        | tee "$OUT/pytest-gpu.txt" | tail -n 40 || true
    timeout 200 "$PY" -W ignore benchmarks/gpu.py --out "$OUT" --no-tests --time-limit 15 2>&1 \
        | tee "$OUT/benchmarks.txt" || true
    if ! grep -q " passed" "$OUT/pytest-gpu.txt" || grep -Eq " (failed|error)" "$OUT/pytest-gpu.txt"; then
        exit 1
    fi
    ;;
*)
    echo "usage: gpu_check.sh prepare | run DIR" >&2
    exit 2
    ;;
esac
