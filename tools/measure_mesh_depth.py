#!/usr/bin/env python3
"""Measure depth from scene meshes in the Blender extension: reading the evaluated meshes and
rasterising them, against a ray cast per pixel in a Python loop (the add-on's method before the
rasteriser), on a scene of about 100,000 triangles.

    .venv/bin/python tools/measure_mesh_depth.py [--size 1280x720] [--repeats 5] [--ray-cast-rows 90]

The scene: a UV sphere (80 x 40) with a level-2 Subdivision modifier in front of a floor plane,
seen through a 50 mm camera. It builds the extension zip, installs it into a throw-away Blender
user folder, and times ``scene_depth.gather_meshes`` (``foreach_get`` of the evaluated meshes)
and ``scene_depth.mesh_disparity`` (the core's rasteriser, on the CPU; PyTorch already
imported, as in an import job), the median of ``--repeats`` runs. The ray cast (a
``mathutils`` BVH tree of the same triangles, one ``ray_cast`` per pixel centre) runs on
``--ray-cast-rows`` evenly spaced rows and is extrapolated to the whole image; its disparity
on those rows is compared with the rasteriser's.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import blender_child  # tools/, this script's folder


def ray_cast_rows(meshes, camera_world, k, rows) -> tuple[object, float]:
    """Disparity of ``rows`` (R, W) by one BVH ray cast per pixel centre, and the seconds the
    casts took (the tree's build excluded)."""
    import numpy as np
    from mathutils import Vector
    from mathutils.bvhtree import BVHTree

    extension = "bl_ext.user_default.cinemagraph"
    conversion = sys.modules[f"{extension}.blender_addon.conversion"]
    lift = sys.modules[f"{extension}.cine_core.cameras.intrinsics"].lift
    tree = BVHTree.FromPolygons(meshes.vertices.tolist(), meshes.triangles.tolist())
    pose = conversion.points_world_for_camera(camera_world, 1.0)  # the core camera in the world
    rotation = np.array(pose.to_3x3(), dtype=np.float64)
    us, vs = np.meshgrid(np.arange(k.width, dtype=np.float64), rows.astype(np.float64))
    directions = np.stack(lift(us, vs, np.ones_like(us), k), axis=-1) @ rotation.T  # through pixel centres, z = 1
    origin, forward = pose.translation, Vector(rotation[:, 2])
    disparity = np.zeros((len(rows), k.width), np.float32)
    started = time.perf_counter()
    for row, row_directions in enumerate(directions):
        for column, direction in enumerate(row_directions):
            hit = tree.ray_cast(origin, Vector(direction))[0]
            if hit is not None:
                disparity[row, column] = 1.0 / (hit - origin).dot(forward)
    return disparity, time.perf_counter() - started


def measure(arguments: dict) -> dict:
    import numpy as np

    import bpy
    from mathutils import Matrix

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=arguments["zip"], repo="user_default", enable_on_install=True)
    package = "bl_ext.user_default.cinemagraph"
    scene_depth = sys.modules[f"{package}.blender_addon.scene_depth"]
    conversion = sys.modules[f"{package}.blender_addon.conversion"]
    __import__(f"{package}.cine_core.depth.mesh_raster")  # PyTorch is loaded before an import job runs
    scene = bpy.context.scene
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.matrix_world = Matrix.Rotation(np.pi / 2, 4, "X")  # at the origin looking along +Y
    scene.collection.objects.link(camera)
    bpy.ops.mesh.primitive_plane_add(size=40, location=(0, 10, -1))
    bpy.ops.mesh.primitive_uv_sphere_add(segments=80, ring_count=40, radius=2.0, location=(0, 6, 0))
    bpy.context.object.modifiers.new("Subdivision", "SUBSURF").levels = 2
    depsgraph = bpy.context.evaluated_depsgraph_get()
    width, height = arguments["size"]
    k = conversion.intrinsics_from_projection(
        camera.evaluated_get(depsgraph).calc_matrix_camera(depsgraph, x=width, y=height), width, height)
    reads, rasters = [], []
    for _ in range(arguments["repeats"]):
        started = time.perf_counter()
        meshes = scene_depth.gather_meshes(depsgraph, set())
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        disparity = scene_depth.mesh_disparity(meshes, camera.matrix_world, k, "cpu")
        rasters.append(time.perf_counter() - started)
    rows = np.linspace(0, height - 1, min(arguments["ray_cast_rows"], height)).round().astype(int)
    cast, cast_seconds = ray_cast_rows(meshes, camera.matrix_world, k, rows)
    both = (cast > 0) & (disparity[rows] > 0)
    return {"triangles": len(meshes.triangles), "size": [width, height], "covered": round(float((disparity > 0).mean()), 4),
            "read_s": round(statistics.median(reads), 4), "raster_s": round(statistics.median(rasters), 4),
            "ray_cast_s_whole_image": round(cast_seconds * height / len(rows), 2),
            "ray_cast_rows": len(rows), "hit_mismatches": int(((cast > 0) != (disparity[rows] > 0)).sum()),
            "max_relative_difference": float(np.abs(cast[both] / disparity[rows][both] - 1).max())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720", help="image WIDTHxHEIGHT")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ray-cast-rows", type=int, default=90, help="rows the per-pixel ray cast is timed on")
    parser.add_argument(blender_child.CHILD_OPTION, help=argparse.SUPPRESS)  # the child process's arguments
    args = parser.parse_args()
    if args.measure:
        blender_child.answer(measure, args.measure)
    return blender_child.measure_in_blender(__file__, {"size": [int(v) for v in args.size.split("x")], "repeats": args.repeats,
                                                 "ray_cast_rows": args.ray_cast_rows})


if __name__ == "__main__":
    sys.exit(main())
