"""Depth of the scene's meshes as seen from a camera, for artists who model rough proxy geometry.

The triangles are gathered on the main thread (Blender data); the rays are cast in the job's
thread against a BVH tree, which holds no Blender data.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from mathutils import Matrix, Vector
from mathutils.bvhtree import BVHTree

from . import conversion
from .conversion import PixelIntrinsics
from .errors import AddonError

_SOLID_TYPES = {"MESH", "CURVE", "SURFACE", "FONT", "META"}


def gather_triangles(depsgraph, excluded: set[str]) -> BVHTree:
    """A BVH tree of every visible evaluated solid in world space (instances included), except
    the objects named in ``excluded`` (the surfaces of other cinemagraphs)."""
    vertices: list[np.ndarray] = []
    triangles: list[np.ndarray] = []
    offset = 0
    for instance in depsgraph.object_instances:
        obj = instance.object
        if obj.type not in _SOLID_TYPES or obj.original.name in excluded:
            continue
        mesh = obj.to_mesh()
        try:
            mesh.calc_loop_triangles()
            count = len(mesh.vertices)
            if count == 0 or len(mesh.loop_triangles) == 0:
                continue
            local = np.empty(count * 3, np.float64)
            mesh.vertices.foreach_get("co", local)
            local = local.reshape(-1, 3)
            matrix = np.array(instance.matrix_world, dtype=np.float64)
            vertices.append(local @ matrix[:3, :3].T + matrix[:3, 3])
            corners = np.empty(len(mesh.loop_triangles) * 3, np.int64)
            mesh.loop_triangles.foreach_get("vertices", corners)
            triangles.append(corners.reshape(-1, 3) + offset)
            offset += count
        finally:
            obj.to_mesh_clear()
    if not triangles:
        raise AddonError("Depth from scene meshes needs visible meshes in front of the camera; "
                         "model rough proxy geometry first or choose another depth source")
    return BVHTree.FromPolygons(np.concatenate(vertices).tolist(), np.concatenate(triangles).tolist())


def cast_disparity(tree: BVHTree, camera_world: Matrix, intrinsics: PixelIntrinsics,
                   progress: Callable[[float], None]) -> np.ndarray:
    """(H, W) disparity 1 / z of the first surface through every pixel centre (z along the
    camera's axis); 0 where a ray hits nothing (infinitely far, like the sky)."""
    pose = conversion.unit_scale(camera_world)
    origin = pose.translation
    # Core camera directions -> Blender camera axes -> world.
    rotation = np.array((pose @ conversion.CAMERA_AXES).to_3x3(), dtype=np.float64)
    directions = conversion.ray_directions(intrinsics) @ rotation.T
    forward = Vector(rotation[:, 2])
    disparity = np.zeros((intrinsics.height, intrinsics.width), np.float32)
    for row in range(intrinsics.height):
        for column, direction in enumerate(directions[row]):
            hit = tree.ray_cast(origin, Vector(direction))[0]
            if hit is not None:
                depth = (hit - origin).dot(forward)
                if depth > 1e-9:
                    disparity[row, column] = 1.0 / depth
        progress((row + 1) / intrinsics.height)
    if not disparity.any():
        raise AddonError("No scene mesh is in view of the camera; aim it at the proxy geometry")
    return disparity
