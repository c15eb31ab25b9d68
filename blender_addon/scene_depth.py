"""Depth of the scene's meshes as seen from a camera, for artists who model rough proxy geometry.

The evaluated meshes are read as arrays on the main thread (Blender data, ``foreach_get``); the
core rasterises them in the job's thread (``cine_core.depth.mesh_raster``), which holds no
Blender data.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from mathutils import Matrix

from ..cine_core.cameras.intrinsics import Intrinsics
from . import conversion
from .errors import AddonError

_SOLID_TYPES = {"MESH", "CURVE", "SURFACE", "FONT", "META"}


class SceneMeshes(NamedTuple):
    """Every triangle of the scene's solids in one soup, in Blender world units."""

    vertices: np.ndarray  # (V, 3) float64 world positions
    triangles: np.ndarray  # (T, 3) int64 indices into vertices


def gather_meshes(depsgraph, excluded: set[str]) -> SceneMeshes:
    """The triangles of every visible evaluated solid in world space (modifiers applied,
    instances included), except the objects named in ``excluded`` (the surfaces of other
    cinemagraphs)."""
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
    return SceneMeshes(np.concatenate(vertices), np.concatenate(triangles).astype(np.int64))


def mesh_disparity(meshes: SceneMeshes, camera_world: Matrix, intrinsics: Intrinsics,
                   device: str) -> np.ndarray:
    """(H, W) float32 disparity 1 / z of the first surface through every pixel centre (z along
    the camera's axis, in Blender units); 0 where nothing is hit (infinitely far, like the sky).

    Runs in any thread; ``device`` is where PyTorch rasterises.
    """
    import torch

    from ..cine_core.depth.mesh_raster import rasterize_disparity

    # The core camera at the Blender camera (scale 1: core units are Blender units here).
    camera_to_world = conversion.points_world_for_camera(camera_world, 1.0)
    world_to_camera = torch.tensor(np.array(camera_to_world.inverted(), dtype=np.float64))
    disparity = rasterize_disparity(torch.from_numpy(meshes.vertices).to(device),
                                    torch.from_numpy(meshes.triangles).to(device), world_to_camera,
                                    intrinsics).cpu().numpy()
    if not disparity.any():
        raise AddonError("No scene mesh is in view of the camera; aim it at the proxy geometry")
    return disparity
