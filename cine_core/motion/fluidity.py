"""Which pixels of a moving region are fluid: still structure inside a region is held still.

Artists draw regions loosely, and so do the detector and the segmentation network: rocks in a
river, the rock seen between two curtains of a fall, power lines in front of smoke and grass
blades in front of the sky fall inside them. The published method's motion network learned to
keep those still; the classical flow would move everything a region holds. This module decides
from the photo which pixels of each region are still structure, with two cues:

* **appearance against the region's fluid**: a colour-and-texture histogram of the region (the
  fluid, re-weighted by its own posterior a few times, so the minority of rock inside it drops
  out of the fluid's model) against one of the still surroundings just outside it; a pixel whose
  posterior of being fluid, averaged over a small neighbourhood (a rock is compact, a dark gap
  between two streaks of a fall is not), is below one half and that is textured (rock, bank,
  vegetation; dark smoke and calm water are smooth) is still;
* **thin lines**: dark or bright structures a few pixels wide that stand alone in smoother
  surroundings (wires, masts, blades, branches), found with top-hat filters; the dense dark gaps
  of streaked water and the troughs of waves are not alone and stay fluid.

:func:`refine_regions` removes the still pixels from the region numbers; the flow is then
feathered towards them exactly as towards the region's border
(:func:`~cine_core.motion.flow.feather_flow`), so no new edge appears.
"""
from __future__ import annotations

import cv2
import numpy as np
import scipy.ndimage
import torch

from ..io.images import to_numpy_image
from .structure import bounding_box

#: Colour bins per channel and texture bins of the appearance histograms.
COLOUR_BINS = 8
TEXTURE_BINS = 4
#: Local standard deviation of grey (in [0, 1]) that fills the top texture bin.
TEXTURE_FULL = 0.15
#: Still content that is less textured than this (local standard deviation of grey) is not
#: held still: dark smoke and calm water are smooth, rock and vegetation are not.
MIN_STILL_TEXTURE = 0.02
#: Prior probability that a pixel of a region is fluid (the artist meant it to move).
FLUID_PRIOR = 0.7
#: The still surroundings are sampled this far outside a region (fraction of the long side).
RING_FRACTION = 0.05
#: Still structure is compact: the fluid posterior is averaged with a Gaussian of this sigma
#: (fraction of the long side) before it is thresholded.
COMPACT_FRACTION = 0.006
#: A region whose still part would exceed this share is left whole: its fluid is then not
#: what most of it shows, and the cue does not apply.
MAX_STILL_SHARE = 0.5
#: Top-hat contrast (grey in [0, 1]) of a dark / bright thin line.
LINE_CONTRAST = (0.06, 0.1)
#: Smallest difference (RGB in [0, 1]) of a thin line from its line-free surroundings.
FAINT_LINE = 0.03
#: Lines are looked for in smooth surroundings only (local standard deviation of the
#: line-free image): sky, smoke, mist, calm water; not in waves or foam, whose crests are lines.
SMOOTH_SURROUNDINGS = 0.03
#: A thin line stands alone: at most this share of its neighbourhood is thin-line response.
LINE_DENSITY = 0.2
#: ... and runs long: each piece spans at least this fraction of the long side.
MIN_LINE_LENGTH = 0.04
#: The appearance cue is computed on a copy of the photo with at most this long side (rocks
#: are compact; the thin lines are found at full size).
APPEARANCE_SIDE = 512


def thin_width(height: int, width: int) -> int:
    """Odd width in pixels up to which a structure counts as thin (0.6 % of the long side, at
    least 5)."""
    return max(5, round(0.006 * max(width, height)) | 1)


def thin_structures(grey: np.ndarray, width: int, in_water: bool) -> np.ndarray:
    """(H, W) bool: structures at most about ``width`` pixels wide crossing the sky or water.

    In the sky: dark ones of any orientation (branches, wires). In water: dark or bright ones
    that stand upright, narrow across the rows and at least twice ``width`` tall (blades, reeds,
    trunks, masts), not the horizontal troughs and crests of waves.

    Args:
        grey: (H, W) float32 in [0, 1].
    """
    if not in_water:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
        return cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel) > LINE_CONTRAST[0]
    across = np.ones((1, width), np.uint8)
    thin = ((cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, across) > LINE_CONTRAST[0])
            | (cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, across) > LINE_CONTRAST[1]))
    return cv2.morphologyEx(thin.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2 * width, 1), np.uint8)) > 0


