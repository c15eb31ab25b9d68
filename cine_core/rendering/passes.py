"""Render passes besides colour, for compositing a frame with other renders: the camera depth
of what each pixel shows and how much of the pixel the scene's points cover (alpha)."""
from __future__ import annotations

import torch

from ..cameras.paths import Camera
from ..filters import fill_holes
from .frames import FrameRenderer, cloud_weights, frame_confidence, frame_time, saturated_coverage
from .splat import PointSet, splat_groups


def _carrying_inverse_depth(points: PointSet) -> PointSet:
    return PointSet(points.uv, points.z, (1.0 / points.z.clamp(min=1e-6))[:, None], points.footprint)


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
