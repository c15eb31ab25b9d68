"""Image decoder of the point-cloud renderer: blended 37-channel rendering -> RGB.

Parameter names and shapes match ``model_150000.pth["img_decoder"]`` key for key (95 keys, including the learned
blend scalar ``alpha``), so the official weights load with ``load_state_dict(strict=True)``.

Input channel layout (37): ``[0:3]`` composited RGB in [0, 1], ``[3]`` composited alpha in [0, 1], ``[4:36]``
the 32 composited feature channels of :class:`~cine_core.nets.feature_net.FeatureNet`, ``[36]`` composited
disparity normalised to [0, 1].

Architecture (H, W the input size): 7x7 conv + PReLU at full size; four max-pool + double-conv stages to
512 channels at H/16; a bottleneck double conv at H/16; four upsampling stages; a final x2 upsampling, 3x3 conv
and sigmoid. Every double conv is conv -> GroupNorm(channels / 32) -> PReLU, twice, with reflection padding.
The up stages concatenate, besides the usual skip (the second conv output of the matching encoder stage),
the *first* conv output of that stage before their second conv.

Reference quirks reproduced because the official weights were trained with them:

* the first up stage upsamples the H/16 bottleneck x2 and then "pads" it to the size of the H/16 skip with
  negative amounts, i.e. centre-crops it back to H/16 (floor-division split of the difference);
* the blend of the forward/backward renderings happens inside ``forward`` with the learned ``alpha``.

Sizes: H and W must be even (the final x2 upsampling must land on the input size) and >= 32 (reflection
padding needs at least 2 pixels at H/16). Tested with 64x96, 32x32, 48x64, 60x90 and other even sizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ImageDecoder", "MIN_SIZE", "blend_renderings"]

_IN_CHANNELS = 37
_ALPHA_CHANNEL = 3
_DISPARITY_CHANNEL = 36
_GROUP_WIDTH = 32  # GroupNorm groups = channels / 32
_MIN_BLEND_WEIGHT = 1e-6
# Reflection padding of the 3x3 convs needs >= 2 pixels at the H/16 bottleneck.
MIN_SIZE = 32


def _blend_weight(rendering: Tensor, time_factor: float | Tensor, alpha: float | Tensor) -> Tensor:
    """Unnormalised blend weight ``time_factor * exp(alpha * disparity) * opacity``.

    Args:
        rendering: (N, 37, H, W).
        time_factor: ``1 - t`` or ``t``.
        alpha: disparity sharpness.

    Returns:
        (N, 1, H, W), multiplied left to right in the reference's order (same rounding).
    """
    disparity = rendering[:, _DISPARITY_CHANNEL : _DISPARITY_CHANNEL + 1]
    opacity = rendering[:, _ALPHA_CHANNEL : _ALPHA_CHANNEL + 1]
    return time_factor * torch.exp(alpha * disparity) * opacity


def blend_renderings(x0: Tensor, x1: Tensor, time: float | Tensor, alpha: float | Tensor) -> Tensor:
    """Blend the forward- and backward-flow renderings, favouring near and opaque content.

    ``w0 = (1 - t) exp(alpha d0) a0``, ``w1 = t exp(alpha d1) a1``, both divided by ``max(w0 + w1, 1e-6)``;
    ``d`` is the disparity channel and ``a`` the alpha channel of each rendering.

    Args:
        x0: (N, 37, H, W) rendering of the forward-displaced cloud.
        x1: (N, 37, H, W) rendering of the backward-displaced cloud.
        time: loop time t in [0, 1); a float or a tensor broadcastable to (N, 1, H, W).
        alpha: disparity sharpness; the decoder's learned scalar.

    Returns:
        (N, 37, H, W) blended map, all channels weighted. Where both alphas are 0 the result is 0.
    """
    weight0 = _blend_weight(x0, 1 - time, alpha)
    weight1 = _blend_weight(x1, time, alpha)
    total = torch.clamp(weight0 + weight1, min=_MIN_BLEND_WEIGHT)
    return (weight0 / total) * x0 + (weight1 / total) * x1


def _reflect_pad_or_crop(x: Tensor, height: int, width: int) -> Tensor:
    """Bring ``x`` to ``height`` x ``width`` with the reference's ``F.pad(..., mode='reflect')`` arithmetic.

    The size difference ``d`` of each axis is split ``d // 2`` before and ``d - d // 2`` after (Python floor
    division). Negative amounts crop, positive ones reflect-pad. Within one axis both amounts have the same
    sign, so cropping first and padding second is exactly what ``F.pad`` does with mixed-sign arguments.

    Args:
        x: (N, C, h, w).
        height: target height.
        width: target width.

    Returns:
        (N, C, height, width).
    """
    diff_y = height - x.shape[-2]
    diff_x = width - x.shape[-1]
    top, bottom = diff_y // 2, diff_y - diff_y // 2
    left, right = diff_x // 2, diff_x - diff_x // 2
    # Crop the negative amounts (this is the up1 case: an x2-upsampled map cut back to its own size).
    h, w = x.shape[-2], x.shape[-1]
    x = x[..., max(-top, 0) : h - max(-bottom, 0), max(-left, 0) : w - max(-right, 0)]
    pads = (max(left, 0), max(right, 0), max(top, 0), max(bottom, 0))
    if any(pads):
        x = F.pad(x, pads, mode="reflect")
    return x


def _upsample2x(x: Tensor) -> Tensor:
    """Bilinear x2 upsampling with ``align_corners=True``: (N, C, H, W) -> (N, C, 2H, 2W)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)


