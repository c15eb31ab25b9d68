"""A weight-free monocular depth estimate for landscape photos.

It combines three classical cues and makes the result follow the photo's edges:

* ground plane: in a landscape the bottom of the frame is nearer than the top (the horizon);
* aerial perspective (haze): far surfaces are washed towards the sky colour; the dark channel
  prior (He et al., 2009) turns that into a transmission t and a distance -log t;
* sky: bright, smooth regions touching the top border are infinitely far.

Edge alignment uses a guided filter (He et al., 2010) with the photo as guide, so depth
discontinuities sit on image edges, which the layered depth image needs.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from ..io.images import to_numpy_image

_WORK_SIDE = 512  # the cues are smooth: estimate them small, then upsample


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``source`` (H, W) guided by the grey image ``guide`` (H, W).

    :func:`kornia.filters.guided_blur` over (2 radius + 1)^2 windows, ``eps`` in squared guide
    units, borders reflected without repeating the edge pixel (OpenCV's default). Returns (H, W)
    float32.
    """
    # Imported here: kornia adds about 20 MB to a process and is needed only by the runs that
    # estimate depth or inpaint with the networks (a photo with its depth file renders without).
    import kornia.filters

    # Reflected borders need a window no larger than the image (a strip of a panorama).
    radius = min(radius, min(guide.shape) - 1)
    # Two 1-D box passes: 3x faster on the CPU than 2-D windows, equal to float32 rounding.
    smoothed = kornia.filters.guided_blur(_as_image(guide), _as_image(source), 2 * radius + 1, eps,
                                          separable=True)
    return smoothed[0, 0].numpy()


def _as_image(array: np.ndarray) -> torch.Tensor:
    """(1, 1, H, W) float32 tensor of an (H, W) array."""
    return torch.from_numpy(np.ascontiguousarray(array, np.float32))[None, None]


def _haze_distance(rgb: np.ndarray, patch: int) -> np.ndarray:
    kernel = np.ones((patch, patch), np.uint8)
    dark = cv2.erode(rgb.min(axis=2), kernel)
    brightest = dark >= np.quantile(dark, 0.999)
    airlight = np.maximum(rgb[brightest].mean(axis=0), 0.2)
    transmission = 1.0 - 0.95 * cv2.erode((rgb / airlight).min(axis=2), kernel)
    return -np.log(np.clip(transmission, 0.05, 1.0))


def sky_mask(rgb: np.ndarray) -> np.ndarray:
    """(h, w) bool: bright, smooth regions touching the top border, above the lower third."""
    grey = rgb.mean(axis=2)
    gradient = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    smooth = cv2.blur(gradient, (9, 9)) < 0.08
    bright = grey > np.quantile(grey, 0.4)
    candidate = (smooth & bright).astype(np.uint8)
    count, labels = cv2.connectedComponents(candidate)
    touching = set(np.unique(labels[0])) - {0}
    height = rgb.shape[0]
    sky = np.isin(labels, list(touching))
    # Sky lies above the horizon: ignore what such a region covers in the lower third.
    sky[2 * height // 3:] = False
    return sky


def estimate_disparity(rgb: torch.Tensor) -> np.ndarray:
    """Estimate relative disparity (larger = nearer) of a landscape photo without any weights.

    Args:
        rgb: (3, H, W) colours in [0, 1].

    Returns:
        (H, W) float32 disparity in [0, 1].
    """
    image = to_numpy_image(rgb).astype(np.float32)
    height, width = image.shape[:2]
    factor = min(1.0, _WORK_SIDE / max(height, width))
    small = cv2.resize(image, (max(8, round(width * factor)), max(8, round(height * factor))),
                       interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    rows = (np.arange(sh, dtype=np.float32) + 0.5) / sh
    ground = np.repeat(rows[:, None], sw, axis=1) ** 1.5
    haze = _haze_distance(small, max(3, round(15 * factor)))
    haze_near = 1.0 - haze / max(float(haze.max()), 1e-6)
    disparity = 0.7 * ground + 0.3 * haze_near
    disparity[sky_mask(small)] = 0.0
    grey_small = small.mean(axis=2)
    disparity = guided_filter(grey_small, disparity.astype(np.float32), max(2, sw // 40), 1e-3)
    disparity = cv2.resize(disparity, (width, height), interpolation=cv2.INTER_LINEAR)
    grey = image.mean(axis=2)
    disparity = guided_filter(grey, disparity, max(2, width // 200), 1e-4)
    disparity -= disparity.min()
    return (disparity / max(float(disparity.max()), 1e-6)).astype(np.float32)
