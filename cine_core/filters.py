"""Image filters on tensors used by several stages (motion, rendering, render passes).

Low level: imports nothing from the rest of the core, so a stage can use a filter without
depending on another stage.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def fill_holes(image: torch.Tensor, coverage: torch.Tensor) -> torch.Tensor:
    """Pull-push hole filling (Grossman & Dally 1998): uncovered pixels take the colour of the
    nearest covered surroundings, averaged over a pyramid; covered pixels keep their value.

    Args:
        image: (C, H, W) values (meaningful where coverage > 0).
        coverage: (1, H, W) confidence in [0, 1].

    Returns:
        (C, H, W) with coverage-1 pixels unchanged.
    """
    premultiplied = [(image * coverage)[None]]
    weights = [coverage[None]]
    # A fixed pyramid depth (no data-dependent stopping) keeps CUDA free of host syncs.
    while min(weights[-1].shape[-2:]) > 1:
        pooled_w = F.avg_pool2d(weights[-1], 2, ceil_mode=True) * 4.0
        pooled_c = F.avg_pool2d(premultiplied[-1], 2, ceil_mode=True) * 4.0
        saturated = pooled_w.clamp(max=1.0)
        scale = saturated / pooled_w.clamp(min=1e-8)
        premultiplied.append(pooled_c * scale)
        weights.append(saturated)
    colour = premultiplied[-1] / weights[-1].clamp(min=1e-8)
    for level in range(len(weights) - 2, -1, -1):
        upsampled = F.interpolate(colour, size=weights[level].shape[-2:], mode="bilinear",
                                  align_corners=False)
        colour = premultiplied[level] + (1.0 - weights[level]) * upsampled
    return colour[0]


def upsample_bilinear(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., h, w) -> (..., H, W) bilinear with pixel centres aligned, as
    ``F.interpolate(image, size, mode="bilinear", align_corners=False)`` up to float rounding.

    Two 1-D passes, the first on the small grid: on the CPU about twice as fast as PyTorch's
    2-D kernel, which weighs four samples for every output pixel.
    """
    return _linear_along(_linear_along(image, -1, size[1]), -2, size[0])


def _linear_along(image: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    """``image`` resampled linearly to ``size`` samples along ``dim`` (pixel centres aligned,
    edges repeated)."""
    count = image.shape[dim]
    source = (torch.arange(size, device=image.device, dtype=image.dtype) + 0.5).mul_(count / size).sub_(0.5)
    low = source.clamp_(min=0.0).long()
    upper = source.sub_(low)  # the weight of the next sample
    shape = [size if axis == dim % image.dim() else 1 for axis in range(image.dim())]
    lower = (1.0 - upper).view(shape)
    high = (low + 1).clamp_(max=count - 1)
    return image.index_select(dim, low).mul_(lower).add_(image.index_select(dim, high).mul_(upper.view(shape)))
