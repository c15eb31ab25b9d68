"""Side by side with DepthFlow 1.0.1: the same photo and depth, one 60-frame 1280x720 clip each,
both timed as whole processes back to back (wall time and peak RSS), repeated; prints the ratio.

DepthFlow renders parallax only (no fluid, no inpainting) with OpenGL; without a GPU it runs on
Mesa's software rasteriser (llvmpipe) under a virtual X server. It is not a dependency of this
project: set it up once, in a virtual environment of its own (~1.5 GB)::

    python3 -m venv ../depthflow-venv
    ../depthflow-venv/bin/pip install torch==2.13.0 depthflow==1.0.1   # torch named: pip keeps the CPU build
    apt-get install -y xvfb libegl1 libgl1-mesa-dri                     # Xvfb + software OpenGL

Run from the repository root (not part of the test run)::

    .venv/bin/python -m bench.depthflow_compare                      # cascade, 3 pairs
    .venv/bin/python -m bench.depthflow_compare --repeats 5 --depthflow-venv /opt/depthflow-venv

The two commands, as a user types them (``image.png`` is the scene's photo, ``depth.png`` its
disparity file normalised to 16 bits)::

    xvfb-run -a -s "-screen 0 1280x720x24" depthflow input -i image.png -d depth.png \\
        main -w 1280 -h 720 --fps 30 -t 2 -o df.mp4
    python -m cine_core render <scene> --direction downwards --camera circle --size 1280 --frames 60 \\
        --fps 30 --backend classical --out ours.mp4 --quiet

DepthFlow encodes with the ``ffmpeg`` on its PATH; where there is none, it is lent the ffmpeg
binary our video writer uses (imageio-ffmpeg's), so both encode with the same program.

Each pair runs ours first, then DepthFlow (``--baseline-repo``: another checkout's run first,
e.g. the code before a change, with its own ratio); the ratio is ours / DepthFlow per pair, and the
machine's load average is recorded before every run (on a shared machine the runs of one pair
see similar load, runs of different pairs may not). Peak RSS is the largest resident size of any
process in the command's tree (``wait4``; for ours the Python process, ffmpeg runs beside it).
Without DepthFlow or ``xvfb-run`` it says what is missing and how to set it up, and exits with
status 2 having run nothing. Results go to ``bench/results/depthflow-<date>.json`` (``--json``).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):  # run as a script: python bench/depthflow_compare.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.run import REPO, SHARED_SCENES, code_version, machine_info, write_results  # noqa: E402

#: Where the DepthFlow environment is looked for unless --depthflow-venv or $DEPTHFLOW_VENV says.
DEFAULT_VENV = os.path.join(os.path.dirname(REPO), "depthflow-venv")
SETUP = ("python3 -m venv {venv} && {venv}/bin/pip install torch==2.13.0 depthflow==1.0.1; "
         "apt-get install -y xvfb libegl1 libgl1-mesa-dri")
SIZE = (1280, 720)
FRAMES, FPS = 60, 30


def find_scene(name: str) -> str:
    """A scene folder: ``name`` itself or a scene of that name under ../shared/data/scenes."""
    for candidate in (name, os.path.join(SHARED_SCENES, name)):
        if os.path.isdir(candidate):
            return os.path.abspath(candidate)
    raise SystemExit(f"error: no scene folder {name!r} (nor under {SHARED_SCENES})")


def write_inputs(scene_dir: str, folder: str) -> tuple[str, str]:
    """DepthFlow's inputs in ``folder``: the scene's photo as image.png and its disparity file
    normalised to [0, 65535] as a 16-bit depth.png (nearer = brighter, as DepthFlow expects), at
    the photo's size. Returns their paths."""
    import cv2
    import numpy as np

    from cine_core import SceneInputs, read_depth_file

    inputs = SceneInputs.find(scene_dir)
    if inputs.depth is None:
        raise SystemExit(f"error: {scene_dir} has no depth file; DepthFlow needs the same depth as ours")
    photo = cv2.imread(inputs.photo, cv2.IMREAD_COLOR)
    if photo is None or (photo.shape[1], photo.shape[0]) != SIZE:
        raise SystemExit(f"error: {inputs.photo} is not a {SIZE[0]}x{SIZE[1]} photo")
    disparity = read_depth_file(inputs.depth)
    disparity = cv2.resize(disparity, SIZE, interpolation=cv2.INTER_LINEAR) if disparity.shape != photo.shape[:2] \
        else disparity
    low, high = float(disparity.min()), float(disparity.max())
    normalised = (disparity - low) / max(high - low, 1e-12)
    image, depth = os.path.join(folder, "image.png"), os.path.join(folder, "depth.png")
    cv2.imwrite(image, photo)
    cv2.imwrite(depth, np.round(normalised * 65535.0).astype(np.uint16))
    return image, depth


