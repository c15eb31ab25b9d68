"""Image and video metrics for the quality evaluation, implemented here (no extra dependency).

Conventions: images are (H, W, 3) uint8 RGB arrays or (3, H, W) float tensors in [0, 1]; the
data range is 1 (equivalently 255 for 8-bit), so PSNR is 10 log10(1 / MSE) on [0, 1] values.
Masks are (H, W) bool arrays or tensors, True inside the region. Temporal metrics (flicker,
loop seam) are reported in 8-bit grey levels (0..255) so they read as "levels of change".
"""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np
import torch

#: SSIM constants of Wang et al. 2004 for data range 1: C1 = (0.01 L)^2, C2 = (0.03 L)^2.
SSIM_C1 = 0.01 ** 2
SSIM_C2 = 0.03 ** 2
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def as_tensor(image, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(3, H, W) floats in [0, 1] from an (H, W, 3) uint8 array or a (3, H, W) tensor."""
    if isinstance(image, torch.Tensor):
        return image.detach().to(dtype)
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).to(dtype) / 255.0
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).to(dtype)


def as_mask(mask) -> torch.Tensor:
    """(H, W) bool tensor."""
    if isinstance(mask, torch.Tensor):
        return mask.to(torch.bool)
    return torch.from_numpy(np.asarray(mask).astype(bool))


def mse(a, b, mask=None) -> float:
    """Mean squared error over all channels, inside ``mask`` when given (NaN for an empty mask)."""
    diff = (as_tensor(a, torch.float64) - as_tensor(b, torch.float64)).square()
    if mask is not None:
        region = as_mask(mask)
        if not bool(region.any()):
            return float("nan")
        diff = diff[:, region]
    return float(diff.mean())


def psnr(a, b, mask=None) -> float:
    """Peak signal-to-noise ratio in dB (data range 1); ``inf`` for identical images."""
    error = mse(a, b, mask)
    if math.isnan(error):
        return float("nan")
    if error == 0.0:
        return float("inf")
    return 10.0 * math.log10(1.0 / error)


def _blur(x: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """Gaussian blur of (H, W, C) float32 with reflect padding (output keeps the size).

    OpenCV's kernel is exp(-(i - (size - 1) / 2)^2 / (2 sigma^2)) normalised, the same as
    torch/kornia's, and BORDER_REFLECT_101 is torch's "reflect" padding; it is ~20x faster than
    a 1-channel torch conv2d on the CPU.
    """
    return cv2.GaussianBlur(x, (size, size), sigma, borderType=cv2.BORDER_REFLECT_101)


def ssim_map(a, b, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Per-pixel SSIM (Wang et al. 2004), Gaussian window, averaged over the 3 channels.

    Local statistics use an ``window``-tap Gaussian (sigma 1.5) with reflect padding, so the map
    has the image's size and can be averaged inside a mask (same values as
    ``kornia.metrics.ssim(..., padding="same")``). Returns (H, W) float32.
    """
    x = as_tensor(a).cpu().permute(1, 2, 0).contiguous().numpy()
    y = as_tensor(b).cpu().permute(1, 2, 0).contiguous().numpy()
    if x.shape != y.shape:
        raise ValueError(f"SSIM of images of different shapes {x.shape} and {y.shape}")
    height, width = x.shape[:2]
    pad = max(0, min(window // 2, min(height, width) - 1))  # reflect padding needs pad < side
    size = 2 * pad + 1
    mu_x, mu_y = _blur(x, size, sigma), _blur(y, size, sigma)
    var_x = _blur(x * x, size, sigma) - mu_x * mu_x
    var_y = _blur(y * y, size, sigma) - mu_y * mu_y
    cov = _blur(x * y, size, sigma) - mu_x * mu_y
    numerator = (2.0 * mu_x * mu_y + SSIM_C1) * (2.0 * cov + SSIM_C2)
    denominator = (mu_x * mu_x + mu_y * mu_y + SSIM_C1) * (var_x + var_y + SSIM_C2)
    values = (numerator / denominator).reshape(height, width, -1).mean(axis=2)
    return torch.from_numpy(values.astype(np.float32))


def ssim(a, b, mask=None) -> float:
    """Mean SSIM over the frame, or over the pixels inside ``mask`` (NaN for an empty mask)."""
    values = ssim_map(a, b)
    if mask is not None:
        region = as_mask(mask)
        if not bool(region.any()):
            return float("nan")
        values = values[region]
    return float(values.double().mean())


def _levels(frame) -> np.ndarray:
    array = np.asarray(frame)
    if array.dtype != np.uint8:
        raise TypeError("temporal metrics take (H, W, 3) uint8 frames")
    return array.astype(np.int16)


def mean_abs_change(a, b, mask=None) -> float:
    """Mean |a - b| in 8-bit levels over all channels, inside ``mask`` when given."""
    diff = np.abs(_levels(a) - _levels(b))
    if mask is not None:
        region = np.asarray(mask, dtype=bool)
        if not region.any():
            return float("nan")
        diff = diff[region]
    return float(diff.mean())


def flicker(frames: Sequence[np.ndarray], static_mask=None) -> float:
    """Mean absolute frame-to-frame change (8-bit levels) inside ``static_mask``.

    With ``static_mask`` = the complement of the motion mask this measures how much the part of
    the picture that should stand still changes between consecutive frames (0 for a perfect
    cinemagraph; sensor noise and codec artefacts for a real video). Averaged over the N - 1
    consecutive pairs (the wrap from the last frame to the first is the loop seam, not flicker).
    """
    if len(frames) < 2:
        return float("nan")
    return float(np.mean([mean_abs_change(frames[i], frames[i - 1], static_mask)
                          for i in range(1, len(frames))]))


def loop_seam(frames: Sequence[np.ndarray], mask=None) -> dict:
    """How visible the wrap is when the clip plays as a loop.

    Frames 0 .. N-1 are shown, then frame 0 again: the seam is the step from frame N-1 to frame N
    (= frame 0 of the next repetition). Reported in 8-bit levels inside ``mask`` (whole frame
    when None):

    * ``wrap``: mean |frame 0 - frame N-1|, the jump at the seam;
    * ``step``: mean |frame m - frame m-1| over m = 1 .. N-1, an ordinary step inside the clip;
    * ``ratio``: wrap / step; about 1 means the seam is as smooth as any other frame step,
      much larger means a visible jump.
    """
    if len(frames) < 2:
        return {"wrap": float("nan"), "step": float("nan"), "ratio": float("nan")}
    wrap = mean_abs_change(frames[0], frames[-1], mask)
    step = flicker(frames, mask)
    ratio = wrap / step if step > 0 else (1.0 if wrap == 0 else float("inf"))
    return {"wrap": wrap, "step": step, "ratio": ratio}
