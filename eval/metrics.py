"""Image and video metrics for the quality evaluation (SSIM from kornia, optical flow from OpenCV).

Conventions: images are (H, W, 3) uint8 RGB arrays or (3, H, W) float tensors in [0, 1]; the
data range is 1 (equivalently 255 for 8-bit), so PSNR is 10 log10(1 / MSE) on [0, 1] values.
Masks are (H, W) bool arrays or tensors, True inside the region. Temporal metrics (flicker,
loop seam, still-region change) are reported in 8-bit levels (0..255) so they read as "levels
of change"; flow in pixels per frame of the frames given.
"""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import kornia
import numpy as np
import torch

#: SSIM window (Wang et al. 2004): an 11-tap Gaussian, sigma 1.5 (kornia's fixed sigma).
SSIM_WINDOW = 11
#: The luminance constant of SSIM for data range 1 (kornia's): C1 = (0.01 L)^2.
SSIM_C1 = 0.01 ** 2
#: "Strong" gradients are those above this quantile of the photo's gradient magnitudes inside
#: the moving region: the photo itself has a density of 1 - 0.8 = 0.2 there.
STRONG_GRADIENT_QUANTILE = 0.8
#: ... but never below this magnitude (levels of [0, 1] per pixel), so codec noise on a flat
#: region (sky, mist) does not count as texture.
STRONG_GRADIENT_FLOOR = 2.0 / 255.0
#: The moving region is grown by this fraction of the image's long side before "still" pixels
#: are judged, so the fluid's own soft edge is not counted as a still pixel changing.
STILL_MARGIN = 0.04
#: A region pixel whose mean change in the real video is at most this many 8-bit levels is
#: still there (:func:`still_inside`).
STILL_INSIDE_LEVELS = 4.0


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


