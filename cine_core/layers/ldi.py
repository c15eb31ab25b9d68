"""The layered depth image (LDI): the photo split into depth layers at depth discontinuities,
with what each layer hides behind nearer layers inpainted, so a moving camera sees behind edges.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch

from ..depth.conditioning import DepthMap
from ..io.images import to_numpy_image

#: Depth of inpainted background relative to the visible surface in front of it; the renderer
#: treats surfaces within 3% as one, so hidden content must lie clearly behind.
BEHIND_FACTOR = 1.06
_INPAINT_SIDE = 640  # inpainted content is smooth: solve at most at this size
#: A local depth edge: disparity (1 / depth, nearest point = 1) changing by more than this
#: across 5 pixels.
LOCAL_JUMP = 0.06
#: Colour levels per channel of layers as stored (``PreparedScene.save``): 16 bits, which hold
#: 8- and 16-bit photos exactly; inpainted colours are rounded to the same levels.
COLOUR_LEVELS = 65535


@dataclass
class DepthLayer:
    """One layer, front to back order in :class:`LayeredScene`.

    Attributes:
        rgb: (3, H, W) colours in [0, 1].
        depth: (H, W) depth in scene units.
        alpha: (H, W) bool, True where the layer has content.
        hidden: (H, W) bool, True where that content is inpainted (not seen in the photo).
    """

    rgb: torch.Tensor
    depth: torch.Tensor
    alpha: torch.Tensor
    hidden: torch.Tensor


@dataclass
class LayeredScene:
    """The LDI. ``edges`` are the disparity thresholds between consecutive layers (descending)."""

    layers: list[DepthLayer]
    edges: list[float]


#: fills ``hole`` from ``context``: (rgb (H,W,3) float32, log_depth (H,W) float32, context bool,
#: hole bool) -> (rgb, log_depth); only the hole pixels of the result are used.
Inpainter = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _discontinuity_score(disparity: np.ndarray, threshold: float) -> float:
    """Fraction of the boundary of {disparity > threshold} that is a real depth jump."""
    front = disparity > threshold
    kernel = np.ones((3, 3), np.uint8)
    boundary = (cv2.dilate(front.astype(np.uint8), kernel) != cv2.erode(front.astype(np.uint8), kernel))
    if not boundary.any():
        return 0.0
    jump = cv2.dilate(disparity, kernel) - cv2.erode(disparity, kernel)
    return float((jump[boundary] > 0.04).mean())


def choose_depth_edges(disparity: np.ndarray, max_layers: int = 3, min_fraction: float = 0.02) -> list[float]:
    """Pick layer boundaries at valleys of the disparity histogram that coincide with real jumps.

    A fixed clustering threshold (the published method) cuts smooth surfaces into layers and
    leaves visible seams; a cut here must lie where few pixels have that disparity and where
    the image boundary it produces is mostly a depth discontinuity.

    Args:
        disparity: (H, W) in [0, 1], larger = nearer.
        max_layers: at most this many layers.
        min_fraction: each side of a cut keeps at least this fraction of the pixels.

    Returns:
        Thresholds in descending order (nearest cut first).
    """
    if max_layers <= 1:
        return []
    histogram, bin_edges = np.histogram(disparity, bins=64, range=(0.0, 1.0))
    smooth = np.convolve(histogram.astype(np.float64), np.ones(3) / 3.0, mode="same")
    valleys = [i for i in range(1, 63) if smooth[i] <= smooth[i - 1] and smooth[i] <= smooth[i + 1]]
    cumulative = np.cumsum(histogram) / disparity.size
    candidates = []
    for i in valleys:
        threshold = float(bin_edges[i + 1])
        behind = cumulative[i]
        if min(behind, 1.0 - behind) < min_fraction:
            continue
        score = _discontinuity_score(disparity, threshold)
        if score > 0.3:
            candidates.append((score, threshold))
    chosen: list[float] = []
    for score, threshold in sorted(candidates, reverse=True):
        # Two cuts with (almost) no pixels between them make an empty layer: keep the better.
        if all(abs(_fraction_between(cumulative, bin_edges, threshold, c)) >= min_fraction for c in chosen):
            chosen.append(threshold)
        if len(chosen) == max_layers - 1:
            break
    return sorted(chosen, reverse=True)


def _fraction_between(cumulative: np.ndarray, bin_edges: np.ndarray, a: float, b: float) -> float:
    """Fraction of pixels whose disparity lies between thresholds a and b (bin resolution)."""
    index_a = int(np.searchsorted(bin_edges, a)) - 1
    index_b = int(np.searchsorted(bin_edges, b)) - 1
    return float(cumulative[max(index_a, index_b)] - cumulative[min(index_a, index_b)])


def local_depth_edges(disparity: np.ndarray, band: int, cuts: list[float],
                      min_jump: float = LOCAL_JUMP) -> tuple[np.ndarray, np.ndarray] | None:
    """The near side of depth edges that no layer cut separates, and what lies behind them.

    Layer cuts are global thresholds; a photo whose depth also changes smoothly across the
    frame (ground receding to the horizon) has edges at many depths that no threshold follows,
    so its foreground edges would tear under parallax with nothing behind them. Here an edge is
    where the disparity changes by more than ``min_jump`` within 5 pixels; its level is the
    middle of that change, carried to every pixel from the nearest edge pixel.

    Args:
        disparity: (H, W) 1 / depth, larger = nearer.
        band: how far from an edge the hidden surface reaches, in pixels.
        cuts: the layer cuts (edges straddling one are already separated).

    Returns:
        (hole, context) (H, W) bool: the near-side pixels within ``band`` of an edge, behind
        which the surface is to be inpainted, and the far-side pixels it is inpainted from;
        None without such edges.
    """
    kernel = np.ones((5, 5), np.uint8)
    high, low = cv2.dilate(disparity, kernel), cv2.erode(disparity, kernel)
    edge = (high - low) > min_jump
    for cut in cuts:
        edge &= ~((low <= cut) & (high > cut))
    if not edge.any():
        return None
    # Each pixel learns the level of its nearest edge pixel (labels number the zero pixels of
    # the input in scan order, as np.nonzero lists them).
    distance, labels = cv2.distanceTransformWithLabels((~edge).astype(np.uint8), cv2.DIST_L2, 5,
                                                       labelType=cv2.DIST_LABEL_PIXEL)
    level = ((high + low) / 2.0)[edge][labels - 1]
    margin = min_jump / 4.0
    hole = (distance <= band) & (disparity > level + margin)
    context = disparity < level - margin
    if not hole.any() or not context.any():
        return None
    return hole, context


def hole_window(hole: np.ndarray, margin: int, max_side: int) -> tuple[tuple[slice, slice], tuple[int, int], float]:
    """Where an inpainter works: the hole's bounding box grown by ``margin`` pixels of context.

    Returns:
        crop: (rows, cols) slices of the box; size: (width, height) it is solved at; factor:
        size / box size, below 1 when the box's long side exceeds ``max_side``.
    """
    rows, cols = np.nonzero(hole)
    height, width = hole.shape
    top, bottom = max(rows.min() - margin, 0), min(rows.max() + margin + 1, height)
    left, right = max(cols.min() - margin, 0), min(cols.max() + margin + 1, width)
    factor = min(1.0, max_side / max(bottom - top, right - left))
    size = (max(1, round((right - left) * factor)), max(1, round((bottom - top) * factor)))
    return (slice(top, bottom), slice(left, right)), size, factor


def classical_inpaint(rgb: np.ndarray, log_depth: np.ndarray, context: np.ndarray,
                      hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Telea inpainting (OpenCV) of colour and log-depth from the context pixels only.

    Everything that is not context is unknown, so the foreground in front of the hole never
    leaks into it. Solved on the hole's bounding box at most :data:`_INPAINT_SIDE` pixels long.
    """
    crop, size, factor = hole_window(hole, 16, _INPAINT_SIDE)
    unknown = (~context[crop]).astype(np.uint8)
    unknown_small = (cv2.resize(unknown.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.01)
    rgb_small = cv2.resize(rgb[crop], size, interpolation=cv2.INTER_AREA)
    depth_small = cv2.resize(log_depth[crop], size, interpolation=cv2.INTER_AREA)
    unknown_small = unknown_small.astype(np.uint8)
    rgb8 = (np.clip(rgb_small, 0, 1) * 255 + 0.5).astype(np.uint8)
    filled_rgb = cv2.inpaint(rgb8, unknown_small, 5, cv2.INPAINT_TELEA).astype(np.float32) / 255.0
    filled_depth = cv2.inpaint(depth_small.astype(np.float32), unknown_small, 5, cv2.INPAINT_TELEA)
    # Smooth the fill (Still-to-Reel) so its blotches do not flicker as parallax reveals them.
    blur = max(1.0, 2.0 * factor)
    filled_rgb = cv2.GaussianBlur(filled_rgb, (0, 0), blur)
    filled_depth = cv2.GaussianBlur(filled_depth, (0, 0), blur)
    out_rgb, out_depth = rgb.copy(), log_depth.copy()
    full = (crop[1].stop - crop[1].start, crop[0].stop - crop[0].start)
    out_rgb[crop] = cv2.resize(filled_rgb, full, interpolation=cv2.INTER_LINEAR)
    out_depth[crop] = cv2.resize(filled_depth, full, interpolation=cv2.INTER_LINEAR)
    return out_rgb, out_depth


def build_layers(rgb: torch.Tensor, depth: DepthMap, *, max_layers: int = 3, band: int | None = None,
                 inpaint: Inpainter = classical_inpaint) -> LayeredScene:
    """Split the photo into depth layers and inpaint what each deeper layer hides.

    Layer 0 holds the visible pixels nearest the camera. Layer i >= 1 holds the visible pixels
    of its depth bin plus, within ``band`` pixels of its region, the hidden surface behind the
    nearer layers: colour and log-depth inpainted from everything at or behind the layer, depth
    kept :data:`BEHIND_FACTOR` behind the surface in front and clipped to the layer's depth
    range (Still-to-Reel's depth clipping). Depth edges that no cut follows
    (:func:`local_depth_edges`) get one more layer, of hidden surface behind their near side
    only, whenever ``max_layers`` allows a cut at all (``max_layers`` bounds the cut layers).

    Args:
        rgb: (3, H, W) photo.
        depth: conditioned depth.
        max_layers: at most this many layers.
        band: width of the inpainted band in pixels (default 6% of the long side).
        inpaint: colour + depth inpainting function (classical by default, a network if loaded).
    """
    disparity = depth.disparity.numpy().astype(np.float32)
    height, width = disparity.shape
    band = band if band is not None else max(4, round(0.06 * max(height, width)))
    edges = choose_depth_edges(disparity, max_layers)
    bounds = [np.inf, *edges, -np.inf]
    image = to_numpy_image(rgb).astype(np.float32)
    log_depth = np.log(depth.depth.numpy().astype(np.float32))
    layers = []
    kernel3 = np.ones((3, 3), np.uint8)
    local = local_depth_edges(disparity, band, edges) if max_layers >= 2 else None
    # The near side of a local edge is foreground wherever its cut puts it: never inpaint from it.
    foreground = local[0] if local is not None else np.zeros_like(disparity, dtype=bool)
    for index in range(len(bounds) - 1):
        upper, lower = bounds[index], bounds[index + 1]
        visible = (disparity <= upper) & (disparity > lower)
        if index == 0:
            layers.append(DepthLayer(rgb.clone(), depth.depth.clone(), torch.from_numpy(visible),
                                     torch.zeros(height, width, dtype=torch.bool)))
            continue
        behind = disparity <= upper
        reach = cv2.dilate(behind.astype(np.uint8), np.ones((2 * band + 1, 2 * band + 1), np.uint8)) > 0
        hole = reach & ~behind
        context = (cv2.erode(behind.astype(np.uint8), kernel3, iterations=2) > 0) & ~foreground
        layer_rgb, layer_log_depth = image.copy(), log_depth.copy()
        if hole.any() and context.any():
            filled_rgb, filled_log_depth = inpaint(image, log_depth, context, hole)
            near_limit = np.log(1.0 / upper) + np.log(0.95)  # the layer's near edge, in log depth
            far_limit = np.log(1.0 / max(lower, 1e-3)) + np.log(1.05) if np.isfinite(lower) else np.inf
            front = log_depth + np.log(BEHIND_FACTOR)
            filled_log_depth = np.maximum(np.clip(filled_log_depth, near_limit, far_limit), front)
            # Quantised to the levels the scene cache stores (exact round trip).
            layer_rgb[hole] = np.round(np.clip(filled_rgb[hole], 0, 1) * COLOUR_LEVELS) / COLOUR_LEVELS
            layer_log_depth[hole] = filled_log_depth[hole]
        else:
            hole = np.zeros_like(hole)
        alpha = visible | hole
        layers.append(DepthLayer(torch.from_numpy(layer_rgb).permute(2, 0, 1).contiguous(),
                                 torch.from_numpy(np.exp(layer_log_depth)), torch.from_numpy(alpha),
                                 torch.from_numpy(hole)))
    if local is not None:
        # One more layer holds only hidden surface: behind the near side of every local edge,
        # inpainted from the far side and kept behind the surface in front.
        hole, context = local
        filled_rgb, filled_log_depth = inpaint(image, log_depth, context, hole)
        layer_rgb, layer_log_depth = image.copy(), log_depth.copy()
        layer_rgb[hole] = np.round(np.clip(filled_rgb[hole], 0, 1) * COLOUR_LEVELS) / COLOUR_LEVELS
        layer_log_depth[hole] = np.maximum(filled_log_depth, log_depth + np.log(BEHIND_FACTOR))[hole]
        layers.append(DepthLayer(torch.from_numpy(layer_rgb).permute(2, 0, 1).contiguous(),
                                 torch.from_numpy(np.exp(layer_log_depth)), torch.from_numpy(hole),
                                 torch.from_numpy(hole)))
    return LayeredScene(layers, edges)
