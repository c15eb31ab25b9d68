"""The Eulerian flow field: a static 2-D velocity per pixel, from the user's mask and hints.

Units are working-resolution pixels per output frame. A hint arrow of length L pixels (in the
original photo) means L / 200 photo pixels per frame (see :data:`ARROW_PIXELS_PER_FRAME_UNIT`).
"""
from __future__ import annotations

import cv2
import numpy as np
import scipy.ndimage
import torch

from ..errors import CineError
from ..io.annotations import MotionAnnotation
from ..io.motion_rules import EMPTY_REGION, NO_DIRECTION, NOTHING_MOVES, motion_mask, motion_problem, starts_inside
from .structure import arrow_rule, follow_structure

#: Hint arrow length (original pixels) that means one pixel per frame: the fluid travels the
#: length of its arrow in 200 frames (6.7 s at 30 fps). The published method uses 50; measured
#: against the real videos that followed two held-out annotated photos (OpenCV DIS flow averaged
#: over the clip), its annotators' arrows then moved the fluid 3.94x (waterfall) and 4.74x
#: (smoke) faster than the real fluid moved, i.e. arrows are drawn about 4.3 times longer than
#: the fluid's travel in 50 frames. 200 puts both at 0.99x and 1.19x. ``flow_scale`` stays the
#: user's speed control on top (docs/performance.md, "Speed of hint arrows").
ARROW_PIXELS_PER_FRAME_UNIT = 200.0
#: Each arrow rules a neighbourhood this many times the distance to its nearest neighbour
#: wide (the Gaussian width of its interpolation weight); chosen by measurement
#: (docs/performance.md, "Interpolation of hint arrows").
ARROW_REACH = 0.5
#: Arrows starting closer than this fraction of the long side share one neighbourhood.
SAME_PLACE_FRACTION = 0.01
#: Speed of a direction given in words: pixels per frame for a 1280-pixel-wide image.
WORDED_SPEED = 1.0
#: The velocity falls to zero over this fraction of the long side towards a region's border.
FEATHER_FRACTION = 0.03
#: A moving region that stops this close to the photo's frame (a fraction of the long side) is
#: taken to reach it: annotators draw polygons a few pixels short of the edge (2-4 px at 1280
#: wide in the shared scenes), and that sliver would become a still border the velocity
#: feathers towards, stretching the fluid along the frame.
FRAME_SNAP_FRACTION = 0.01


def arrow_reach(starts: torch.Tensor, min_separation: float) -> torch.Tensor:
    """How far each arrow rules: :data:`ARROW_REACH` times the distance from its start to the
    nearest other arrow's start; infinite for an arrow alone. Starts closer than
    ``min_separation`` count as one place (they share their neighbourhood).

    Args:
        starts: (K, 2) arrow starts.

    Returns:
        (K,) widths in the same units.
    """
    distance = torch.cdist(starts, starts)
    distance = torch.where(distance < min_separation, torch.full_like(distance, float("inf")), distance)
    return ARROW_REACH * distance.min(dim=1).values if starts.shape[0] > 1 else torch.full((1,), float("inf"))


def dense_hint(hints: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Interpolate K hint arrows into a dense velocity field in which each arrow rules its
    neighbourhood.

    hint(p) = sum_k w_k v_k / sum_k w_k with w_k = exp(-(|p - s_k| / sigma_k)^2), computed as a
    softmax, so pixels far from every arrow follow the arrow nearest in units of its width
    instead of dividing zero by zero. The published method uses one random sigma in
    [H/2K, 2H/K) for all arrows: arrows a quarter of the width apart then average each other
    out at their own starts. Here each arrow's width is :func:`arrow_reach` (a fraction of the
    distance to its nearest neighbour), so at its start its own weight dominates, between two
    arrows the field blends smoothly, and one arrow alone drives everything.

    Args:
        hints: (K, 4) arrows x0, y0, x1, y1 in working pixels;
            v_k = (end - start) / :data:`ARROW_PIXELS_PER_FRAME_UNIT`.
        width, height: size of the field.

    Returns:
        (2, H, W) velocity (x, y) in pixels per frame.
    """
    count = hints.shape[0]
    if count == 0:
        return torch.zeros(2, height, width)
    starts = hints[:, :2]
    velocity = (hints[:, 2:] - hints[:, :2]) / ARROW_PIXELS_PER_FRAME_UNIT
    sigma = arrow_reach(starts, SAME_PLACE_FRACTION * max(width, height))
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                            torch.arange(width, dtype=torch.float32), indexing="ij")
    grid = torch.stack([xs, ys], dim=-1).reshape(-1, 1, 2)
    logits = -((grid - starts[None]).square().sum(-1)) / sigma.square()  # (HW, K)
    weights = torch.softmax(logits, dim=1)
    return (weights @ velocity).T.reshape(2, height, width).contiguous()


def masked_blur(field: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur that only averages pixels inside ``mask`` (normalised convolution).

    Args:
        field: (C, H, W) float32 values.
        mask: (H, W) float32 weights in [0, 1].
    """
    weight = cv2.GaussianBlur(mask, (0, 0), sigma)
    blurred = np.stack([cv2.GaussianBlur(c * mask, (0, 0), sigma) for c in field])
    return blurred / np.maximum(weight, 1e-6)[None]


