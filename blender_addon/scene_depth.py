"""Depth of the scene's meshes as seen from a camera, for artists who model rough proxy geometry.

The evaluated meshes are read as arrays on the main thread (Blender data, ``foreach_get``) into
the core's ``SceneGeometry``; the core's import rasterises them in the job's thread, which holds
no Blender data.
"""
from __future__ import annotations

import numpy as np
from mathutils import Matrix

from ..cine_core import Intrinsics
from . import conversion, runtime
from .errors import AddonError

_SOLID_TYPES = {"MESH", "CURVE", "SURFACE", "FONT", "META"}


def scene_geometry(depsgraph, excluded: set[str], camera_world: Matrix, intrinsics: Intrinsics):
    """The core's ``SceneGeometry``: the triangles of every visible evaluated solid in world
    space (modifiers applied, instances included; Blender units), except the objects named in
    ``excluded`` (the surfaces of other cinemagraphs), seen by the camera at ``camera_world``
    with ``intrinsics``."""
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
            local = np.empty(count * 3, np.float32)
            mesh.vertices.foreach_get("co", local)
            local = local.reshape(-1, 3).astype(np.float64)
            matrix = np.array(instance.matrix_world, dtype=np.float64)
            vertices.append(local @ matrix[:3, :3].T + matrix[:3, 3])
            corners = np.empty(len(mesh.loop_triangles) * 3, np.int32)
            mesh.loop_triangles.foreach_get("vertices", corners)
            triangles.append(corners.reshape(-1, 3) + offset)
            offset += count
        finally:
            obj.to_mesh_clear()
    if not triangles:
        raise AddonError("Depth from scene meshes needs visible meshes in front of the camera; "
                         "model rough proxy geometry first or choose another depth source")
    # The core camera at the Blender camera (scale 1: core units are Blender units here).
    camera_to_world = conversion.points_world_for_camera(camera_world, 1.0)
    return runtime.core().SceneGeometry(np.concatenate(vertices), np.concatenate(triangles).astype(np.int64),
                                        np.array(camera_to_world.inverted(), dtype=np.float64), intrinsics)