def ssim_map(a, b, window: int = SSIM_WINDOW) -> torch.Tensor:
    """Per-pixel SSIM (``kornia.metrics.ssim``, padding "same"), averaged over the 3 channels.

    The map has the image's size, so it can be averaged inside a mask. Images smaller than the
    window get the largest odd window their reflect padding allows. Returns (H, W) float32.
    """
    x, y = as_tensor(a).cpu(), as_tensor(b).cpu()
    if x.shape != y.shape:
        raise ValueError(f"SSIM of images of different shapes {tuple(x.shape)} and {tuple(y.shape)}")
    pad = max(0, min(window // 2, min(x.shape[1:]) - 1))  # reflect padding needs pad < side
    return kornia.metrics.ssim(x[None], y[None], 2 * pad + 1)[0].mean(0)


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


# ---------------------------------------------------------------------------- texture

def grey(image) -> np.ndarray:
    """(H, W) float32 luma (Rec. 601) in [0, 1] of an image."""
    rgb = as_tensor(image).cpu().numpy()
    return (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]).astype(np.float32)


def gradient_magnitude(image) -> np.ndarray:
    """(H, W) float32 |grad| of the luma, in [0, 1] levels per pixel (3x3 Sobel divided by 8)."""
    luma = grey(image)
    gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    return np.sqrt(gx * gx + gy * gy)


def strong_gradient_threshold(photo, mask) -> float:
    """The magnitude above which a gradient counts as strong inside ``mask``: the photo's
    :data:`STRONG_GRADIENT_QUANTILE` there, at least :data:`STRONG_GRADIENT_FLOOR`."""
    region = np.asarray(mask, dtype=bool)
    if not region.any():
        return float("nan")
    values = gradient_magnitude(photo)[region]
    return max(float(np.quantile(values, STRONG_GRADIENT_QUANTILE)), STRONG_GRADIENT_FLOOR)


def gradient_density(image, mask, threshold: float) -> float:
    """Fraction of the pixels inside ``mask`` whose gradient magnitude exceeds ``threshold``.

    Blurring or averaging two unrelated textures lowers it; hard false edges raise it.
    """
    region = np.asarray(mask, dtype=bool)
    if not region.any():
        return float("nan")
    return float((gradient_magnitude(image)[region] > threshold).mean())


def texture_kept(frames: Sequence, references: Sequence, mask, threshold: float) -> float:
    """Mean strong-gradient density of ``frames`` divided by that of ``references`` (1 = as
    much fine texture as the reference, below 1 = softer)."""
    ours = np.mean([gradient_density(f, mask, threshold) for f in frames])
    reference = np.mean([gradient_density(f, mask, threshold) for f in references])
    return float(ours / reference) if reference > 0 else float("nan")


# ---------------------------------------------------------------------------- motion

def dis_flow(a, b) -> np.ndarray:
    """(2, H, W) float32 optical flow from ``a`` to ``b`` (pixels), OpenCV's DIS (medium preset)
    on the luma."""
    solver = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    first = (grey(a) * 255.0 + 0.5).astype(np.uint8)
    second = (grey(b) * 255.0 + 0.5).astype(np.uint8)
    return solver.calc(first, second, None).transpose(2, 0, 1)


def mean_flow(frames: Sequence) -> np.ndarray:
    """(2, H, W) the DIS flow between consecutive frames, averaged over the clip (pixels per
    frame); averaging over time keeps the fluid's steady motion and cancels its turbulence."""
    if len(frames) < 2:
        raise ValueError("the mean flow needs at least two frames")
    total = np.zeros((2, *np.asarray(frames[0]).shape[:2]), np.float64)
    for previous, current in zip(frames[:-1], frames[1:]):
        total += dis_flow(previous, current)
    return (total / (len(frames) - 1)).astype(np.float32)


def flow_agreement(flow: np.ndarray, reference: np.ndarray, mask) -> dict:
    """How ``flow`` matches ``reference`` ((2, H, W) each) inside ``mask``.

    * ``speed``, ``reference_speed``: mean |flow| over the region (pixels per frame);
    * ``ratio``: speed / reference_speed (1 = as fast);
    * ``cosine``: sum(f . r) / sum(|f| |r|), the per-pixel direction agreement weighted by both
      magnitudes (1 = same direction everywhere, 0 = perpendicular, -1 = opposite).
    """
    region = np.asarray(mask, dtype=bool)
    f, r = flow[:, region].astype(np.float64), reference[:, region].astype(np.float64)
    norm_f, norm_r = np.linalg.norm(f, axis=0), np.linalg.norm(r, axis=0)
    speed, reference_speed = float(norm_f.mean()), float(norm_r.mean())
    weight = float((norm_f * norm_r).sum())
    return {"speed": speed, "reference_speed": reference_speed,
            "ratio": speed / reference_speed if reference_speed > 0 else float("nan"),
            "cosine": float((f * r).sum() / weight) if weight > 0 else float("nan")}


# ---------------------------------------------------------------------------- still region

def grown_mask(mask, fraction: float = STILL_MARGIN) -> np.ndarray:
    """(H, W) bool: ``mask`` grown by ``fraction`` of the long side (a disc-shaped dilation)."""
    region = np.asarray(mask, dtype=bool)
    radius = int(round(fraction * max(region.shape)))
    if radius <= 0:
        return region.copy()
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(region.astype(np.uint8), disc) > 0


def largest_change(frames: Sequence[np.ndarray], reference: np.ndarray, region) -> int:
    """The largest |frame - reference| (8-bit levels, any channel) of a pixel inside ``region``
    over all ``frames``; 0 for an empty region."""
    inside = np.asarray(region, dtype=bool)
    if not inside.any():
        return 0
    still = _levels(reference)[inside]
    return int(max(np.abs(_levels(f)[inside] - still).max() for f in frames))


def still_inside(ours: Sequence[np.ndarray], real: Sequence[np.ndarray], photo: np.ndarray, region) -> dict:
    """How much the pixels of the region that the real video shows still change in ours.

    A region pixel is still in the real video when its mean |frame - photo| over the clip (8-bit
    levels, mean of the channels) is at most :data:`STILL_INSIDE_LEVELS` (rock in a river,
    wires in front of smoke: only sensor noise and the codec change them). Returns the share of
    the region that is still (``fraction``), the mean change of those pixels in ours and in the
    real video (levels, over frames 1..N-1) and their ``ratio`` (ours / real; 1 = as still).
    """
    inside = np.asarray(region, dtype=bool)
    real_change = np.mean([np.abs(_levels(f) - _levels(photo)).mean(axis=2) for f in real[1:]], axis=0)
    still = inside & (real_change <= STILL_INSIDE_LEVELS)
    if not still.any():
        return {"fraction": 0.0, "ours": float("nan"), "real": float("nan"), "ratio": float("nan")}
    ours_change = np.mean([np.abs(_levels(f) - _levels(photo)).mean(axis=2)[still] for f in ours[1:]])
    real_mean = float(real_change[still].mean())
    return {"fraction": float(still.sum() / inside.sum()), "ours": float(ours_change), "real": real_mean,
            "ratio": float(ours_change) / real_mean if real_mean > 0 else float("nan")}
