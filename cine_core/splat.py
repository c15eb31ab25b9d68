"""Pure-PyTorch point splatting: depth-aware soft compositing, footprints that grow as points come
closer, and pull-push hole filling. Runs on any device PyTorch runs on; no compiled extension.

Each point is splatted with a bilinear (tent) kernel onto the four pixels around its projection,
so a point that lands exactly on a pixel centre gives that pixel exactly its value: a static
camera reproduces the photo bit for bit. Magnified points (closer to the camera than when
photographed, or a longer lens) are split into sub-points covering their footprint, so surfaces
stay closed. Visibility is a soft z-buffer: per pixel the nearest depth wins, and points up to
:data:`SURFACE_TOLERANCE` behind it blend in with exponentially falling weight (neighbouring
samples of one surface), while anything farther is hidden.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: Points within this relative depth of the nearest one at a pixel count as the same surface.
SURFACE_TOLERANCE = 0.03
SURFACE_SOFTNESS = 100.0  # weight exp(-100 * relative depth gap): 0.05 at the tolerance
_MIN_OWNER_WEIGHT = 0.2  # a tap this weak does not claim the pixel's depth (keeps silhouettes thin)
_MAX_SUBDIVISION = 4


@dataclass
class Splatted:
    """Per-group images. values: (G, C, H, W) normalised; coverage: (G, 1, H, W) in [0, 1]."""

    values: torch.Tensor
    coverage: torch.Tensor


def project_points(points: torch.Tensor, intrinsics: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pinhole projection.

    Args:
        points: (N, 3) camera-space points (x right, y down, z forward).
        intrinsics: (3, 3) K.

    Returns:
        uv: (N, 2) pixel coordinates; z: (N,) depth along the optical axis.
    """
    z = points[:, 2]
    safe = torch.where(z.abs() > 1e-8, z, torch.full_like(z, 1e-8))
    u = intrinsics[0, 0] * points[:, 0] / safe + intrinsics[0, 2]
    v = intrinsics[1, 1] * points[:, 1] / safe + intrinsics[1, 2]
    return torch.stack([u, v], dim=1), z


def _subdivide(uv: torch.Tensor, z: torch.Tensor, values: torch.Tensor, groups: torch.Tensor,
               footprint: torch.Tensor):
    """Replace points whose footprint is >= 2 pixels by k x k sub-points spread over it."""
    parts = [(uv, z, values, groups, footprint < 2.0)]
    for k in range(2, _MAX_SUBDIVISION + 1):
        upper = float("inf") if k == _MAX_SUBDIVISION else k + 1.0
        chosen = (footprint >= k) & (footprint < upper)
        if not bool(chosen.any()):
            continue
        steps = (torch.arange(k, device=uv.device, dtype=uv.dtype) + 0.5) / k - 0.5
        offsets = torch.stack(torch.meshgrid(steps, steps, indexing="xy"), dim=-1).reshape(-1, 2)
        sub_uv = uv[chosen][:, None] + offsets[None] * footprint[chosen][:, None, None]
        count = offsets.shape[0]
        parts.append((sub_uv.reshape(-1, 2), z[chosen].repeat_interleave(count),
                      values[chosen].repeat_interleave(count, 0),
                      groups[chosen].repeat_interleave(count), None))
    if len(parts) == 1:
        return uv, z, values, groups
    keep = parts[0][4]
    return (torch.cat([parts[0][0][keep]] + [p[0] for p in parts[1:]]),
            torch.cat([parts[0][1][keep]] + [p[1] for p in parts[1:]]),
            torch.cat([parts[0][2][keep]] + [p[2] for p in parts[1:]]),
            torch.cat([parts[0][3][keep]] + [p[3] for p in parts[1:]]))


