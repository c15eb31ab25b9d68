"""Depth of triangle meshes seen from a camera: a z-buffer rasteriser in plain PyTorch.

Every pixel gets what a ray through its centre hits first, the answer of a ray cast per pixel
(Blender's depth from scene meshes), without a loop over pixels and on any device.

Each triangle's edge functions are taken in homogeneous form (Olano and Greer, "Triangle scan
conversion using 2D homogeneous coordinates", 1997). With camera-space corners p0, p1, p2 and
the ray d(u, v) = K^-1 [u, v, 1] through pixel (u, v),

    e_k(u, v) = d(u, v) . (p_{k+1} x p_{k+2}) / det[p0, p1, p2]

is affine in (u, v); e_0 + e_1 + e_2 = 1 / z of the ray's hit on the triangle's plane, and e_k z
are the hit's barycentric coordinates. So the ray hits the triangle in front of the camera
exactly where all three e_k >= 0 and their sum > 0, and that sum is the perspective-correct
disparity. No corner is divided by its depth: triangles reaching behind the camera are drawn
without clipping. Only each triangle's pixel bounding box comes from projected corners, those
of the triangle clipped at the near plane.

Pixels are visited box by box. Triangles are grouped by box size (rounded up to 1, 2, 3, 4, 6,
8, 12...), every group evaluates its edge functions on one padded grid by broadcasting, and the
nearest hit per pixel wins through ``scatter_reduce`` (the largest disparity).
"""
from __future__ import annotations

import torch

from ..cameras.intrinsics import Intrinsics

#: Nearest camera-space z that counts as a hit (the vertices' unit), as a ray cast from the
#: camera centre ignores hits at the centre itself.
NEAR = 1e-9
#: Slack of the inside test in barycentric coordinates: pixel centres on an edge shared by two
#: triangles are drawn although rounding puts them a hair outside both.
EDGE_SLACK = 1e-5
#: Triangles set up at once (their float64 set-up takes about 1 kB each); bounds the memory.
TRIANGLES_PER_BATCH = 1 << 18
#: Pixel candidates (triangles x padded box pixels) evaluated at once; bounds the memory.
CANDIDATES_PER_BATCH = 1 << 20


def to_camera(points: torch.Tensor, world_to_camera: torch.Tensor) -> torch.Tensor:
    """(N, 3) world ``points`` in camera space (OpenCV axes), in float64 for the set-up below.

    Args:
        points: (N, 3) world positions.
        world_to_camera: (4, 4) world-to-camera matrix.
    """
    matrix = world_to_camera.to(points.device, torch.float64)
    return points.to(torch.float64) @ matrix[:3, :3].T + matrix[:3, 3]


def edge_functions(corners: torch.Tensor, intrinsics: Intrinsics) -> tuple[torch.Tensor, torch.Tensor]:
    """The affine edge functions e_k(u, v) = a_k u + b_k v + c_k of each triangle (module docstring).

    Args:
        corners: (T, 3, 3) camera-space corners.

    Returns:
        coefficients: (T, 3, 3) per triangle and edge k: (a_k, b_k, c_k).
        valid: (T,) False where the triangle's plane passes through the camera centre (it is
        seen edge-on, as a line no pixel centre hits) or the triangle is degenerate.
    """
    following = corners.roll(-1, dims=1)
    opposite = torch.linalg.cross(following, following.roll(-1, dims=1), dim=-1)  # p_{k+1} x p_{k+2}
    determinant = (corners[:, 0] * opposite[:, 0]).sum(-1)
    valid = (determinant != 0) & torch.isfinite(determinant)
    normalised = opposite / torch.where(valid, determinant, 1.0)[:, None, None]
    k = intrinsics
    a = normalised[..., 0] / k.fx
    b = normalised[..., 1] / k.fy
    c = normalised[..., 2] - a * k.cx - b * k.cy
    return torch.stack([a, b, c], dim=-1), valid