def motion_regions(annotation: MotionAnnotation) -> np.ndarray:
    """(H, W) int32 numbers of the separately moving regions, 0 where nothing moves.

    Without a mask, the neighbourhood the arrows cover moves, as one region.
    """
    if annotation.mask is not None:
        return snap_to_frame(annotation.region_labels())
    width, height = annotation.size
    mask = np.zeros((height, width), np.uint8)
    radius = max(4, int(0.08 * max(width, height)))
    for h in annotation.hints:
        cv2.line(mask, tuple(int(round(v)) for v in h.start), tuple(int(round(v)) for v in h.end),
                 1, 2 * radius)
    return snap_to_frame(mask.astype(np.int32))


def snap_to_frame(labels: np.ndarray) -> np.ndarray:
    """Extend regions that stop short of the photo's frame to reach it.

    Along every row and column, a still run from the frame's edge up to
    :data:`FRAME_SNAP_FRACTION` of the long side that ends in a region joins that region.
    Still content wider than that at the frame (a rock, a bank) keeps its border.

    Args:
        labels: (H, W) int region numbers, 0 where nothing moves.

    Returns:
        (H, W) int32 region numbers, a new array.
    """
    snapped = labels.astype(np.int32, copy=True)
    reach = max(1, round(FRAME_SNAP_FRACTION * max(labels.shape)))
    # Each view starts at one edge of the frame; writing into it writes into ``snapped``.
    for view in (snapped, snapped[:, ::-1], snapped.T, snapped[::-1].T):
        moving = view > 0
        first = moving.argmax(axis=1)
        for line in np.flatnonzero(moving.any(axis=1) & (first > 0) & (first <= reach)):
            view[line, :first[line]] = view[line, first[line]]
    return snapped


def _region_velocity(annotation: MotionAnnotation, region: np.ndarray,
                     direction: tuple[float, float, float] | None, grey: np.ndarray | None) -> np.ndarray:
    """(2, H, W) velocity for one region: from the arrows that start inside it (all arrows if
    none do), else the worded direction; turned towards the photo's structure (``grey``, (H, W)
    in [0, 1]) away from the region's own arrows (:func:`~cine_core.motion.structure.follow_structure`)."""
    width, height = annotation.size
    inside = [h for h in annotation.hints if starts_inside(h.start, region)]
    arrows = inside or annotation.hints
    if arrows:
        field = dense_hint(torch.tensor([[*h.start, *h.end] for h in arrows], dtype=torch.float32),
                           width, height).numpy()
    else:
        dx, dy, speed = direction
        field = np.broadcast_to(np.float32([dx, dy]).reshape(2, 1, 1) * (WORDED_SPEED * speed * width / 1280.0),
                                (2, height, width))
    if grey is None:
        return np.ascontiguousarray(field, np.float32)
    freedom = 1.0 - arrow_rule(np.array([h.start for h in inside]).reshape(-1, 2), width, height)
    return follow_structure(field, grey, region > 0, freedom)