def splat_points(uv: torch.Tensor, z: torch.Tensor, values: torch.Tensor, size: tuple[int, int], *,
                 groups: torch.Tensor | None = None, num_groups: int = 1,
                 footprint: torch.Tensor | None = None) -> Splatted:
    """Splat points into ``num_groups`` images at once (each group has its own visibility).

    Args:
        uv: (N, 2) pixel positions (pixel centres at integers).
        z: (N,) camera depth; points with z <= 0 are behind the camera and dropped.
        values: (N, C) what each point carries (colour, features, disparity...).
        size: (height, width) of the output.
        groups: (N,) long group index per point (default all 0).
        num_groups: G.
        footprint: (N,) footprint width in pixels (1 = a pixel of the photo); >= 2 subdivides.

    Returns:
        :class:`Splatted` with (G, C, H, W) values (weighted means) and (G, 1, H, W) coverage.
    """
    height, width = size
    device, dtype = values.device, values.dtype
    if groups is None:
        groups = torch.zeros(uv.shape[0], dtype=torch.long, device=device)
    keep = (z > 1e-6) & torch.isfinite(uv).all(1)
    keep &= (uv[:, 0] > -2) & (uv[:, 0] < width + 1) & (uv[:, 1] > -2) & (uv[:, 1] < height + 1)
    uv, z, values, groups = uv[keep], z[keep], values[keep], groups[keep]
    if footprint is not None:
        uv, z, values, groups = _subdivide(uv, z, values, groups, footprint[keep])
    base = uv.floor()
    frac = uv - base
    x0, y0 = base[:, 0].long(), base[:, 1].long()
    fx, fy = frac[:, 0], frac[:, 1]
    tap_x = torch.stack([x0, x0 + 1, x0, x0 + 1])  # (4, N)
    tap_y = torch.stack([y0, y0, y0 + 1, y0 + 1])
    tap_w = torch.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
    inside = (tap_x >= 0) & (tap_x < width) & (tap_y >= 0) & (tap_y < height) & (tap_w > 0)
    pixel = (groups[None] * height + tap_y) * width + tap_x
    pixel, tap_w = pixel[inside], tap_w[inside]
    tap_z = z.expand(4, -1)[inside]
    point = torch.arange(z.shape[0], device=device).expand(4, -1)[inside]
    cells = num_groups * height * width
    nearest = torch.full((cells,), float("inf"), device=device, dtype=dtype)
    owner = tap_w >= _MIN_OWNER_WEIGHT
    nearest.scatter_reduce_(0, pixel[owner], tap_z[owner], reduce="amin", include_self=True)
    # Pixels reached only by weak taps have no owner (inf): z / inf - 1 = -1 keeps them all.
    gap = tap_z / nearest[pixel] - 1.0
    weight = tap_w * torch.exp(-SURFACE_SOFTNESS * gap.clamp(min=0.0)) * (gap < SURFACE_TOLERANCE)
    channels = values.shape[1]
    accumulated = torch.zeros(cells, channels + 1, device=device, dtype=dtype)
    contribution = torch.cat([values[point] * weight[:, None], weight[:, None]], dim=1)
    accumulated.index_add_(0, pixel, contribution)
    accumulated = accumulated.reshape(num_groups, height, width, channels + 1).permute(0, 3, 1, 2)
    total = accumulated[:, channels:]
    normalised = accumulated[:, :channels] / total.clamp(min=1e-8)
    return Splatted(normalised, total.clamp(max=1.0))


def fill_holes(image: torch.Tensor, coverage: torch.Tensor) -> torch.Tensor:
    """Pull-push hole filling (Grossman & Dally 1998): uncovered pixels take the colour of the
    nearest covered surroundings, averaged over a pyramid; covered pixels keep their value.

    Args:
        image: (C, H, W) values (meaningful where coverage > 0).
        coverage: (1, H, W) confidence in [0, 1].

    Returns:
        (C, H, W) with coverage-1 pixels unchanged.
    """
    premultiplied = [(image * coverage)[None]]
    weights = [coverage[None]]
    while min(weights[-1].shape[-2:]) > 1 and bool((weights[-1] < 1.0).any()):
        pooled_w = F.avg_pool2d(weights[-1], 2, ceil_mode=True) * 4.0
        pooled_c = F.avg_pool2d(premultiplied[-1], 2, ceil_mode=True) * 4.0
        saturated = pooled_w.clamp(max=1.0)
        scale = saturated / pooled_w.clamp(min=1e-8)
        premultiplied.append(pooled_c * scale)
        weights.append(saturated)
    colour = premultiplied[-1] / weights[-1].clamp(min=1e-8)
    for level in range(len(weights) - 2, -1, -1):
        upsampled = F.interpolate(colour, size=weights[level].shape[-2:], mode="bilinear",
                                  align_corners=False)
        colour = premultiplied[level] + (1.0 - weights[level]) * upsampled
    return colour[0]
