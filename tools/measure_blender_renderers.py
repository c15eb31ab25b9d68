#!/usr/bin/env python3
"""Compare Blender's renderers with the Cinemagraph engine on real photos, through Blender's own
default camera put at the cinemagraph's camera (what an artist who keeps the default scene does).

    .venv/bin/python tools/measure_blender_renderers.py PHOTO_OR_SCENE_FOLDER [...] [--size 480]

Each photo is imported into Blender's default scene (cube, camera, light) with the default
options (a scene folder's depth file when it has one), the default camera takes the source
camera's place and lens, and mid-loop is rendered with the engine, with Cycles (CPU, 16
samples) and with EEVEE (16 samples; headless it needs an EGL driver, software Mesa is enough
and slow). Prints the PSNR of Cycles and EEVEE against the engine, and where each image went.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys

import blender_child  # tools/, this script's folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(arguments: dict) -> dict:
    import bpy
    import cv2

    sys.path.insert(0, ROOT)
    from eval.metrics import psnr

    results = {}
    for index, (photo, depth) in enumerate(arguments["photos"]):
        bpy.ops.wm.read_factory_settings(use_empty=False)  # which also disables the extension
        bpy.ops.extensions.package_install_files(filepath=arguments["zip"], repo="user_default",
                                                 enable_on_install=True)
        scene = bpy.context.scene
        options = dict(filepath=photo, loop_frames=30, size_limit=arguments["size"])
        if depth:
            options.update(depth_source="FILE", depth_file=depth)
        bpy.ops.cinemagraph.import_image(**options)
        settings = scene.cinemagraph.active.cinemagraph
        camera = bpy.data.objects["Camera"]
        camera.matrix_world = settings.source_camera.matrix_world.copy()
        for name in ("lens", "sensor_width", "sensor_fit"):
            setattr(camera.data, name, getattr(settings.source_camera.data, name))
        scene.camera = camera
        scene.frame_set(settings.loop_start + settings.loop_frames // 2)
        images = {}
        for engine in ("CINEMAGRAPH", "CYCLES", "BLENDER_EEVEE"):
            scene.render.engine = engine
            if engine == "CYCLES":
                scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising = "CPU", 16, False
            elif engine == "BLENDER_EEVEE":
                scene.eevee.taa_render_samples = 16
            path = os.path.join(arguments["out"], f"{index}-{os.path.basename(os.path.dirname(photo))}-{engine}.png")
            scene.render.filepath = path
            bpy.ops.render.render(write_still=True)
            images[engine] = cv2.imread(path)
        results[photo] = {"size": [scene.render.resolution_x, scene.render.resolution_y],
                          "cycles_vs_engine_db": round(psnr(images["CYCLES"], images["CINEMAGRAPH"]), 1),
                          "eevee_vs_engine_db": round(psnr(images["BLENDER_EEVEE"], images["CINEMAGRAPH"]), 1)}
    return results


def _photo_and_depth(path: str) -> tuple[str, str | None]:
    if not os.path.isdir(path):
        return os.path.abspath(path), None
    photo = next(p for p in sorted(glob.glob(os.path.join(path, "image.*"))) if not p.endswith(".json"))
    depths = sorted(glob.glob(os.path.join(path, "depth*")))
    return os.path.abspath(photo), os.path.abspath(depths[0]) if depths else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="+", help="photos, or scene folders (image.* and an optional depth file)")
    parser.add_argument("--size", type=int, default=480, help="the import's Size Limit (long side, pixels)")
    parser.add_argument("--out", default=".", help="folder for the rendered images")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    return blender_child.measure_in_blender(__file__, {"photos": [_photo_and_depth(p) for p in args.photos],
                                                       "size": args.size, "out": os.path.abspath(args.out)})


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == blender_child.CHILD_OPTION:
        blender_child.answer(measure, sys.argv[2])
    sys.exit(main())
