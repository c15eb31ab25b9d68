"""What moves, from the DPT-Hybrid ADE20K segmentation: the motion detection's learned method
(the classical one is :func:`~cine_core.motion.detect.detect_motion`)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..depth.dpt import dpt_batch
from .detect import KINDS

#: The DPT segmentation script's input side (same resize rule).
SEGMENT_SIZE = 480
#: ADE20K output channels (0-based, objectInfo150 order) that move, and the kind of motion each
#: gets (:data:`cine_core.motion.detect.KINDS`).
ADE20K_KINDS = {2: "sky", 21: "sea", 26: "sea", 128: "lake", 60: "river", 113: "waterfall", 104: "fountain"}
_KIND_OF_CLASS = {"lake": "sea", "fountain": "waterfall"}
#: Most bytes of logits upsampled to the photo's size at once: 5 of the 150 channels at
#: 1024x683, 1 at 2048x1365 (30 channels there took 335 MB). At 64 MB the chunks, with the
#: bilinear step's, passed the segmentation network's own peak.
LOGITS_BYTES_AT_ONCE = 16 << 20


@torch.inference_mode()
def segment_motion_kinds(net: torch.nn.Module, rgb: torch.Tensor) -> np.ndarray:
    """The moving kinds of each pixel from the DPT-Hybrid ADE20K segmentation.

    Reference pre-processing (DPT's ``run_segmentation``): :func:`~cine_core.depth.dpt.dpt_batch`
    at side 480 (bicubic, mean 0.5, std 0.5); the 150 logits are
    upsampled bicubically to the photo and the argmax taken (here in chunks of channels, from
    the net's logits before its own last upsampling, which gives the same argmax without
    holding all 150 maps at the net's input size or at the photo's at once).

    Args:
        net: a loaded :class:`~cine_core.nets.dpt.DPTSegmentation` in eval mode.
        rgb: (3, H, W) photo in [0, 1].

    Returns:
        (H, W) int32: 0 = still, else 1 + index into :data:`cine_core.motion.detect.KINDS`.
    """
    height, width = rgb.shape[1:]
    device = next(net.parameters()).device
    logits = net.half_size_logits(dpt_batch(rgb, SEGMENT_SIZE, device))
    best = torch.full((height, width), -torch.inf, device=device)
    classes = torch.zeros((height, width), dtype=torch.long, device=device)
    step = max(1, LOGITS_BYTES_AT_ONCE // (4 * height * width))
    for start in range(0, logits.shape[1], step):
        # One expression, so the chunk at the photo's size is freed before the next is made.
        value, index = F.interpolate(net.upsample_logits(logits[:, start:start + step]).float(), size=(height, width),
                                     mode="bicubic", align_corners=False)[0].max(dim=0)
        better = value > best
        best = torch.where(better, value, best)
        classes = torch.where(better, index + start, classes)
    classes = classes.cpu().numpy()
    kinds = np.zeros((height, width), np.int32)
    for channel, name in ADE20K_KINDS.items():
        kinds[classes == channel] = list(KINDS).index(_KIND_OF_CLASS.get(name, name)) + 1
    return kinds


