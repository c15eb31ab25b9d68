"""Feature encoder of the point-cloud renderer: a ResNet-34-style U-Net, RGBA layers -> 32-channel feature maps.

Parameter names and shapes match ``model_150000.pth["feature_net"]`` key for key (105 keys), so the official
weights load with ``load_state_dict(strict=True)``.

Behaviours that the official weights depend on (all reproduced here):

* every BatchNorm is built without running statistics, so it normalises with the statistics of the current
  batch, in ``eval()`` too. The batch is the set of depth layers of one photo, so the features of one layer
  depend on the other layers fed with it: feed all layers of a photo as one batch, as the reference does;
* all convolutions pad by reflection;
* the decoder upsamples bilinearly x2 with ``align_corners=True`` and concatenates ``[upsampled, skip]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FeatureNet"]

# ResNet-34 encoder, truncated after its third stage (stage widths and block counts).
_STAGE_WIDTHS = (64, 128, 256)
_STAGE_BLOCKS = (3, 4, 6)
_BN_EPS = 1e-5


def _batch_stats_norm(num_channels: int) -> nn.BatchNorm2d:
    """BatchNorm that always uses batch statistics (no running_mean/var in the state dict), with affine."""
    return nn.BatchNorm2d(num_channels, eps=_BN_EPS, affine=True, track_running_stats=False)


def _reflect_conv(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, bias: bool = False
) -> nn.Conv2d:
    """``kernel_size`` x ``kernel_size`` convolution with 'same'-style reflection padding."""
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size=kernel_size,
        stride=stride,
        padding=(kernel_size - 1) // 2,
        bias=bias,
        padding_mode="reflect",
    )


def _fit_to_size(x: Tensor, height: int, width: int) -> Tensor:
    """Zero-pad (or crop, for negative amounts) ``x`` to ``height`` x ``width``, centred like the reference.

    Args:
        x: (N, C, h, w).
        height: target height.
        width: target width.

    Returns:
        (N, C, height, width). The extra row/column of an odd difference goes to the bottom/right.
    """
    diff_y = height - x.shape[-2]
    diff_x = width - x.shape[-1]
    if diff_y == 0 and diff_x == 0:
        return x
    return F.pad(x, (diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2))


class _ResidualBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with batch-statistics BN, identity or 1x1-projected shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _reflect_conv(in_channels, out_channels, 3, stride)
        self.bn1 = _batch_stats_norm(out_channels)
        self.conv2 = _reflect_conv(out_channels, out_channels, 3)
        self.bn2 = _batch_stats_norm(out_channels)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                _reflect_conv(in_channels, out_channels, 1, stride), _batch_stats_norm(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, H / stride, W / stride)."""
        residual = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(residual + shortcut)


class _ConvBnElu(nn.Module):
    """3x3 reflect-padded conv (with bias) -> batch-statistics BN -> ELU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = _reflect_conv(in_channels, out_channels, 3, bias=True)
        self.bn = _batch_stats_norm(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, H, W)."""
        return F.elu(self.bn(self.conv(x)))


class _UpConvBnElu(nn.Module):
    """Bilinear x2 upsampling (``align_corners=True``) followed by :class:`_ConvBnElu`."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = _ConvBnElu(in_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, 2H, 2W)."""
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True))


def _residual_stage(in_channels: int, out_channels: int, num_blocks: int, stride: int) -> nn.Sequential:
    """``num_blocks`` residual blocks; only the first one changes resolution/width."""
    blocks = [_ResidualBlock(in_channels, out_channels, stride)]
    blocks += [_ResidualBlock(out_channels, out_channels, 1) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


class FeatureNet(nn.Module):
    """ResUNet feature encoder (the reference's ``ResUNet(in_ch=4, out_ch=32)``).

    Encoder: 7x7 stride-2 stem, 3x3 stride-2 max-pool, ResNet-34 stages 1-3 (64/128/256 channels at
    1/4, 1/8, 1/16 resolution). Decoder: two upsampling stages with skips back to 1/4 resolution, then a 1x1 conv
    (no activation).

    Args:
        in_channels: input channels; 4 for premultiplied RGB + alpha.
        out_channels: feature channels; 32 in the official checkpoint.

    Example:
        >>> net = FeatureNet()
        >>> net(torch.rand(3, 4, 64, 96)).shape
        torch.Size([3, 32, 16, 24])
    """

    def __init__(self, in_channels: int = 4, out_channels: int = 32) -> None:
        super().__init__()
        stem_width = _STAGE_WIDTHS[0]
        self.conv1 = _reflect_conv(in_channels, stem_width, 7, stride=2)
        self.bn1 = _batch_stats_norm(stem_width)
        self.layer1 = _residual_stage(stem_width, _STAGE_WIDTHS[0], _STAGE_BLOCKS[0], stride=1)
        self.layer2 = _residual_stage(_STAGE_WIDTHS[0], _STAGE_WIDTHS[1], _STAGE_BLOCKS[1], stride=2)
        self.layer3 = _residual_stage(_STAGE_WIDTHS[1], _STAGE_WIDTHS[2], _STAGE_BLOCKS[2], stride=2)

        self.upconv3 = _UpConvBnElu(_STAGE_WIDTHS[2], 128)
        self.iconv3 = _ConvBnElu(_STAGE_WIDTHS[1] + 128, 128)
        self.upconv2 = _UpConvBnElu(128, 64)
        self.iconv2 = _ConvBnElu(_STAGE_WIDTHS[0] + 64, out_channels)
        self.out_conv = nn.Conv2d(out_channels, out_channels, kernel_size=1)

    @staticmethod
    def _join_skip(upsampled: Tensor, skip: Tensor) -> Tensor:
        """Concatenate ``[upsampled, skip]`` along channels after fitting ``skip`` to the upsampled size.

        Args:
            upsampled: (N, C_u, H, W).
            skip: (N, C_s, h, w), zero-padded or cropped to (H, W).

        Returns:
            (N, C_u + C_s, H, W).
        """
        return torch.cat([upsampled, _fit_to_size(skip, upsampled.shape[-2], upsampled.shape[-1])], dim=1)

    def forward(self, rgba_layers: Tensor) -> Tensor:
        """Encode a batch of RGBA layers.

        Args:
            rgba_layers: (N, 4, H, W); channels 0-2 premultiplied RGB in [0, 1], channel 3 alpha in {0, 1}.
                N is the set of depth layers of one photo (they share the batch statistics).

        Returns:
            (N, out_channels, H/4, W/4) feature maps for H, W multiples of 16 (other sizes follow the
            reference's floor/pad arithmetic).
        """
        x = F.relu(self.bn1(self.conv1(rgba_layers)))
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        quarter = self.layer1(x)
        eighth = self.layer2(quarter)
        sixteenth = self.layer3(eighth)

        x = self.iconv3(self._join_skip(self.upconv3(sixteenth), eighth))
        x = self.iconv2(self._join_skip(self.upconv2(x), quarter))
        return self.out_conv(x)