def depthflow_command(venv: str, image: str, depth: str, out: str) -> list[str]:
    return ["xvfb-run", "-a", "-s", f"-screen 0 {SIZE[0]}x{SIZE[1]}x24", os.path.join(venv, "bin", "depthflow"),
            "input", "-i", image, "-d", depth, "main", "-w", str(SIZE[0]), "-h", str(SIZE[1]),
            "--fps", str(FPS), "-t", str(FRAMES // FPS), "-o", out]


def ours_command(scene_dir: str, direction: str, out: str) -> list[str]:
    # --size: the CLI caps the long side at 1024 by default; DepthFlow renders 1280x720.
    return [sys.executable, "-m", "cine_core", "render", scene_dir, "--direction", direction, "--camera", "circle",
            "--size", str(max(SIZE)), "--frames", str(FRAMES), "--fps", str(FPS), "--backend", "classical",
            "--out", out, "--quiet"]


def timed(command: list[str], env: dict, cwd: str, out: str) -> dict:
    """Run ``command`` to its end; wall seconds, peak RSS (MiB) of its process tree, and load."""
    load = os.getloadavg()
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if process.returncode != 0 or not os.path.isfile(out):
        raise SystemExit(f"error: {' '.join(command)} failed ({process.returncode}):\n"
                         f"{stderr.decode(errors='replace')[-2000:]}")
    return {"seconds": wall, "peak_rss_mb": usage.ru_maxrss / 1024.0, "cpu_s": usage.ru_utime + usage.ru_stime,
            "loadavg_before": list(load), "video_bytes": os.path.getsize(out)}


def lend_ffmpeg(env: dict, folder: str) -> None:
    """Put our video writer's ffmpeg first on ``env``'s PATH (as ``folder``/ffmpeg) when that
    PATH has no ffmpeg of its own."""
    if shutil.which("ffmpeg", path=env["PATH"]) is not None:
        return
    import imageio_ffmpeg

    os.makedirs(folder)
    os.symlink(imageio_ffmpeg.get_ffmpeg_exe(), os.path.join(folder, "ffmpeg"))
    env["PATH"] = folder + os.pathsep + env["PATH"]


def missing(venv: str) -> list[str]:
    """What the DepthFlow run lacks on this machine."""
    lacks = []
    if not os.access(os.path.join(venv, "bin", "depthflow"), os.X_OK):
        lacks.append(f"DepthFlow (no {venv}/bin/depthflow)")
    if shutil.which("xvfb-run") is None:
        lacks.append("xvfb-run (apt package xvfb)")
    return lacks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scene", default="cascade", help="scene folder, or a name under ../shared/data/scenes")
    parser.add_argument("--direction", default="downwards", help="worded direction for a scene without arrows")
    parser.add_argument("--repeats", type=int, default=3, help="pairs of runs (ours, then DepthFlow)")
    parser.add_argument("--depthflow-venv", default=os.environ.get("DEPTHFLOW_VENV", DEFAULT_VENV),
                        help=f"DepthFlow's virtual environment (default $DEPTHFLOW_VENV or {DEFAULT_VENV})")
    parser.add_argument("--baseline-repo", default=None,
                        help="another checkout of this project (with its .venv) timed first in every round, "
                             "e.g. the code before a change")
    parser.add_argument("--json", default=None, help="where to write the results")
    args = parser.parse_args(argv)
    lacks = missing(args.depthflow_venv)
    if lacks:
        sys.stderr.write(f"error: not set up for the comparison: missing {'; '.join(lacks)}.\n"
                         f"Set it up once (outside this project's environment):\n  "
                         f"{SETUP.format(venv=args.depthflow_venv)}\n")
        return 2
    scene_dir = find_scene(args.scene)
    env = dict(os.environ)
    env["PATH"] = os.path.join(args.depthflow_venv, "bin") + os.pathsep + env.get("PATH", "")
    runs = []
    with tempfile.TemporaryDirectory(prefix="cine-vs-depthflow-") as folder:
        lend_ffmpeg(env, os.path.join(folder, "bin"))
        image, depth = write_inputs(scene_dir, folder)
        ours_out, theirs_out = os.path.join(folder, "ours.mp4"), os.path.join(folder, "df.mp4")
        for repeat in range(args.repeats):
            run = {}
            if args.baseline_repo:
                command = ours_command(scene_dir, args.direction, ours_out)
                command[0] = os.path.join(os.path.abspath(args.baseline_repo), ".venv", "bin", "python")
                run["baseline"] = timed(command, dict(os.environ), args.baseline_repo, ours_out)
            ours = timed(ours_command(scene_dir, args.direction, ours_out), dict(os.environ), REPO, ours_out)
            theirs = timed(depthflow_command(args.depthflow_venv, image, depth, theirs_out), env, folder, theirs_out)
            run.update({"ours": ours, "depthflow": theirs, "ratio": ours["seconds"] / theirs["seconds"]})
            runs.append(run)
            if "baseline" in run:
                base = run["baseline"]
                run["baseline_ratio"] = base["seconds"] / theirs["seconds"]
                print(f"round {repeat + 1}: baseline {base['seconds']:.1f} s, {base['peak_rss_mb']:.0f} MB (load "
                      f"{base['loadavg_before'][0]:.2f}), ratio {run['baseline_ratio']:.2f}")
            print(f"pair {repeat + 1}: ours {ours['seconds']:.1f} s, {ours['peak_rss_mb']:.0f} MB (load "
                  f"{ours['loadavg_before'][0]:.2f}) | DepthFlow {theirs['seconds']:.1f} s, "
                  f"{theirs['peak_rss_mb']:.0f} MB (load {theirs['loadavg_before'][0]:.2f}) | "
                  f"ratio {runs[-1]['ratio']:.2f}", flush=True)
    ratios = [run["ratio"] for run in runs]
    print(f"ours / DepthFlow: median {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f}) "
          f"over {len(runs)} pairs; ours' peak RSS {max(r['ours']['peak_rss_mb'] for r in runs):.0f} MB")
    report = {"scene": scene_dir, "size": SIZE, "frames": FRAMES, "fps": FPS,
              "commands": {"ours": ours_command(scene_dir, args.direction, "ours.mp4"),
                           "depthflow": depthflow_command(args.depthflow_venv, "image.png", "depth.png", "df.mp4")},
              "runs": runs, "median_ratio": statistics.median(ratios), "machine": machine_info(),
              "code": code_version()}
    path = write_results(report, args.json, "depthflow")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
