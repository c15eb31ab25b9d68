"""Depth from Depth Anything V2 Small, with the reference's input and output handling
(``DepthAnythingV2.infer_image`` of the published code)."""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..io.images import to_numpy_image
from ..nets.depth_anything import IMAGENET_MEAN, IMAGENET_STD, PATCH, PRETRAIN_SIDE


def input_size(width: int, height: int, side: int = PRETRAIN_SIDE) -> tuple[int, int]:
    """(width, height) the reference feeds the network: the short side scaled to at least
    ``side``, aspect kept, each side rounded to a multiple of 14 and never below ``side``
    (the reference's ``Resize(..., resize_method="lower_bound", ensure_multiple_of=14)``):
    1280x720 -> 924x518."""
    scale = max(side / width, side / height)

    def multiple(value: float) -> int:
        rounded = int(np.round(value / PATCH) * PATCH)
        return rounded if rounded >= side else int(np.ceil(value / PATCH) * PATCH)

    return multiple(scale * width), multiple(scale * height)


@torch.inference_mode()
def depth_anything_disparity(net: torch.nn.Module, rgb: torch.Tensor) -> np.ndarray:
    """Relative inverse depth of the photo from Depth Anything V2, at the photo's size.

    RGB in [0, 1] (float64, as the reference divides by 255.0) resized bicubically (OpenCV) to
    :func:`input_size`, normalised with the ImageNet mean and std; the output is resized back
    bilinearly with ``align_corners=True``.

    Args:
        net: a loaded :class:`~cine_core.nets.depth_anything.DepthAnythingV2` in eval mode.
        rgb: (3, H, W) photo in [0, 1].

    Returns:
        (H, W) float32, larger = nearer, unnormalised (the depth conditioning normalises it).
    """
    height, width = rgb.shape[1:]
    image = cv2.resize(to_numpy_image(rgb).astype(np.float64), input_size(width, height),
                       interpolation=cv2.INTER_CUBIC)
    image = ((image - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).astype(np.float32)
    device = next(net.parameters()).device
    prediction = net(torch.from_numpy(image).permute(2, 0, 1)[None].to(device))[:, None].float()
    prediction = F.interpolate(prediction, size=(height, width), mode="bilinear", align_corners=True)
    return prediction[0, 0].cpu().numpy().astype(np.float32)
