"""Stride-1 convolutions over bands of rows: the same output as one pass, with the convolution's
input (and its own reordered copies of it) held one band at a time.

A network's widest maps sit at its input's size (the inpainting nets' last decoder step, DPT's
segmentation head); one convolution over such a map holds the map, a copy the convolution
library makes in its own layout, and the output. Each band of output rows is computed from the
input rows the kernel reaches, with zero rows where those lie past the image (the convolution's
own padding there), so every output value sees the same inputs as in one pass; only the
convolution library's choice of kernel for the band's shape may round differently.
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
                    batch: int = 1, dtype: torch.dtype = torch.float32, most_bytes: int | None = None) -> Tensor:
    """``conv`` (stride 1, odd square kernel, ``padding = kernel // 2``) of an input of
    ``height`` rows, made by ``input_rows(top, bottom)``, which returns rows ``top:bottom`` of
    it (N, C_in, bottom - top, W); in one pass when the input fits in ``most_bytes`` (default
    :data:`INPUT_BYTES_AT_ONCE`), else in bands of :func:`rows_at_once` output rows.

    Returns:
        (N, C_out, height, W).
    """
    if conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.padding[0] != conv.kernel_size[0] // 2:
        raise ValueError("conv2d_in_bands needs a stride-1 convolution padded to keep its size")
    rows = rows_at_once(conv, batch, width, dtype.itemsize, most_bytes)
    if rows >= height:
        return conv(input_rows(0, height))
    reach = conv.padding[0]
    output = None
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        first, last = max(0, top - reach), min(height, bottom + reach)
        band = F.pad(input_rows(first, last), (0, 0, reach - (top - first), reach - (last - bottom)))
        band = F.conv2d(band, conv.weight, conv.bias, padding=(0, conv.padding[1]), groups=conv.groups)
        if output is None:
            output = band.new_empty((*band.shape[:2], height, band.shape[3]))
        output[:, :, top:bottom] = band
        del band
    return output
