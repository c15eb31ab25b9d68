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
the user's arrows (an arrow rules its neighbourhood).
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


def arrow_rule(starts: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W) in [0, 1]: how much the user's arrows (starts (K, 2) x, y) rule each pixel, 1 at
    a start, falling off over :data:`ARROW_RULE_FRACTION` of the long side; 0 without arrows."""
    rule = np.zeros((height, width), np.float32)
    if len(starts) == 0:
        return rule
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    sigma = ARROW_RULE_FRACTION * max(width, height)
    for x, y in starts:
        rule = np.maximum(rule, np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / sigma ** 2))
    return rule


def follow_structure(field: np.ndarray, grey: np.ndarray, region: np.ndarray,
                     freedom: np.ndarray) -> np.ndarray:
    """Turn a velocity field towards the nearer axis of the local structure.

    Args:
        field: (2, H, W) velocity from the arrows or words.
        grey: (H, W) photo in [0, 1].
        region: (H, W) bool, the region the field belongs to.
        freedom: (H, W) in [0, 1], how free the structure is to steer (0 where an arrow rules).

    Returns:
        (2, H, W) float32: the same speeds, directions turned by at most 45 degrees.
    """
    along, coherence = structure_axes(grey, region)
    speed = np.linalg.norm(field, axis=0)
    unit = field / np.maximum(speed, 1e-9)[None]
    cosine = (unit * along).sum(axis=0)
    # The nearer axis: along the structure (|cos| > 0.71) or across it, in the field's sense.
    across = np.stack([-along[1], along[0]])
    axis = np.where((np.abs(cosine) >= np.sqrt(0.5))[None], along * np.sign(cosine)[None],
                    across * np.sign((unit * across).sum(axis=0))[None])
    # From |cos 2 theta|: 1 within 30 degrees of an axis, falling to 0 half-way (no clear guide).
    decisive = np.minimum(1.0, 2.0 * np.abs(2 * cosine * cosine - 1))
    weight = (coherence * decisive * freedom)[None]
    turned = (1 - weight) * unit + weight * axis
    turned /= np.maximum(np.linalg.norm(turned, axis=0), 1e-9)[None]
    return (turned * speed[None]).astype(np.float32)
