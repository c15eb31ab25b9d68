"""Depth from MiDaS 3.0 DPT-Hybrid (the published method's depth network), with the reference's
input and output handling."""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..io.images import to_numpy_image

#: DPT input: short side 384, sides multiples of 32 (MiDaS "minimal" resize).
DPT_SIZE, DPT_MULTIPLE = 384, 32


def dpt_input_size(width: int, height: int, side: int = DPT_SIZE) -> tuple[int, int]:
    """(width, height) the reference feeds DPT: MiDaS ``Resize(side, side, keep_aspect_ratio=True,
    ensure_multiple_of=32, resize_method="minimal")`` (1280x720 -> 672x384 for the depth model's
    384; the segmentation script uses 480)."""
    scale_w, scale_h = side / width, side / height
    # "minimal": scale as little as possible, i.e. take the factor closer to 1.
    scale = scale_w if abs(1 - scale_w) < abs(1 - scale_h) else scale_h

    def multiple(value: float) -> int:
        return max(DPT_MULTIPLE, int(np.round(value / DPT_MULTIPLE) * DPT_MULTIPLE))

    return multiple(scale * width), multiple(scale * height)


def dpt_batch(rgb: torch.Tensor, side: int, device: torch.device) -> torch.Tensor:
    """(1, 3, h, w) input of the DPT networks: RGB in [0, 1] resized bicubically (OpenCV) to
    :func:`dpt_input_size` for ``side``, normalised with mean 0.5 and std 0.5."""
    size = dpt_input_size(rgb.shape[2], rgb.shape[1], side)
    image = cv2.resize(to_numpy_image(rgb).astype(np.float32), size, interpolation=cv2.INTER_CUBIC)
    return torch.from_numpy((image - 0.5) / 0.5).permute(2, 0, 1)[None].to(device)


@torch.inference_mode()
def dpt_disparity(net: torch.nn.Module, rgb: torch.Tensor) -> np.ndarray:
    """Relative inverse depth of the photo from DPT-Hybrid, at the photo's size.

    Reference pre-processing (:func:`dpt_batch` at side 384); the output is resized back
    bicubically. Float32.

    Args:
        net: a loaded :class:`~cine_core.nets.dpt.DPTHybrid` in eval mode.
        rgb: (3, H, W) photo in [0, 1].

    Returns:
        (H, W) float32, larger = nearer, unnormalised (the depth conditioning normalises it).
    """
    height, width = rgb.shape[1:]
    prediction = net(dpt_batch(rgb, DPT_SIZE, next(net.parameters()).device))[:, None].float()
    prediction = F.interpolate(prediction, size=(height, width), mode="bicubic", align_corners=False)
    return prediction[0, 0].cpu().numpy().astype(np.float32)
