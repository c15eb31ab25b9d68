"""The layered depth image as triangle meshes, for rasterisers and path tracers (Blender's
EEVEE and Cycles) that cannot splat points.

The vertices are exactly the animated cloud's points (one per layer pixel, in the cloud's
order), so a renderer moving the cloud's points moves the mesh. Each layer is a sheet: the
pixel grid of its points, triangulated between neighbouring pixels of that layer. A layer is
already cut at the scene's depth discontinuities (:mod:`cine_core.layering`), and what it
hides behind nearer layers is inpainted, so nothing shows through where a sheet ends; within
a layer, a triangle spanning more than :data:`MAX_DEPTH_RATIO` in depth is left out instead of
stretching a skin across a jump. Colours interpolate linearly between pixel centres, as a
texture sampled with linear interpolation would, so a ray through a pixel centre of the source
camera sees exactly that pixel's colour.
"""
from __future__ import annotations

import torch

from .animation import AnimatedPointCloud
from .scene import PreparedScene

#: A triangle whose far vertex is more than this factor deeper than its near one is a depth
#: jump inside a layer (not a slanted surface): it is not drawn.
MAX_DEPTH_RATIO = 2.0


def point_layers(scene: PreparedScene, cloud: AnimatedPointCloud) -> torch.Tensor:
    """(P,) int64 index of the layer each of the cloud's points comes from.

    A point is its layer's depth at its rest pixel; layers at one pixel have different depths
    (hidden content lies behind), so the depth identifies the layer.
    """
    width, height = scene.size
    column = cloud.rest_uv[:, 0].round().long().clamp(0, width - 1)
    row = cloud.rest_uv[:, 1].round().long().clamp(0, height - 1)
    depth = cloud.depth.cpu()
    layer = torch.full_like(column, -1)
    for index, candidate in enumerate(scene.layered.layers):
        mine = candidate.alpha[row, column] & (candidate.depth[row, column] == depth) & (layer < 0)
        layer[mine] = index
    if bool((layer < 0).any()):
        raise ValueError("the cloud's points do not belong to this scene's layers")
    return layer


def layer_triangles(scene: PreparedScene, cloud: AnimatedPointCloud,
                    max_depth_ratio: float = MAX_DEPTH_RATIO) -> torch.Tensor:
    """(F, 3) int64 vertex indices (the cloud's point indices) of every layer's triangles.

    Each 2x2 block of a layer's pixels gives two triangles when all four are in the layer, one
    when three are (so diagonal edges close); triangles wind counter-clockwise as the source
    camera sees them (x right, y down: their normals face the camera).
    """
    width, height = scene.size
    layers = point_layers(scene, cloud)
    column = cloud.rest_uv[:, 0].round().long().cpu()
    row = cloud.rest_uv[:, 1].round().long().cpu()
    depth = cloud.depth.cpu()
    triangles = []
    for index in range(len(scene.layered.layers)):
        mine = torch.nonzero(layers == index).squeeze(1)
        grid = torch.full((height + 1, width + 1), -1, dtype=torch.long)  # padded: no bounds checks
        grid[row[mine], column[mine]] = mine
        a, b = grid[:-1, :-1], grid[:-1, 1:]  # (y, x), (y, x + 1)
        c, d = grid[1:, :-1], grid[1:, 1:]  # (y + 1, x), (y + 1, x + 1)
        # Seen from the camera with y down, a -> c -> d is counter-clockwise on screen.
        candidates = [(a, c, d, b >= 0), (a, d, b, c >= 0),  # the two halves of a full block
                      (a, c, d, b < 0), (a, d, b, c < 0),  # ... or the one left when b / c is missing
                      (a, c, b, (d < 0)), (b, c, d, (a < 0))]
        for first, second, third, wanted in candidates:
            keep = wanted & (first >= 0) & (second >= 0) & (third >= 0)
            triangles.append(torch.stack([first[keep], second[keep], third[keep]], dim=1))
    faces = torch.cat(triangles) if triangles else torch.zeros(0, 3, dtype=torch.long)
    corner_depths = depth[faces]
    flat_enough = corner_depths.amax(1) <= max_depth_ratio * corner_depths.amin(1)
    return faces[flat_enough]


def edge_extended_pixels(uv: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, 2) pixel positions ``uv`` with those on the photo's border pushed half a pixel out.

    Mesh vertices sit at pixel centres, so a sheet would end half a pixel inside the photo's
    edge; moving its border vertices onto the edge itself covers the whole frame.
    """
    width, height = size
    extended = uv.clone()
    for axis, last in ((0, width - 1), (1, height - 1)):
        extended[:, axis] = torch.where(uv[:, axis] <= 0.0, uv[:, axis] - 0.5, extended[:, axis])
        extended[:, axis] = torch.where(uv[:, axis] >= last, uv[:, axis] + 0.5, extended[:, axis])
    return extended
