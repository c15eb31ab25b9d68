#!/usr/bin/env bash
# GPU readiness check, in at most 10 minutes on a CUDA machine:
#   1. a Python whose PyTorch sees the GPU: .venv if it has one, else .venv-cuda (made here with
#      `python3 install_deps.py --cuda --venv .venv-cuda`; needs the package index);
#   2. the tests that apply to a GPU (the CUDA rasteriser, device choice and errors, the render
#      loop's device rules, the reference frames, threads per device);
#   3. bench/gpu_check.py: the same clip on the CPU and on CUDA, compared, and 720p / 1080p frame
#      times of the splatting and decoder paths.
# Without a GPU (or with --cpu-only) only the CPU side of step 3 runs.
#
#   bash bench/gpu_check.sh              # from anywhere; works in the repository root
#   bash bench/gpu_check.sh --cpu-only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cpu_only=0
if [[ "${1:-}" == "--cpu-only" ]]; then cpu_only=1; fi
if [[ $cpu_only == 0 ]] && ! { command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; }; then
    echo "no CUDA GPU here (nvidia-smi finds none): checking the CPU side only"
    cpu_only=1
fi

sees_gpu() { [[ -x "$1" ]] && timeout 120 "$1" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; }

if [[ $cpu_only == 1 ]]; then
    python=.venv/bin/python
    [[ -x $python ]] || { echo "error: no .venv; run python3 install_deps.py first" >&2; exit 2; }
    exec timeout 600 "$python" -m bench.gpu_check --cpu-only
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python=""
for candidate in .venv/bin/python .venv-cuda/bin/python; do
    if sees_gpu "$candidate"; then python=$candidate; break; fi
done
if [[ -z $python ]]; then
    echo "installing the CUDA build of PyTorch into .venv-cuda"
    timeout 360 python3 install_deps.py --cuda --venv .venv-cuda \
        || { echo "error: could not install the CUDA build (is the package index reachable?)" >&2; exit 2; }
    python=.venv-cuda/bin/python
    sees_gpu "$python" || { echo "error: the CUDA build installed but sees no GPU (driver?)" >&2; exit 2; }
fi
"$python" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name(0))"

status=0
timeout 240 "$python" -m pytest -q -x tests/test_mesh_depth.py tests/test_geometry.py tests/test_parallel.py \
    tests/test_frames_unchanged.py tests/test_bad_inputs.py || status=$?
timeout 240 "$python" -m bench.gpu_check || status=$?
exit $status