def pixel_boxes(corners: torch.Tensor, intrinsics: Intrinsics, near: float = NEAR) -> torch.Tensor:
    """Inclusive boxes of the pixel centres each triangle may cover, within the image.

    The box bounds the projection of the triangle's part in front of the near plane: its
    corners there and the points where its edges cross the plane.

    Args:
        corners: (T, 3, 3) camera-space corners.

    Returns:
        (T, 4) long (left, top, right, bottom); right < left or bottom < top where the
        triangle covers no pixel centre (behind the camera, outside the view, or between centres).
    """
    start, end = corners, corners.roll(-1, dims=1)
    z0, z1 = start[..., 2], end[..., 2]
    crosses = (z0 - near) * (z1 - near) < 0
    along = ((near - z0) / torch.where(crosses, z1 - z0, 1.0)).unsqueeze(-1)
    crossings = start + along * (end - start)
    points = torch.cat([corners, crossings], dim=1)  # (T, 6, 3)
    kept = torch.cat([z0 >= near, crosses], dim=1)
    depth = torch.where(kept, points[..., 2], 1.0)
    k = intrinsics
    u = k.fx * points[..., 0] / depth + k.cx
    v = k.fy * points[..., 1] / depth + k.cy
    inf = torch.tensor(float("inf"), dtype=u.dtype, device=u.device)
    # A hair of slack: a centre on the box's edge must not be lost to rounding of the projection.
    slack = 1e-4
    left = torch.where(kept, u, inf).amin(1).sub(slack).ceil().clamp(min=0.0)
    top = torch.where(kept, v, inf).amin(1).sub(slack).ceil().clamp(min=0.0)
    right = torch.where(kept, u, -inf).amax(1).add(slack).floor().clamp(max=k.width - 1.0)
    bottom = torch.where(kept, v, -inf).amax(1).add(slack).floor().clamp(max=k.height - 1.0)
    boxes = torch.stack([left, top, right, bottom], dim=1)
    # Empty boxes (inf or crossed bounds) become (0, 0, -1, -1) before the cast to integers.
    empty = (left > right) | (top > bottom)
    return torch.where(empty[:, None], torch.tensor([0.0, 0.0, -1.0, -1.0], dtype=u.dtype, device=u.device),
                       boxes).long()


def rasterize_disparity(vertices: torch.Tensor, triangles: torch.Tensor, world_to_camera: torch.Tensor,
                        intrinsics: Intrinsics, near: float = NEAR) -> torch.Tensor:
    """Disparity 1 / z of the nearest triangle through every pixel centre (z along the
    camera's axis, in the vertices' unit); 0 where no triangle is hit, like the sky.

    Triangles count from both sides. Pixel (row i, column j) is the ray through (u, v) = (j, i)
    (``cine_core.cameras.intrinsics`` conventions).

    Args:
        vertices: (V, 3) world positions.
        triangles: (T, 3) long vertex indices.
        world_to_camera: (4, 4) world-to-camera matrix (OpenCV camera axes).
        intrinsics: the camera's pixel intrinsics; the result has its size.
        near: hits nearer than this camera-space z are ignored.

    Returns:
        (H, W) float32 disparity on the vertices' device.
    """
    width, height = intrinsics.width, intrinsics.height
    disparity = torch.zeros(height * width, dtype=torch.float32, device=vertices.device)
    camera = to_camera(vertices, world_to_camera)
    for first in range(0, len(triangles), TRIANGLES_PER_BATCH):
        corners = camera[triangles[first:first + TRIANGLES_PER_BATCH]]  # (T, 3, 3)
        corners = corners[(corners[..., 2] >= near).any(1)]  # one wholly behind the near plane is never hit
        coefficients, valid = edge_functions(corners, intrinsics)
        boxes = pixel_boxes(corners, intrinsics, near)
        sizes = boxes[:, 2:] - boxes[:, :2] + 1  # (T, 2) columns, rows
        drawn = valid & (sizes > 0).all(1)
        coefficients, boxes, sizes = coefficients[drawn], boxes[drawn], sizes[drawn]
        for group in _box_size_groups(sizes):
            grid = [int(v) for v in sizes[group].amax(0).tolist()]
            _draw_group(disparity, coefficients[group], boxes[group], grid, width, near)
    return disparity.view(height, width)