class _ConvGroupNormPReLU(nn.Sequential):
    """3x3 reflect-padded conv (with bias) -> GroupNorm(out / 32 groups) -> PReLU (one shared slope).

    Keys ``0.weight``, ``0.bias`` (conv), ``1.weight``, ``1.bias`` (norm), ``2.weight`` (slope).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, padding_mode="reflect"),
            nn.GroupNorm(out_channels // _GROUP_WIDTH, out_channels),
            nn.PReLU(),
        )


class _DoubleConv(nn.Module):
    """Two :class:`_ConvGroupNormPReLU`; returns both outputs because the decoder reuses the first one."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.double_conv1 = _ConvGroupNormPReLU(in_channels, out_channels)
        self.double_conv2 = _ConvGroupNormPReLU(out_channels, out_channels)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(N, C_in, H, W) -> ((N, C_out, H, W) first conv output, (N, C_out, H, W) second conv output)."""
        first = self.double_conv1(x)
        return first, self.double_conv2(first)


class _DownStage(nn.Module):
    """2x2 max-pool then :class:`_DoubleConv` (keys under ``maxpool_conv.1``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), _DoubleConv(in_channels, out_channels))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(N, C_in, H, W) -> two (N, C_out, H/2, W/2) maps (first and second conv output)."""
        return self.maxpool_conv(x)


class _SkipDoubleConv(nn.Module):
    """Conv on the joined input, then a second conv on ``[encoder first-conv features, first output]``."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int) -> None:
        super().__init__()
        self.double_conv1 = _ConvGroupNormPReLU(in_channels, mid_channels)
        self.double_conv2 = _ConvGroupNormPReLU(2 * mid_channels, out_channels)

    def forward(self, x: Tensor, encoder_first: Tensor) -> Tensor:
        """Args: x (N, C_in, H, W); encoder_first (N, C_mid, H, W). Returns (N, C_out, H, W)."""
        return self.double_conv2(torch.cat([encoder_first, self.double_conv1(x)], dim=1))


class _UpStage(nn.Module):
    """Upsample x2, fit to the skip's size (reference padding arithmetic), concat ``[skip, up]``, double conv."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int) -> None:
        super().__init__()
        self.conv = _SkipDoubleConv(in_channels, out_channels, mid_channels)

    def forward(self, x: Tensor, encoder_second: Tensor, encoder_first: Tensor) -> Tensor:
        """Decode one level.

        Args:
            x: (N, C_x, h, w) coarser decoder features.
            encoder_second: (N, C_s, H, W) second-conv output of the matching encoder stage.
            encoder_first: (N, C_mid, H, W) first-conv output of the same stage.

        Returns:
            (N, C_out, H, W), with C_x + C_s = C_in.
        """
        up = _reflect_pad_or_crop(_upsample2x(x), encoder_second.shape[-2], encoder_second.shape[-1])
        return self.conv(torch.cat([encoder_second, up], dim=1), encoder_first)


class _OutputHead(nn.Module):
    """Upsample x2 to full size, concat ``[stem features, up]``, 3x3 reflect conv, sigmoid."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, padding_mode="reflect")

    def forward(self, x: Tensor, stem: Tensor) -> Tensor:
        """Args: x (N, C_x, H/2, W/2); stem (N, C_stem, H, W). Returns (N, out_channels, H, W) in (0, 1)."""
        return torch.sigmoid(self.conv(torch.cat([stem, _upsample2x(x)], dim=1)))


