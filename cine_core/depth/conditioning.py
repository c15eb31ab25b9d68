"""From a raw depth or disparity map to the scene's conditioned depth.

Conventions (the published method's): disparity is normalised so the nearest point has
disparity 1, depth = 1 / disparity, so depth >= 1 and scene units are "nearest point at depth 1".
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..errors import CineError


@dataclass(frozen=True)
class DepthMap:
    """Conditioned depth of the photo.

    Attributes:
        depth: (H, W) float32, >= 1, in scene units (nearest point = 1).
    """

    depth: torch.Tensor

    @property
    def disparity(self) -> torch.Tensor:
        """(H, W) float32 in (0, 1], 1 at the nearest point."""
        return 1.0 / self.depth


def raw_to_disparity(raw: np.ndarray, kind: str) -> np.ndarray:
    """Map a depth (larger = farther) or disparity (larger = nearer) map to disparity-like values.

    Non-finite entries become the median; for ``kind="depth"`` non-positive depths are invalid.
    Values are clipped to +-1e30 so that the normalisation's differences stay finite.
    """
    values = raw.astype(np.float64, copy=True)
    finite = np.isfinite(values)
    if kind == "depth":
        finite &= values > 0
        if not finite.any():
            raise CineError("the depth map has no positive values; is it a disparity map? (try disparity)",
                            parameter="depth_kind")
        values[finite] = 1.0 / values[finite]
    elif kind != "disparity":
        raise CineError(f"must be 'depth' or 'disparity', not {kind!r}", parameter="depth_kind")
    if not finite.any():
        raise CineError("the depth map holds no finite values")
    values[~finite] = np.median(values[finite])
    # Far beyond any real range, but differences of these still fit float32 (no inf, no NaN).
    return np.clip(values, -1e30, 1e30).astype(np.float32)


def check_same_view(shape: tuple[int, ...], size: tuple[int, int]) -> None:
    """Refuse a depth map of ``shape`` (h, w, ...) whose aspect differs from the photo's
    ``size`` (width, height) by more than 2%, beyond what rounding ``size`` to whole pixels
    changes (a photo shrunk to a few dozen pixels): it cannot show the same view."""
    width, height = size
    rounding = 0.5 / width + 0.5 / height
    if abs(shape[1] / shape[0] - width / height) > (0.02 + rounding) * width / height:
        raise CineError(f"the depth map is {shape[1]}x{shape[0]} but the photo is {width}x{height}; "
                        f"they must show the same view")


def condition_depth(disparity_like: np.ndarray, size: tuple[int, int], *, max_depth: float = 50.0,
                    filter_size: int = 5, metric: bool = False) -> DepthMap:
    """Normalise robustly, filter edge-aware and clip.

    Steps: resize to ``size`` (bicubic), map the 0.5th..99.5th percentile range to
    [1/max_depth, 1] (robust to the negative and extreme values of real network output),
    median filter then bilateral filter (as Still-to-Reel) so depth edges are clean and aligned,
    and clip depth to [1, max_depth] ("depth clipping": the far sky would otherwise reach
    depth 10^6 and swallow all parallax).

    Args:
        disparity_like: (h, w) values, larger = nearer, any scale or offset.
        size: (width, height) of the working image.
        max_depth: farthest depth kept, in units of the nearest depth.
        filter_size: median/bilateral kernel size in pixels (0 disables filtering).
        metric: the values are true inverse distances up to one scale (e.g. rendered from proxy
            geometry): only divide by the 99.5th percentile and clip, keeping depth ratios.
    """
    width, height = size
    check_same_view(disparity_like.shape, size)
    values = cv2.resize(disparity_like, (width, height), interpolation=cv2.INTER_CUBIC)
    low, high = np.percentile(values, [0.5, 99.5])
    if metric:
        low = 0.0
    if high - low < 1e-8 * max(1.0, abs(high)):
        normalised = np.ones_like(values)  # a flat map: everything at the same depth
    else:
        normalised = np.clip((values - low) / (high - low), 0.0, 1.0)
    if filter_size:
        normalised = cv2.medianBlur(normalised.astype(np.float32), filter_size)
        normalised = cv2.bilateralFilter(normalised, filter_size, 0.05, filter_size)
    min_disparity = 1.0 / max_depth
    if metric:
        disparity = np.clip(normalised, min_disparity, 1.0)
    else:
        disparity = min_disparity + (1.0 - min_disparity) * np.clip(normalised, 0.0, 1.0)
    return DepthMap(depth=torch.from_numpy(1.0 / disparity.astype(np.float32)).clamp(1.0, max_depth))


def metric_scale(disparity: np.ndarray, depth: torch.Tensor) -> float:
    """Length units per scene unit of a depth conditioned from true inverse distances
    (``condition_depth(..., metric=True)``): the median of distance / depth over the pixels that
    see something, exact where the depth was neither filtered nor clipped.

    Args:
        disparity: (H, W) the given 1 / distance, in 1 / length units (e.g. 1 / metres); 0 where
            nothing is seen (the sky).
        depth: (H, W) the conditioned depth at the same size, in scene units.
    """
    if disparity.ndim != 2 or tuple(disparity.shape) != tuple(depth.shape):
        raise CineError(f"the distances ({'x'.join(map(str, disparity.shape))}) and the conditioned depth "
                        f"({'x'.join(map(str, depth.shape))}) must be (H, W) maps of the same size")
    seen = np.isfinite(disparity) & (disparity > 0)
    if not seen.any():
        raise CineError("no pixel sees anything at a finite distance: the scale of the scene is unknown")
    return float(np.median(1.0 / disparity[seen] / depth.numpy()[seen]))
