"""The fluid's own structure steers its direction where the user gave few arrows.

Water shows where it goes: a fall and its rapids are streaked along their flow, a river runs
along its banks, and waves come in across their crests. A worded direction or a single arrow
says roughly where the fluid goes; :func:`follow_structure` turns it, pixel by pixel, towards
whichever axis of the local structure is nearer to it (along the streaks, or across the
crests), keeping its speed and its sense.

The axes come from the structure tensor of the photo inside the region plus that of the
region's own outline (its banks), averaged over :data:`STRUCTURE_FRACTION` of the long side.
The turn is weighted by the tensor's coherence (smooth sky and smoke have no axis: unchanged),
by how clearly one axis is nearer (an axis at 45 degrees is no guide), and by the distance to
the user's arrows (an arrow rules its neighbourhood, and arrows that agree the ground between
them).
"""
from __future__ import annotations

import cv2
import numpy as np

#: Scale of the structure, as a Gaussian sigma in fractions of the long side.
STRUCTURE_FRACTION = 0.02
#: The tensor is computed on a copy with at most this long side (the structure is smooth).
STRUCTURE_SIDE = 512
#: The user's arrows rule this far (Gaussian sigma, fraction of the long side); beyond, the
#: structure steers.
ARROW_RULE_FRACTION = 0.1
#: Two arrows whose directions differ by at most this many degrees agree: they rule the line
#: between their starts as well.
AGREEING_DEGREES = 25.0


def structure_axes(grey: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The local axis along the structure and its coherence, inside ``region``.

    Args:
        grey: (H, W) float32 photo in [0, 1].
        region: (H, W) bool.

    Returns:
        along: (2, H, W) unit vectors (x, y) along the streaks / banks (sign arbitrary);
        coherence: (H, W) in [0, 1], 0 where there is no preferred axis.
    """
    height, width = grey.shape
    factor = min(1.0, STRUCTURE_SIDE / max(height, width))
    size = (max(8, round(width * factor)), max(8, round(height * factor)))
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    inside = cv2.resize(region.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    sigma = max(1.0, STRUCTURE_FRACTION * max(size))
    tensor = []
    for image, weight in ((small, inside), (cv2.GaussianBlur(inside, (0, 0), sigma / 2), None)):
        gx, gy = cv2.Sobel(image, cv2.CV_32F, 1, 0), cv2.Sobel(image, cv2.CV_32F, 0, 1)
        parts = [gx * gx, gx * gy, gy * gy]
        if weight is not None:  # the photo's structure only from inside the region
            parts = [p * weight for p in parts]
        blurred = [cv2.GaussianBlur(p, (0, 0), sigma) for p in parts]
        scale = max(float(np.percentile(blurred[0] + blurred[2], 99)), 1e-9)
        tensor.append([b / scale for b in blurred])
    jxx, jxy, jyy = (tensor[0][i] + tensor[1][i] for i in range(3))
    # The gradient's dominant angle is 0.5 atan2(2 jxy, jxx - jyy); the streaks run across it.
    angle = 0.5 * np.arctan2(2 * jxy, jxx - jyy) + 0.5 * np.pi
    coherence = np.hypot(jxx - jyy, 2 * jxy) / np.maximum(jxx + jyy, 1e-9)
    along = np.stack([np.cos(angle), np.sin(angle)])
    along = np.stack([cv2.resize(a, (width, height), interpolation=cv2.INTER_LINEAR) for a in along])
    along /= np.maximum(np.linalg.norm(along, axis=0), 1e-9)[None]
    coherence = cv2.resize(coherence, (width, height), interpolation=cv2.INTER_LINEAR)
    return along.astype(np.float32), np.clip(coherence, 0.0, 1.0).astype(np.float32)


def arrow_rule(arrows: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W) in [0, 1]: how much the user's arrows rule each pixel: 1 at an arrow's start and
    along the line between the starts of two arrows that agree (within
    :data:`AGREEING_DEGREES`), falling off over :data:`ARROW_RULE_FRACTION` of the long side; 0
    without arrows.

    Arrows that agree say the fluid between them goes their way (an artist who drew seven
    parallel arrows over a sea meant all of it), so the structure does not steer there; arrows
    that disagree (a fall and the river below it) leave the structure free between them.

    Args:
        arrows: (K, 4) x0, y0, x1, y1 in pixels.
    """
    if len(arrows) == 0:
        return np.zeros((height, width), np.float32)
    away = np.ones((height, width), np.uint8)
    starts = np.rint(arrows[:, :2]).astype(np.int64).clip(0, [width - 1, height - 1])
    for x, y in starts:
        away[y, x] = 0
    directions = arrows[:, 2:] - arrows[:, :2]
    directions = directions / np.maximum(np.linalg.norm(directions, axis=1, keepdims=True), 1e-9)
    agreeing = directions @ directions.T >= np.cos(np.radians(AGREEING_DEGREES))
    for first, second in zip(*np.nonzero(np.triu(agreeing, 1))):
        cv2.line(away, tuple(int(v) for v in starts[first]), tuple(int(v) for v in starts[second]), 0, 1)
    distance = cv2.distanceTransform(away, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.exp(-np.square(distance / (ARROW_RULE_FRACTION * max(width, height)))).astype(np.float32)


def bounding_box(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """Rows and columns of the box around ``mask``'s (H, W) True pixels, grown by ``margin``
    pixels and clipped to the image (the whole image when ``mask`` is empty)."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return slice(0, mask.shape[0]), slice(0, mask.shape[1])
    return (slice(max(0, rows[0] - margin), min(mask.shape[0], rows[-1] + margin + 1)),
            slice(max(0, columns[0] - margin), min(mask.shape[1], columns[-1] + margin + 1)))


def follow_structure(field: np.ndarray, grey: np.ndarray, region: np.ndarray,
                     freedom: np.ndarray) -> np.ndarray:
    """Turn a velocity field towards the nearer axis of the local structure.

    Args:
        field: (2, H, W) velocity from the arrows or words.
        grey: (H, W) photo in [0, 1].
        region: (H, W) bool, the region the field belongs to.
        freedom: (H, W) in [0, 1], how free the structure is to steer (0 where an arrow rules).

    Returns:
        (2, H, W) float32: the same speeds inside the region's bounding box, directions turned
        by at most 45 degrees; the field as given outside it.
    """
    box = bounding_box(region, round(3 * STRUCTURE_FRACTION * max(region.shape)))
    along, coherence = structure_axes(grey[box], region[box])
    part = field[(slice(None), *box)]
    speed = np.linalg.norm(part, axis=0)
    unit = part / np.maximum(speed, 1e-9)[None]
    cosine = (unit * along).sum(axis=0)
    # The nearer axis: along the structure (|cos| > 0.71) or across it, in the field's sense.
    across = np.stack([-along[1], along[0]])
    axis = np.where((np.abs(cosine) >= np.sqrt(0.5))[None], along * np.sign(cosine)[None],
                    across * np.sign((unit * across).sum(axis=0))[None])
    # From |cos 2 theta|: 1 within 30 degrees of an axis, falling to 0 half-way (no clear guide).
    decisive = np.minimum(1.0, 2.0 * np.abs(2 * cosine * cosine - 1))
    weight = (coherence * decisive * freedom[box])[None]
    turned = (1 - weight) * unit + weight * axis
    turned /= np.maximum(np.linalg.norm(turned, axis=0), 1e-9)[None]
    result = np.array(field, np.float32)
    result[(slice(None), *box)] = turned * speed[None]
    return result
