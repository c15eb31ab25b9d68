#!/usr/bin/env python3
"""Measure timeline playback of the Blender extension: frames per second of the frame-change
handler that moves the surface's points, for a photo of about 500,000 points.

    .venv/bin/python tools/measure_blender_playback.py [--points 500000] [--moving 0.3]

It builds the extension zip, installs it into a throw-away Blender user folder, imports a
synthetic textured photo whose lower ``--moving`` part flows, and times ``scene.frame_set``
(handler + depsgraph update) over one loop, and the handler alone. Headless Blender draws
nothing, so the viewport's own drawing is not included.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import blender_child  # tools/, this script's folder


def measure(arguments: dict) -> dict:
    import cv2
    import numpy as np

    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=arguments["zip"], repo="user_default", enable_on_install=True)
    height = int((arguments["points"] / 1.6) ** 0.5)
    width = int(1.6 * height)
    rng = np.random.default_rng(0)
    photo = os.path.join(arguments["tmp"], "photo.png")
    cv2.imwrite(photo, rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    top = int(height * (1 - arguments["moving"]))
    with open(os.path.join(arguments["tmp"], "photo.json"), "w") as handle:
        json.dump({"shapes": [{"label": "motion", "shape_type": "rectangle", "points": [[0, top], [width, height]]},
                              {"label": "hint", "shape_type": "line",
                               "points": [[width / 2, top + 10], [width / 2 + 60, top + 10]]}],
                   "imageWidth": width, "imageHeight": height}, handle)
    depth = os.path.join(arguments["tmp"], "depth.npy")
    np.save(depth, np.ones((height, width), np.float32))  # flat: one layer, one point per pixel
    started = time.perf_counter()
    bpy.ops.cinemagraph.import_image(filepath=photo, size_limit=0, depth_source="FILE", depth_file=depth,
                                     loop_frames=60)
    import_seconds = time.perf_counter() - started
    scene = bpy.context.scene
    settings = scene.cinemagraph.active.cinemagraph
    playback = sys.modules["bl_ext.user_default.cinemagraph.blender_addon.playback"]
    scene.frame_set(2)  # the first frame prepares the arrays once
    started = time.perf_counter()
    for frame in range(1, 61):
        scene.frame_set(frame)
    frame_set = 60 / (time.perf_counter() - started)
    started = time.perf_counter()
    for frame in range(1, 61):
        scene.frame_current = frame
        playback.refresh(scene)
    handler = 60 / (time.perf_counter() - started)
    moving = len(playback._states[settings.id_data.name].rest)
    return {"points": len(settings.points.data.vertices), "moving_points": int(moving),
            "size": [width, height], "import_seconds": round(import_seconds, 2),
            "frame_set_fps": round(frame_set, 1), "handler_fps": round(handler, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=500_000)
    parser.add_argument("--moving", type=float, default=0.3, help="fraction of the photo that moves")
    parser.add_argument(blender_child.CHILD_OPTION, help=argparse.SUPPRESS)  # the child process's arguments
    args = parser.parse_args()
    if args.measure:
        blender_child.answer(measure, args.measure)
    return blender_child.measure_in_blender(__file__, {"points": args.points, "moving": args.moving})


if __name__ == "__main__":
    sys.exit(main())
