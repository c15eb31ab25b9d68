"""The motion network (3D Cinemagraphy's SPADE U-Net) as the motion stage's learned method: the
Eulerian flow from the photo, the moving region and the dense hint, with the reference's input
and output handling. The classical method is :func:`~cine_core.motion.flow.eulerian_flow`."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..io.motion_rules import motion_mask

#: side of the square grid the motion network runs on in the reference.
MOTION_SIZE = 768
#: the reference's 15x15 box blur of the predicted flow, at MOTION_SIZE.
MOTION_BLUR = 15


class MotionPredictor:
    """The motion network with the reference's input and output handling.

    The network stays in training mode (the reference never switches it: spectral norm does one
    power iteration per forward and updates its stored vectors). To give the same flow every
    time, the vectors as loaded are restored before each prediction, so every call equals the
    reference's first (and only) forward after loading.
    """

    def __init__(self, net: torch.nn.Module, size: int = MOTION_SIZE):
        self.net = net
        self.size = size
        self._loaded = {k: v.detach().clone() for k, v in net.state_dict().items()
                        if k.endswith(("weight_u", "weight_v"))}

    @torch.no_grad()
    def __call__(self, rgb: torch.Tensor, mask: torch.Tensor, hint: torch.Tensor) -> torch.Tensor:
        """Dense flow from the photo, the moving-region mask and the dense hint.

        Reference steps: inputs at ``size`` x ``size`` (RGB in [-1, 1], bicubic with
        antialiasing as PIL; mask area-resized; hint bilinear with x scaled by size/W and y by
        size/H); output * mask; one 15x15 box blur (zero padded); * mask; x scaled by W/size and
        y by H/size; bilinear resize to H x W.

        Args:
            rgb: (3, H, W) in [0, 1].
            mask: (H, W) moving region (bool or {0, 1}).
            hint: (2, H, W) dense hint in pixels per frame (zero outside the mask).

        Returns:
            (2, H, W) float32 flow in pixels per frame.
        """
        height, width = rgb.shape[1:]
        size = self.size
        device = next(self.net.parameters()).device
        image = F.interpolate(rgb[None].float().to(device), size=(size, size), mode="bicubic",
                              align_corners=False, antialias=True).clamp(0, 1) * 2.0 - 1.0
        grid_mask = F.interpolate(mask[None, None].float().to(device), size=(size, size), mode="area")
        scale_in = torch.tensor([size / width, size / height], device=device).reshape(1, 2, 1, 1)
        grid_hint = F.interpolate(hint[None].float().to(device) * scale_in, size=(size, size),
                                  mode="bilinear", align_corners=False)
        for name, buffer in self.net.named_buffers():
            if name in self._loaded:
                buffer.copy_(self._loaded[name])
        self.net.train()  # never eval(): see the class docstring
        flow = self.net(image, grid_mask, grid_hint) * grid_mask
        kernel = max(3, round(MOTION_BLUR * size / MOTION_SIZE) | 1)
        flow = F.avg_pool2d(flow, kernel, stride=1, padding=kernel // 2, count_include_pad=True)
        flow = flow * grid_mask
        scale_out = torch.tensor([width / size, height / size], device=device).reshape(1, 2, 1, 1)
        flow = F.interpolate(flow * scale_out, size=(height, width), mode="bilinear", align_corners=False)
        return flow[0].float().cpu()


def neural_flow(predictor: MotionPredictor, rgb: torch.Tensor, mask: np.ndarray | None,
                hint_flow: torch.Tensor, flow_scale: float) -> torch.Tensor:
    """The pipeline's flow stage with the motion network.

    Args:
        predictor: the loaded network.
        rgb: (3, H, W) photo.
        mask: (H, W) bool moving region from the annotation, or None (then the support of the
            hint field is the mask, as for hints given without a mask).
        hint_flow: (2, H, W) the classical flow (dense hint kept in the mask), already
            multiplied by ``flow_scale``; zero where the network should predict the motion from
            the photo alone (regions found automatically).
        flow_scale: the speed multiplier (ours: 2 = twice as fast; the reference divides).

    Returns:
        (2, H, W) flow in working pixels per frame.
    """
    region = torch.from_numpy(np.asarray(mask, dtype=bool)) if mask is not None else motion_mask(hint_flow)
    if flow_scale <= 0 or not bool(region.any()):
        return torch.zeros_like(hint_flow)
    hint = hint_flow / float(flow_scale) * region
    return predictor(rgb, region, hint) * float(flow_scale)
