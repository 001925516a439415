#!/usr/bin/env bash
# The GPU check, ready to run on a machine with CUDA (about 5 minutes; needs torch, pytest,
# hypothesis, sympy, mpmath; no install of this package and no internet):
#   1. the CUDA tests (every test with "cuda" in its id),
#   2. the cold start on the GPU machine's CPU side and the first CUDA calls,
#   3. the ratio table at 1e8 float32: P3 and P_n forward/backward vs clone(), fwd+bwd vs
#      torch.special (paste it into benchmarks/README.md with the GPU's name and the date).
# Usage: bash benchmarks/gpu.sh [OUTPUT_DIR]   (nox -s gpu runs it too)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu-results}}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
python - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device: run this on a GPU machine"
print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name())
PY
echo "== CUDA tests" >&2
python -m pytest tests -k cuda -q -p no:cacheprovider -p no:xdist -o addopts="" \
    2>&1 | tee "$out/cuda-tests.txt" | tail -n 15
echo "== first calls on CUDA (tiered: eager until hot, inductor compiles in the background)" >&2
python - <<'PY' 2>&1 | tee "$out/cuda-first-calls.txt"
import time, torch
from legendre_verify.legendre import dispatch, legendre_p
x = torch.rand(100_000_000, device="cuda") * 2 - 1
for n in (10, 100, 1000):
    times = []
    for i in range(4):
        torch.cuda.synchronize(); t = time.perf_counter(); legendre_p(x, n); torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
        if i == 1:
            dispatch.DISPATCHER.wait()
    print(f"n={n}: calls " + ", ".join(f"{s * 1e3:.1f} ms" for s in times))
print(dispatch.compile_status())
PY
echo "== ratio table, 1e8 float32 (takes a few minutes)" >&2
python -m legendre_verify bench --size 100000000 --degrees 3,10,32,100,1000 --rounds 3 \
    --min-run-time 0.2 2>"$out/bench-progress.txt" | tee "$out/bench-cuda.md"
echo "results in $out/" >&2