class ImageDecoder(nn.Module):
    """U-Net decoder from blended renderings to RGB (the reference's ``ImgDecoder(in_ch=37, out_ch=3)``).

    Args:
        in_channels: channels of a rendering; 37 for the official checkpoint.
        out_channels: output channels (RGB).

    Example:
        >>> dec = ImageDecoder()
        >>> x0, x1 = torch.rand(1, 37, 64, 96), torch.rand(1, 37, 64, 96)
        >>> dec(x0, x1, 0.3).shape
        torch.Size([1, 3, 64, 96])
    """

    def __init__(self, in_channels: int = _IN_CHANNELS, out_channels: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels
        # Reference init is 1; the official checkpoint holds the learned value.
        self.alpha = nn.Parameter(torch.tensor(1.0))
        self.firstconv = nn.Conv2d(in_channels, 32, kernel_size=7, padding=3, bias=False)  # zero padding
        self.firstprelu = nn.PReLU()
        self.down1 = _DownStage(32, 64)
        self.down2 = _DownStage(64, 128)
        self.down3 = _DownStage(128, 256)
        self.down4 = _DownStage(256, 512)
        self.conv5 = _DoubleConv(512, 512)
        self.up1 = _UpStage(1024, 256, 512)
        self.up2 = _UpStage(512, 128, 256)
        self.up3 = _UpStage(256, 64, 128)
        self.up4 = _UpStage(128, 32, 64)
        self.outc = _OutputHead(64, out_channels)

    def blend_renderings(self, x0: Tensor, x1: Tensor, time: float | Tensor) -> Tensor:
        """Blend two renderings with the learned ``alpha``; see :func:`blend_renderings`.

        Args:
            x0: (N, 37, H, W) forward-flow rendering.
            x1: (N, 37, H, W) backward-flow rendering.
            time: t in [0, 1) (float or tensor broadcastable to (N, 1, H, W)).

        Returns:
            (N, 37, H, W) blended map, the input of :meth:`decode`.
        """
        return blend_renderings(x0, x1, time, self.alpha)

    def decode(self, blended: Tensor) -> Tensor:
        """Run the U-Net on an already blended map.

        Args:
            blended: (N, 37, H, W), H and W even and >= 32.

        Returns:
            (N, 3, H, W) RGB in (0, 1).
        """
        if blended.ndim != 4 or blended.shape[1] != self.in_channels:
            raise ValueError(f"expected (N, {self.in_channels}, H, W), got {tuple(blended.shape)}")
        height, width = blended.shape[-2:]
        if height % 2 or width % 2 or height < MIN_SIZE or width < MIN_SIZE:
            raise ValueError(f"H and W must be even and >= {MIN_SIZE}, got {(height, width)}")
        stem = self.firstprelu(self.firstconv(blended))
        first1, second1 = self.down1(stem)
        first2, second2 = self.down2(second1)
        first3, second3 = self.down3(second2)
        first4, second4 = self.down4(second3)
        _, bottleneck = self.conv5(second4)

        x = self.up1(bottleneck, second4, first4)
        x = self.up2(x, second3, first3)
        x = self.up3(x, second2, first2)
        x = self.up4(x, second1, first1)
        return self.outc(x, stem)

    def forward(self, x0: Tensor, x1: Tensor, time: float | Tensor) -> Tensor:
        """Blend two renderings and decode them, as the reference's ``ImgDecoder.forward``.

        For a single rendering (novel view without motion) the reference calls ``forward(x, x, 0)``.

        Args:
            x0: (N, 37, H, W) forward-flow rendering.
            x1: (N, 37, H, W) backward-flow rendering.
            time: t in [0, 1).

        Returns:
            (N, 3, H, W) RGB in (0, 1).
        """
        return self.decode(self.blend_renderings(x0, x1, time))
