"""Stride-1 convolutions over bands of rows: the same output as one pass, with the convolution's
input (and its own reordered copies of it) held one band at a time.

A network's widest maps sit at its input's size (the inpainting nets' last decoder step, DPT's
segmentation head); one convolution over such a map holds the map, a copy the convolution
library makes in its own layout, and the output. Each band of output rows is computed from the
input rows the kernel reaches, with zero rows where those lie past the image (the convolution's
own padding there), so every output value sees the same inputs as in one pass; only the
convolution library's choice of kernel for the band's shape may round differently.

A bilinear x2 upsampling in front of such a convolution can be made one band of rows at a time
too (:func:`upsampled_rows`), so that neither the upsampled map nor the convolution's output
(when a per-pixel step follows it, ``followed_by``) ever exists whole.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Largest input of a convolution made at once, in bytes (see :func:`rows_at_once`).
INPUT_BYTES_AT_ONCE = 32 << 20
#: Fewest output rows of a band.
MIN_ROWS = 8


def rows_at_once(conv: nn.Conv2d, batch: int, width: int, element_size: int, most_bytes: int | None = None) -> int:
    """Output rows of ``conv`` computed at once so that a band's input stays within
    ``most_bytes`` (default :data:`INPUT_BYTES_AT_ONCE`; at least :data:`MIN_ROWS` rows)."""
    row_bytes = batch * conv.in_channels * width * element_size
    return max(MIN_ROWS, (INPUT_BYTES_AT_ONCE if most_bytes is None else most_bytes) // max(row_bytes, 1))


def conv2d_in_bands(conv: nn.Conv2d, input_rows: Callable[[int, int], Tensor], height: int, width: int,
                    batch: int = 1, dtype: torch.dtype = torch.float32, most_bytes: int | None = None,
                    followed_by: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """``conv`` (stride 1, odd square kernel, ``padding = kernel // 2``) of an input of
    ``height`` rows, made by ``input_rows(top, bottom)``, which returns rows ``top:bottom`` of
    it (N, C_in, bottom - top, W); in one pass when the input fits in ``most_bytes`` (default
    :data:`INPUT_BYTES_AT_ONCE`), else in bands of :func:`rows_at_once` output rows.

    ``followed_by``, a per-pixel step (the rest of a head), is applied to each band of the
    convolution's output, so only its own output is kept whole.

    Returns:
        (N, C_out, height, W), or what ``followed_by`` makes of it, (N, C, height, W).
    """
    if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.padding[0] != conv.kernel_size[0] // 2:
        raise ValueError("conv2d_in_bands needs a stride-1 convolution padded to keep its size")
    finish_band = (lambda band: band) if followed_by is None else followed_by
    rows = rows_at_once(conv, batch, width, dtype.itemsize, most_bytes)
    if rows >= height:
        return finish_band(conv(input_rows(0, height)))
    reach = conv.padding[0]
    output = None
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        first, last = max(0, top - reach), min(height, bottom + reach)
        band = F.pad(input_rows(first, last), (0, 0, reach - (top - first), reach - (last - bottom)))
        band = finish_band(F.conv2d(band, conv.weight, conv.bias, padding=(0, conv.padding[1]), groups=conv.groups))
        if output is None:
            output = band.new_empty((*band.shape[:2], height, band.shape[3]))
        output[:, :, top:bottom] = band
        del band
    return output


def upsampled_rows(x: Tensor, top: int, bottom: int) -> Tensor:
    """Rows ``top:bottom`` of ``F.interpolate(x, scale_factor=2.0, mode="bilinear",
    align_corners=True)``, made from the input rows they reach only.

    The source rows and weights are PyTorch's (output row ``i`` samples input row
    ``i * (H - 1) / (2H - 1)``, in ``x``'s dtype); the rows are interpolated across first (by
    ``F.interpolate`` itself, keeping their number), then down, the lower row's product rounded
    and the upper one's added in one multiply-add: the order of PyTorch's CPU kernel (2.13,
    x86) for the maps of 64x64 and more that were tried (the DPT segmentation's 120x184 at
    480x736 among them), where the rows equal the whole map's bit for bit; on smaller maps
    (16x24) and with other kernels a value may differ by a rounding. Bands of any height give
    the same rows.

    Shape:
        - x: (N, C, H, W)
        - output: (N, C, bottom - top, 2W)
    """
    height = x.shape[-2]
    scale = torch.tensor(height - 1, dtype=x.dtype, device=x.device) / (2 * height - 1)
    source = scale * torch.arange(top, bottom, dtype=x.dtype, device=x.device)
    above = source.floor().long()
    below = (above + 1).clamp(max=height - 1)
    below_weight = (source - above).clamp(0, 1).view(-1, 1)
    first, last = int(above[0]), int(below[-1]) + 1
    across = F.interpolate(x[:, :, first:last], size=(last - first, 2 * x.shape[-1]), mode="bilinear",
                           align_corners=True)
    return torch.addcmul(across[:, :, below - first] * below_weight, across[:, :, above - first], 1 - below_weight)