def eulerian_flow(annotation: MotionAnnotation, *, direction: tuple[float, float, float] | None = None,
                  flow_scale: float = 1.0, photo: torch.Tensor | None = None) -> torch.Tensor:
    """Dense flow from the annotation at working resolution.

    Each separately drawn region (a labelme polygon, a connected part of a mask) gets its own
    field, interpolated from the arrows that start inside it, so a waterfall's arrows do not
    bend the lake below it. The field (or a uniform velocity along ``direction`` when there
    are no arrows) is smoothed within its region so its edges are not attenuated, and the
    whole is multiplied by ``flow_scale`` (the speed control: 2 = twice as fast).

    Args:
        annotation: mask and hints at working resolution.
        direction: (dx, dy, speed) from :func:`cine_core.motion.directions.parse_direction`.
        flow_scale: speed multiplier.
        photo: (3, H, W) in [0, 1]; when given, the field follows the fluid's structure where
            the region's own arrows do not rule (:mod:`cine_core.motion.structure`).

    Returns:
        (2, H, W) float32 flow in pixels per frame; zero outside the mask.
    """
    width, height = annotation.size
    if flow_scale < 0:
        raise CineError("must not be negative", parameter="flow_scale")
    problem = motion_problem(annotation.mask, len(annotation.hints), direction is not None)
    if problem == NOTHING_MOVES:
        raise CineError("nothing moves: give a motion mask or hint arrows", parameter="mask")
    if problem == EMPTY_REGION:
        raise CineError("the motion mask is empty: mark the region that should move", parameter="mask")
    if problem == NO_DIRECTION:
        raise CineError("the motion mask has no hint arrows: draw hint arrows or say the direction in words, "
                        "e.g. 'left to right'", parameter="hints")
    regions = motion_regions(annotation)
    sigma = max(1.0, 0.01 * float(np.hypot(width, height)))
    grey = photo.mean(dim=0).numpy() if photo is not None else None
    smooth = np.zeros((2, height, width), np.float32)
    for label in np.unique(regions[regions > 0]):
        region = (regions == label).astype(np.float32)
        field = _region_velocity(annotation, region, direction, grey)
        smooth += masked_blur(field, region, sigma) * region[None]
    return torch.from_numpy(smooth.astype(np.float32)) * float(flow_scale)


def feather_flow(flow: torch.Tensor, regions: torch.Tensor, fraction: float = FEATHER_FRACTION) -> torch.Tensor:
    """Let the velocity fall smoothly to zero towards the border with still content.

    At full speed up to the border the region slides as a rigid block and its outline travels
    with the fluid (the published method multiplies by the mask and box-blurs for the same
    reason). The weight is a smoothstep of the distance to the nearest still pixel over
    ``fraction`` (:data:`FEATHER_FRACTION`) of the long side, so it scales with the resolution, or over half
    the region's inradius when that is less. The photo's
    frame is not a border (water falls out of the picture), nor is the line between two
    touching regions.

    Args:
        flow: (2, H, W) velocity.
        regions: (H, W) region numbers, 0 where nothing moves.

    Returns:
        (2, H, W) feathered velocity, non-zero wherever ``flow`` is.
    """
    moving = (regions > 0).numpy().astype(np.uint8)
    if not moving.any():
        return flow.clone()
    width = max(2.0, fraction * max(moving.shape))
    # Distance to the nearest zero pixel; without any zero pixel OpenCV returns a huge value.
    distance = cv2.distanceTransform(moving, cv2.DIST_L2, 5)
    # A region narrower than twice the ramp would never reach its speed (a thin waterfall moved
    # at half of it): its ramp is at most half its own inradius.
    labels = regions.numpy()
    inradius = np.asarray(scipy.ndimage.maximum(distance, labels, np.arange(int(labels.max()) + 1)))
    ramp = np.clip(distance / np.clip(0.5 * inradius[labels], 1.0, width), 0.0, 1.0)
    weight = torch.from_numpy((ramp * ramp * (3.0 - 2.0 * ramp)).astype(np.float32))
    return flow * weight


def extend_flow(flow: torch.Tensor, reach: int) -> torch.Tensor:
    """Spread the flow ``reach`` pixels out of the moving region (the rest keeps its values).

    Hidden background that the layered depth image inpaints next to moving content has no flow
    of its own; this lets it move with its moving neighbours, as the published method's
    masked box blurs do.

    Args:
        flow: (2, H, W).
        reach: distance in pixels.

    Returns:
        (2, H, W): the flow inside the moving region, the extension outside it.
    """
    moving = motion_mask(flow).numpy().astype(np.float32)
    if reach <= 0 or not moving.any():
        return flow.clone()
    spread = masked_blur(flow.numpy(), moving, reach / 2.0)
    # Full velocity out to ``reach``: a fall-off would move neighbouring hidden points by
    # different amounts and tear their texture into stripes.
    near = cv2.dilate(moving, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    result = np.where(moving[None] > 0, flow.numpy(), spread * near[None])
    return torch.from_numpy(result.astype(np.float32))
