#!/usr/bin/env python3
"""Set up everything the project needs, in one pip resolve.

    python install_deps.py              # .venv/ in the project root: runtime + tests (CPU torch)
    python install_deps.py --cuda       # the same with PyPI's CUDA build of torch (Linux)
    python install_deps.py --target DIR # runtime only, into DIR, with the running Python
                                        # (the Blender add-on calls this with Blender's Python)

Only the standard library is used here, so any Python 3.11+ can run it. It downloads from the
package index only; model weights are a separate, explicit step (see README.md).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import venv

ROOT = os.path.dirname(os.path.abspath(__file__))
TORCH = "torch==2.13.0"
#: Runtime packages of cine_core; numpy stays below 2 because bpy 5.0 is built against 1.x.
RUNTIME = [TORCH, "numpy<2", "opencv-python-headless>=4.8", "scipy>=1.10", "kornia>=0.7",
           "imageio>=2.31", "imageio-ffmpeg>=0.4.9"]
TESTING = ["bpy==5.0.1", "pytest>=7"]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _reachable(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False


def pip_command(python: str, packages: list[str], *, cuda: bool, target: str | None) -> list[str]:
    command = [python, "-m", "pip", "install", "--disable-pip-version-check", *packages]
    # PyPI's Linux torch is the multi-GB CUDA build; the CPU build lives on PyTorch's own index.
    # Where that index cannot be reached, pip's configured sources (a local wheel cache) decide.
    if not cuda and _reachable("download.pytorch.org"):
        command += ["--extra-index-url", CPU_INDEX]
    if target:
        command += ["--target", target, "--upgrade", "--no-user"]
    return command


def venv_python(path: str) -> str:
    return os.path.join(path, "Scripts" if os.name == "nt" else "bin",
                        "python.exe" if os.name == "nt" else "python")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cuda", action="store_true", help="install the CUDA build of torch")
    parser.add_argument("--target", help="install runtime packages into this folder with this Python")
    parser.add_argument("--venv", default=os.path.join(ROOT, ".venv"), help="virtual environment path")
    args = parser.parse_args(argv)
    if args.target:
        os.makedirs(args.target, exist_ok=True)
        packages = list(RUNTIME)
        try:  # keep the host's numpy (Blender ships one): install the same version, not a newer one
            import numpy
            packages = [p for p in packages if not p.startswith("numpy")] + [f"numpy=={numpy.__version__}"]
        except ImportError:
            pass
        command = pip_command(sys.executable, packages, cuda=args.cuda, target=args.target)
    else:
        if not os.path.exists(venv_python(args.venv)):
            print(f"creating {args.venv}", flush=True)
            venv.EnvBuilder(with_pip=True).create(args.venv)
        command = pip_command(venv_python(args.venv), RUNTIME + TESTING, cuda=args.cuda, target=None)
    print(" ".join(command), flush=True)
    result = subprocess.run(command)
    if result.returncode != 0:
        print("error: package installation failed (see pip's message above)", file=sys.stderr)
        return result.returncode
    print("dependencies installed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
