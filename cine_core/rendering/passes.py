"""Render passes besides colour, for compositing a frame with other renders: the camera depth
of what each pixel shows and how much of the pixel the scene's points cover (alpha)."""
from __future__ import annotations

from dataclasses import replace

import torch

from ..cameras.paths import Camera
from ..filters import fill_holes
from .frames import FrameRenderer, cloud_weights, frame_confidence, frame_time, saturated_coverage
from .splat import PointSet, splat_groups


def _carrying_inverse_depth(points: PointSet) -> PointSet:
    return replace(points, values=(1.0 / points.z.clamp(min=1e-6))[:, None])


def depth_and_alpha(renderer: FrameRenderer, frame: int, camera: Camera) -> tuple[torch.Tensor, torch.Tensor]:
    """The depth and alpha passes of ``frame`` in [0, N] seen from ``camera``.

    The depth is that of the nearest surface of the clouds the frame shows (its time weight is
    not zero), so an object nearer than it is in front and one farther is hidden; where no point
    lands it is filled from the surroundings, as the colour is. Alpha is the frame's coverage:
    0 where no point of the layered depth image lands (nothing was ever seen or inpainted
    there), 1 where the picture is made of points.

    Returns:
        depth: (H, W) camera depth (along the optical axis) in scene units.
        alpha: (H, W) in [0, 1].
    """
    shared, underlay, groups = renderer.point_sets(frame, camera)
    splatted = splat_groups([_carrying_inverse_depth(g) for g in groups],
                            (camera.intrinsics.height, camera.intrinsics.width),
                            shared=_carrying_inverse_depth(shared),
                            underlay=_carrying_inverse_depth(underlay) if renderer.cloud.num_underlay else None)
    time = frame_time(frame, renderer.cloud.num_frames)
    forward, backward = cloud_weights(time)
    shown = torch.stack([splatted.coverage[0] * forward, splatted.coverage[1] * backward]) > 0
    inverse_depth = torch.where(shown, splatted.values, torch.zeros_like(splatted.values)).amax(0)
    alpha = frame_confidence(time, saturated_coverage(splatted.coverage))
    inverse_depth = fill_holes(inverse_depth, alpha * (inverse_depth > 0))
    return 1.0 / inverse_depth[0].clamp(min=1e-6), alpha[0]


def merge_by_depth(colours: torch.Tensor, depths: torch.Tensor, alphas: torch.Tensor,
                   opaque: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames of several scenes seen by one camera, composited by depth per pixel: each pixel
    lays the scenes over each other from the nearest to the farthest, each covering by its
    alpha; a scene whose alpha is 0 at a pixel comes last there.

    Args:
        colours: (K, C, H, W) each scene's frame (straight, not premultiplied; linear light).
        depths: (K, H, W) their camera depths in one unit.
        alphas: (K, H, W) their coverage in [0, 1] (:func:`depth_and_alpha`).
        opaque: the farthest scene at each pixel covers what is left (its frame is filled
            where no point lands, as a frame rendered alone); else the rest stays transparent.

    Returns:
        colour: (C, H, W) straight colour; depth: (H, W) of the nearest covering scene;
        alpha: (H, W) the coverage of all of them.
    """
    order = torch.where(alphas > 0, depths, torch.full_like(depths, float("inf"))).argsort(dim=0)
    alphas = alphas.gather(0, order)
    if opaque:
        alphas = torch.cat([alphas[:-1], torch.ones_like(alphas[-1:])])
    # What each scene adds: its alpha times what the nearer ones leave uncovered.
    uncovered = torch.cumprod(torch.cat([torch.ones_like(alphas[:1]), 1.0 - alphas[:-1]]), dim=0)
    weights = alphas * uncovered
    colours = colours.gather(0, order[:, None].expand_as(colours))
    alpha = weights.sum(0)
    colour = (weights[:, None] * colours).sum(0) / alpha.clamp(min=1e-6)
    return colour, depths.gather(0, order[:1])[0], alpha