def _box_size_groups(sizes: torch.Tensor) -> list[torch.Tensor]:
    """Indices of triangles whose box sizes round up to the same grid: sizes 1, 2, 3, 4, 6, 8,
    12, 16... (powers of two and halfway between), so that a grid is at most 1.5 times as wide
    and as high as a box it holds.

    Args:
        sizes: (T, 2) box columns and rows, at least 1.
    """
    if len(sizes) == 0:
        return []
    power = torch.exp2(torch.log2(sizes.to(torch.float64)).floor())
    rounded = torch.where(sizes <= power, power, torch.where(sizes <= 1.5 * power, 1.5 * power, 2 * power)).long()
    keys = rounded[:, 0] * (int(rounded[:, 1].max()) + 1) + rounded[:, 1]
    order = torch.argsort(keys)
    _, counts = torch.unique_consecutive(keys[order], return_counts=True)
    return list(order.split(counts.tolist()))


def _draw_group(disparity: torch.Tensor, coefficients: torch.Tensor, boxes: torch.Tensor, grid: list[int],
                width: int, near: float) -> None:
    """Draw triangles whose boxes fit a grid of ``grid`` = (columns, rows) pixels into the flat
    z-buffer ``disparity`` (H * W,), the nearest (largest disparity) winning.

    Args:
        coefficients: (T, 3, 3) edge functions (:func:`edge_functions`).
        boxes: (T, 4) their pixel boxes (:func:`pixel_boxes`).
    """
    height = disparity.numel() // width
    columns, rows = grid
    device = disparity.device
    # Each grid starts at its box's top-left pixel, moved up or left where that keeps it inside
    # the image: its other pixels lie outside the triangle and fail the inside test.
    left = boxes[:, 0].clamp(max=width - columns)
    top = boxes[:, 1].clamp(max=height - rows)
    origins = top * width + left
    # Edge functions relative to the grid origin: small offsets keep float32 exact enough.
    shift = coefficients[..., 0] * left[:, None] + coefficients[..., 1] * top[:, None]
    coefficients = torch.cat([coefficients[..., :2], (coefficients[..., 2] + shift)[..., None]], dim=-1)
    coefficients = coefficients.to(torch.float32)
    # The disparity e_0 + e_1 + e_2 is affine too.
    coefficients = torch.cat([coefficients, coefficients.sum(1, keepdim=True)], dim=1)  # (T, 4, 3)
    du = torch.arange(columns, dtype=torch.float32, device=device).view(1, 1, columns)
    dv = torch.arange(rows, dtype=torch.float32, device=device).view(1, rows, 1)
    offsets = (torch.arange(rows, device=device)[:, None] * width + torch.arange(columns, device=device)).view(-1)
    per_batch = max(1, CANDIDATES_PER_BATCH // (rows * columns))
    for first in range(0, len(boxes), per_batch):
        a, b, c = (t[..., None, None] for t in coefficients[first:first + per_batch].unbind(-1))  # (n, 4, 1, 1)
        values = [torch.addcmul(b[:, k] * dv + c[:, k], a[:, k], du) for k in range(4)]  # (n, rows, columns)
        hit = values[3]
        threshold = hit * -EDGE_SLACK
        # No test of hit > 0 is needed: three edges above a positive threshold cannot sum to a
        # negative hit, and a hit of 0 leaves the zero-initialised z-buffer as it is.
        inside = hit < 1.0 / near
        for edge in values[:3]:
            inside &= edge >= threshold
        found = inside.view(-1).nonzero().squeeze(1)
        pixels = origins[first:first + per_batch][found // offsets.numel()] + offsets[found % offsets.numel()]
        disparity.scatter_reduce_(0, pixels, hit.view(-1)[found], reduce="amax")
