"""Measure the peak memory of preparing and rendering a photo at several sizes and loop lengths.

Each configuration runs in a fresh Python process (the CLI's own steps: ``prepare_scene`` with
auto motion, the classical backend unless weights are found, then ``render_frames``), and its
peak resident set size is read from ``os.wait4``. The first ``--render`` frames are rendered: the
peak is reached by then (the loop's trajectories are integrated before the first frame, and each
further frame reuses the same buffers). Prints one JSON line per configuration with the number of
points and of moving points, which :mod:`cine_core.pipeline.memory`'s model is fitted to.

    .venv/bin/python tools/measure_memory.py PHOTO --sizes 320,640,960,1280 --frames 30,60,120
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(photo: str, size: int, frames: int, layers: int, render: int, mask: str | None) -> None:
    sys.path.insert(0, ROOT)
    import torch

    from cine_core.cameras.paths import camera_path
    from cine_core.motion.animation import animate_points
    from cine_core.pipeline.run import PrepareOptions, SceneInputs, prepare_scene, render_frames

    inputs = SceneInputs.find(photo)
    inputs.mask = mask or inputs.mask
    direction = "left to right" if mask else None  # a mask without arrows needs a direction
    scene = prepare_scene(inputs, PrepareOptions(max_side=size, max_layers=layers, direction=direction,
                                                 require_motion=False))
    path = camera_path("circle", scene.intrinsics, frames, focus_depth=scene.focus_depth(),
                       outline=scene.content_outline())
    started = time.perf_counter()
    for index, _ in enumerate(render_frames(scene, path), start=1):
        if index == render:
            break
    cloud = animate_points(scene, 2)  # only to count the points and the moving ones
    print(json.dumps({"width": scene.size[0], "height": scene.size[1], "frames": frames,
                      "layers": len(scene.layered.layers), "points": int(cloud.rest_uv.shape[0]),
                      "moving": cloud.trajectories.num_points, "render_s": round(time.perf_counter() - started, 1),
                      "threads": torch.get_num_threads()}))


def measure(photo: str, size: int, frames: int, layers: int, render: int, mask: str | None) -> dict:
    command = [sys.executable, __file__, photo, "--child", "--sizes", str(size), "--frames", str(frames),
               "--layers", str(layers), "--render", str(render)] + (["--mask", mask] if mask else [])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{command} failed")
    row = json.loads(output.strip().splitlines()[-1])
    row["peak_rss_mb"] = round(usage.ru_maxrss / 1024)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", help="a photo or a scene folder")
    parser.add_argument("--sizes", default="320,640,960,1280", help="long sides (--size)")
    parser.add_argument("--frames", default="60", help="loop lengths")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--render", type=int, default=3, help="frames rendered")
    parser.add_argument("--mask", help="a mask image of the moving region, moving left to right (default: auto "
                                       "motion)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(v) for v in args.sizes.split(",")]
    loops = [int(v) for v in args.frames.split(",")]
    if args.child:
        child(args.photo, sizes[0], loops[0], args.layers, args.render, args.mask)
        return
    for size in sizes:
        for frames in loops:
            print(json.dumps(measure(args.photo, size, frames, args.layers, args.render, args.mask)), flush=True)


if __name__ == "__main__":
    main()