def thin_coloured(image: np.ndarray, width: int) -> np.ndarray:
    """(H, W) bool: structures at most about ``width`` pixels wide whose hue differs from what
    surrounds them (golden grass heads or green leaves against the sky): the colour without its
    brightness, compared with its median over a window twice as wide.

    Args:
        image: (H, W, 3) float32 RGB in [0, 1].
    """
    chroma = image - image.mean(axis=2, keepdims=True)
    size = 2 * width + 1
    levels = np.clip((chroma + 0.5) * 255.0, 0, 255).astype(np.uint8)
    median = cv2.medianBlur(levels, size).astype(np.float32) / 255.0 - 0.5
    return np.linalg.norm(chroma - median, axis=2) > 0.1


def lone_thin_lines(image: np.ndarray, width: int, long_side: int) -> np.ndarray:
    """(H, W) bool: lines at most about ``width`` pixels wide, of any orientation, brightness or
    hue, that stand out from smooth surroundings, stand alone and run long.

    A pixel is on a line when it differs from the median of a window ``2 width + 1`` wide (which
    removes thin lines) by more than :data:`FAINT_LINE` and four times the texture of that
    median around it, where that texture is below :data:`SMOOTH_SURROUNDINGS`: in smooth sky or
    smoke even a faint, blurred stem or wire stands out; in waves and foam, crests are no lines. It must stand alone (at most :data:`LINE_DENSITY` of a
    window six widths wide is line) and each piece must span :data:`MIN_LINE_LENGTH` of the
    long side: the packed dark gaps of a streaked fall and the short glints on waves are not
    lines.

    Args:
        image: (H, W, 3) float32 RGB in [0, 1] (the photo or a part of it).
        long_side: the photo's long side in pixels.
    """
    levels = np.clip(image * 255.0, 0, 255).astype(np.uint8)
    background = cv2.medianBlur(levels, 2 * width + 1).astype(np.float32) / 255.0
    difference = np.abs(image - background).max(axis=2)
    noise = _local_texture(background.mean(axis=2), 6 * width + 1)
    lines = (difference > np.maximum(FAINT_LINE, 4.0 * noise)) & (noise < SMOOTH_SURROUNDINGS)
    density = cv2.blur(lines.astype(np.float32), (6 * width + 1,) * 2)
    alone = (lines & (density <= LINE_DENSITY)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(alone, connectivity=8)
    length = np.hypot(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    long_enough = length >= MIN_LINE_LENGTH * long_side
    long_enough[0] = False
    return long_enough[labels]


def _local_texture(grey: np.ndarray, size: int) -> np.ndarray:
    """(H, W) local standard deviation of ``grey`` over ``size`` x ``size`` windows."""
    mean = cv2.blur(grey, (size, size))
    return np.sqrt(np.maximum(cv2.blur(grey * grey, (size, size)) - mean * mean, 0.0))


def _appearance_bins(image: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """(H, W) int32 index of each pixel's (colour, texture) histogram bin."""
    colour = np.clip(image * COLOUR_BINS, 0, COLOUR_BINS - 1).astype(np.int32)
    level = np.clip(np.sqrt(texture / TEXTURE_FULL) * TEXTURE_BINS, 0, TEXTURE_BINS - 1).astype(np.int32)
    return ((colour[..., 0] * COLOUR_BINS + colour[..., 1]) * COLOUR_BINS + colour[..., 2]) * TEXTURE_BINS + level


def _density(bins: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Smoothed, normalised histogram over all (colour, texture) bins, never zero."""
    shape = (COLOUR_BINS,) * 3 + (TEXTURE_BINS,)
    counts = np.bincount(bins, weights=weights, minlength=int(np.prod(shape))).reshape(shape)
    counts = scipy.ndimage.gaussian_filter(counts.astype(np.float64), (0.7, 0.7, 0.7, 0.5))
    return counts.ravel() / max(float(counts.sum()), 1e-12) + 1e-7


def fluid_posterior(bins: np.ndarray, region: np.ndarray, surroundings: np.ndarray,
                    iterations: int = 3) -> np.ndarray:
    """Posterior that each pixel of ``region`` is the region's fluid rather than still content.

    The still model is the histogram of ``surroundings``; the fluid model the histogram of the
    region weighted by the previous posterior (all ones at first), so the still minority inside
    it stops counting as fluid.

    Args:
        bins: (H, W) int appearance bins (:func:`_appearance_bins`).
        region, surroundings: (H, W) bool.

    Returns:
        (N,) float64 posteriors of the region's pixels, in ``region``'s row-major order.
    """
    inside = bins[region]
    still = _density(bins[surroundings], None)[inside]
    weight = np.ones(inside.size)
    for _ in range(iterations):
        fluid = _density(inside, weight)[inside]
        weight = FLUID_PRIOR * fluid / (FLUID_PRIOR * fluid + (1.0 - FLUID_PRIOR) * still)
    return weight


def _appearance_still(image: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """(h, w) bool: the still content of each region by appearance (see the module docstring).

    Args:
        image: (h, w, 3) float32 RGB in [0, 1].
        regions: (h, w) int region numbers, 0 where nothing moves.
    """
    height, width = regions.shape
    side = max(height, width)
    grey = image.mean(axis=2)
    texture = _local_texture(grey, thin_width(height, width) + 2)
    bins = _appearance_bins(image, texture)
    sigma = max(1.0, COMPACT_FRACTION * side)
    textured = cv2.GaussianBlur(texture, (0, 0), sigma) >= MIN_STILL_TEXTURE
    moving = regions > 0
    still = np.zeros((height, width), bool)
    for label in np.unique(regions[moving]):
        region = regions == label
        away = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, 3)
        surroundings = (away <= max(3.0, RING_FRACTION * side)) & ~moving
        if not surroundings.any():
            continue
        posterior = np.zeros((height, width), np.float32)
        posterior[region] = fluid_posterior(bins, region, surroundings)
        weight = cv2.GaussianBlur(region.astype(np.float32), (0, 0), sigma)
        compact = cv2.GaussianBlur(posterior, (0, 0), sigma) / np.maximum(weight, 1e-6)
        found = region & (compact < 0.5) & textured
        if found.sum() <= MAX_STILL_SHARE * region.sum():
            still |= found
    return still


def still_structure(rgb: torch.Tensor, regions: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels of the moving regions that are still structure (see the module
    docstring).

    Args:
        rgb: (3, H, W) photo in [0, 1].
        regions: (H, W) int region numbers, 0 where nothing moves.
    """
    image = to_numpy_image(rgb).astype(np.float32)
    height, width = regions.shape
    factor = min(1.0, APPEARANCE_SIDE / max(height, width))
    small_size = (max(8, round(width * factor)), max(8, round(height * factor)))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    small_regions = cv2.resize(regions.astype(np.int32), small_size, interpolation=cv2.INTER_NEAREST)
    by_appearance = cv2.resize(_appearance_still(small, small_regions).astype(np.float32), (width, height),
                               interpolation=cv2.INTER_LINEAR) >= 0.5
    moving = regions > 0
    thin = thin_width(height, width)
    box = bounding_box(moving, 6 * thin)
    still = by_appearance
    still[box] |= lone_thin_lines(image[box], thin, max(height, width))
    # The line's anti-aliased edge belongs to it.
    return (cv2.dilate(still.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & moving


def refine_regions(rgb: torch.Tensor, regions: np.ndarray) -> np.ndarray:
    """The region numbers without their still structure (:func:`still_structure`).

    Args:
        rgb: (3, H, W) photo in [0, 1].
        regions: (H, W) int region numbers, 0 where nothing moves.

    Returns:
        (H, W) int32 region numbers, 0 where nothing moves or the photo shows still structure.
    """
    refined = regions.astype(np.int32, copy=True)
    if (refined > 0).any():
        refined[still_structure(rgb, refined)] = 0
    return refined
