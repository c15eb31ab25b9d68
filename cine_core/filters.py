"""Image filters on tensors used by several stages (motion, rendering, render passes).

Low level: imports nothing from the rest of the core, so a stage can use a filter without
depending on another stage.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_bilinear(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, *size): bilinear (``align_corners=False``), each channel as a
    single-channel image, which PyTorch's kernel resizes three to four times faster than the
    channels of one image (4.6 vs 15.8 ms for three 1280x720 channels on one thread; equal up
    to float rounding)."""
    resized = F.interpolate(image.reshape(-1, 1, *image.shape[-2:]), size=size, mode="bilinear", align_corners=False)
    return resized.view(*image.shape[:-2], *size)


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
        upsampled = resize_bilinear(colour, weights[level].shape[-2:])
        colour = premultiplied[level] + (1.0 - weights[level]) * upsampled
    return colour[0]
