"""The 3D-Photo-Inpainting nets as the layer stage's learned inpainter (the classical one is
:func:`~cine_core.layers.ldi.classical_inpaint`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch

from ..io.images import to_numpy_image
from ..nets.inpaint_nets import UNIT_LENGTH
from .ldi import hole_window

@dataclass
class NetworkInpainter:
    """The 3D-Photo-Inpainting nets as a :data:`~cine_core.layers.ldi.Inpainter` for ``build_layers``.

    As the reference's ``Inpainter``: depth is inpainted in log space with the context mean
    subtracted, colour separately from the context colours, edges are zero, and the input is
    zero-padded (centred) to multiples of 128. The nets run on the hole's bounding box grown by a
    margin of context (the reference runs them on the whole photo; far context barely matters and
    the crop saves time), downscaled when that box is longer than ``max_side``.

    The nets are loaded for each hole, one after the other, and dropped after use: only one
    net's weights (206 MB each) are held beside the other's activations. Loading one takes about
    0.2 s; holding both cost 206 MB more at the layer stage's peak.

    Args:
        load_depth_net, load_color_net: functions returning a loaded
            :class:`~cine_core.nets.inpaint_nets.DepthInpaintNet` and
            :class:`~cine_core.nets.inpaint_nets.ColorInpaintNet`, eval mode (e.g.
            :meth:`~cine_core.pipeline.backend.NeuralBackend.loader`).
        max_side: longest side the nets see.
        device: where the nets run (where the loaded nets are).
    """

    load_depth_net: Callable[[], torch.nn.Module]
    load_color_net: Callable[[], torch.nn.Module]
    max_side: int = 1280
    device: torch.device | str = "cpu"

    @torch.inference_mode()
    def __call__(self, rgb: np.ndarray, log_depth: np.ndarray, context: np.ndarray,
                 hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import kornia.filters  # only where the nets run (see cine_core.depth.estimate.guided_filter)

        rows, cols = np.nonzero(hole)
        extent = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
        # Context of half the hole's extent, at least one unit of the nets' sides.
        crop, size, factor = hole_window(hole, max(UNIT_LENGTH, extent // 2), self.max_side)

        def prepare(array: np.ndarray, nearest: bool = False) -> torch.Tensor:
            array = np.ascontiguousarray(array[crop], dtype=np.float32)
            if factor < 1.0:
                array = cv2.resize(array, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)
            tensor = torch.from_numpy(array)
            tensor = tensor.permute(2, 0, 1) if tensor.ndim == 3 else tensor[None]
            return tensor[None].to(self.device)

        known = prepare(context.astype(np.float32), nearest=True)
        holes = prepare(hole.astype(np.float32), nearest=True) * (1.0 - known)
        depth = prepare(log_depth)
        colour = prepare(rgb)
        edge = torch.zeros_like(known)
        if not bool((known > 0).any()):
            return rgb.copy(), log_depth.copy()
        mean = depth[known > 0].mean()
        zero_mean = (depth - mean) * known
        filled_log = self.load_depth_net().inpaint(holes, known, zero_mean, edge) + mean
        # Reference post-processing: context kept, then a 3x3 Gaussian (sigma 1.5) on the depth.
        filled_depth = torch.where(known > 0.5, depth, filled_log).exp()
        filled_depth = kornia.filters.gaussian_blur2d(filled_depth, (3, 3), (1.5, 1.5))
        filled_log = torch.where(known > 0.5, depth, filled_depth.clamp(min=1e-6).log())
        filled_rgb = self.load_color_net().inpaint(holes, known, colour * known, edge).clamp(0, 1)

        out_rgb, out_log = rgb.copy(), log_depth.copy()
        full = (crop[1].stop - crop[1].start, crop[0].stop - crop[0].start)
        result_rgb = to_numpy_image(filled_rgb[0].float())
        result_log = filled_log[0, 0].float().cpu().numpy()
        if factor < 1.0:
            result_rgb = cv2.resize(result_rgb, full, interpolation=cv2.INTER_LINEAR)
            result_log = cv2.resize(result_log, full, interpolation=cv2.INTER_LINEAR)
        out_rgb[crop] = result_rgb
        out_log[crop] = result_log
        return out_rgb, out_log


