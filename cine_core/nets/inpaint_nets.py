"""Partial-convolution U-Nets of 3D Photo Inpainting (depth and colour inpainting).

The two networks are 7-level U-Nets made of partial convolutions (Liu et al., "Image Inpainting for
Irregular Holes Using Partial Convolutions"), in the variant used by 3D Photo Inpainting:

* every layer carries a feature map *and* a binary validity mask (the reference's has the shape of the
  features; its value is the same in every channel, so here it has one channel);
* a layer convolves ``features * mask`` and rescales the bias-free response by the mask ratio
  ``window_size / sum(mask in window)`` with ``window_size = C_in * k * k`` (the mask kernel is a constant
  all-ones kernel over all input channels, so the divisor is the count of valid input values in the window);
* output positions whose window contained no valid input are set to 0 and marked invalid; all others are
  marked valid (the updated mask that is propagated to the next layer);
* the decoder upsamples features and masks with nearest-neighbour x2 and concatenates the skip
  connection of the matching encoder level (``[upsampled, skip]``).

Parameter names and shapes match the official ``depth-model.pth`` / ``color-model.pth`` state dicts key for
key (``enc_1.conv.input_conv.weight``, ``enc_2.bn.running_mean``, ...), so they load with ``strict=True``.
The networks are meant to be run in eval mode (BatchNorm with running statistics), as the reference does.

Typical use (the reference's ``forward_3P``)::

    net = DepthInpaintNet().eval()
    net.load_state_dict(torch.load("depth-model.pth", map_location="cpu", weights_only=True))
    with torch.no_grad():
        inpainted = net.inpaint(holes, context, zero_mean_log_depth, edge)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .banded import conv2d_in_bands

__all__ = [
    "Masked",
    "PartialConv2d",
    "PartialConvBlock",
    "DepthInpaintNet",
    "ColorInpaintNet",
    "inpaint_padded",
    "known_pixel_mask",
]

# Side lengths the U-Net input must be a multiple of: 7 stride-2 encoder levels (2**7).
UNIT_LENGTH = 128


#: A feature map with its validity mask: features (N, C, H, W) and mask (N, 1, H, W), 1 = valid.
#: The mask is the same for every channel of the map (see the module docstring), so it is kept once.
Masked = tuple[Tensor, Tensor]


class PartialConv2d(nn.Module):
    """Partial convolution with mask renormalisation and mask update.

    Holds two convolutions with identical geometry: ``input_conv`` (learned, optional bias) and
    ``mask_conv`` (no bias; its kernel is constant 1 in the released networks and is used as loaded).
    Valid windows give ``(W * (X . M)) * (C_in k k) / sum(M) + b``, empty windows give 0.

    The input comes as parts whose channels, in order, make the ``C_in`` input channels (one part
    in the encoder; the upsampled level and the skip connection in the decoder), each with one
    mask for all its channels. The sum of the mask in a window is therefore counted on one channel
    per part, weighted by the part's sum of ``mask_conv``'s kernel over its channels; with the
    released constant kernels every output channel counts the same, so it is counted once. The
    numbers equal those of the reference's full-channel masks (counts are small integers, exact
    in float32) at a fraction of the memory: the reference's masks are as large as the features.

    Args:
        in_channels: input channels C_in.
        out_channels: output channels C_out.
        kernel_size: square kernel size.
        stride: convolution stride.
        padding: zero padding on every side.
        bias: whether ``input_conv`` has a bias.

    Shape:
        - parts: sequence of (features (N, C_g, H, W), mask (N, 1, H, W)), sum of C_g = C_in,
          masks 1 = valid, 0 = missing (same dtype as the features); with ``upsample_first`` the
          first part is (N, C_1, H / 2, W / 2) and is upsampled (nearest, x2), the decoder's step
        - output: ``(features_out, mask_out)``, (N, C_out, H_out, W_out) and (N, 1, H_out, W_out);
          ``mask_out`` is 1 where at least one valid input fell into the window.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.input_conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self.mask_conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        # Frozen constant-ones kernel: the mask response is the number of valid inputs in each window.
        nn.init.constant_(self.mask_conv.weight, 1.0)
        self.mask_conv.weight.requires_grad_(False)
        # Number of input values in one window (C_in * k * k): the numerator of the mask ratio.
        self.window_size = in_channels * kernel_size * kernel_size

    def forward(self, parts: list[Masked], upsample_first: bool = False) -> Masked:
        masks = [mask for _, mask in parts]
        if upsample_first:
            masks[0] = F.interpolate(masks[0], scale_factor=2.0, mode="nearest")
        height = masks[0].shape[2]
        kernels, start = [], 0
        for features, _ in parts:
            end = start + features.shape[1]
            kernels.append(self.mask_conv.weight[:1, start:end].sum(dim=1, keepdim=True))
            start = end
        if self.input_conv.stride == (1, 1):
            # The decoder's last steps are at the input's size (68 channels at 1024x768: 214 MB,
            # and the convolution's copies as much again): in bands of rows.
            batch, _, _, width = masks[0].shape
            response = conv2d_in_bands(self.input_conv,
                                       lambda top, bottom: self._masked(parts, upsample_first, top, bottom),
                                       height, width, batch, masks[0].dtype)
        else:
            response = self.input_conv(self._masked(parts, upsample_first, 0, height))
        with torch.no_grad():
            valid_count = F.conv2d(torch.cat(masks, dim=1), torch.cat(kernels, dim=1),
                                   stride=self.mask_conv.stride, padding=self.mask_conv.padding)
        window_empty = valid_count == 0

        # Mask-ratio renormalisation of the bias-free part: scale by window size / valid count, so a window
        # with few valid inputs gives a response of the same magnitude as a fully valid one. In
        # place, in the reference's order of operations (the same numbers, no full-size temporaries).
        divisor = valid_count.masked_fill_(window_empty, 1.0)
        bias = self.input_conv.bias
        if bias is not None:
            bias_map = bias.view(1, -1, 1, 1)
            response.sub_(bias_map).mul_(self.window_size).div_(divisor).add_(bias_map)
        else:
            response.mul_(self.window_size).div_(divisor)
        features_out = response.masked_fill_(window_empty, 0.0)
        mask_out = (~window_empty).to(features_out.dtype)
        return features_out, mask_out

    def _masked(self, parts: list[Masked], upsample_first: bool, top: int, bottom: int) -> Tensor:
        """Rows ``top:bottom`` (of the upsampled size with ``upsample_first``) of the input channels
        times their masks, (N, C_in, bottom - top, W)."""
        first = parts[0][0]
        batch, width = first.shape[0], first.shape[3] * (2 if upsample_first else 1)
        # With upsampling, whole 2x2 blocks: from an even row to an even row.
        low, high = (top - top % 2, bottom + bottom % 2) if upsample_first else (top, bottom)
        masked = first.new_empty((batch, self.input_conv.in_channels, high - low, width))
        start = 0
        for index, (features, mask) in enumerate(parts):
            end = start + features.shape[1]
            if upsample_first and index == 0:
                # Nearest upsampling commutes with the product: multiply at half size and write
                # each value into its 2x2 block, without a full-size copy of the features.
                half = features[:, :, low // 2:high // 2] * mask[:, :, low // 2:high // 2]
                blocks = masked[:, start:end].view(batch, end - start, (high - low) // 2, 2, width // 2, 2)
                blocks.copy_(half[:, :, :, None, :, None].expand_as(blocks))
                del half
            else:
                torch.mul(features[:, :, low:high], mask[:, :, low:high], out=masked[:, start:end])
            start = end
        return masked.narrow(2, top - low, bottom - top)


class PartialConvBlock(nn.Module):
    """Partial convolution, optional BatchNorm, optional activation (3D Photo Inpainting ``PCBActiv``).

    Args:
        in_channels: input channels C_in.
        out_channels: output channels C_out.
        kernel_size: 7, 5 or 3; padding is ``kernel_size // 2``.
        stride: 2 for the encoder (down-sampling) blocks, 1 for the decoder blocks.
        batch_norm: append ``nn.BatchNorm2d(out_channels)`` (attribute ``bn``).
        activation: ``"relu"`` (encoder), ``"leaky"`` (LeakyReLU(0.2), decoder) or ``None``.
        bias: whether the partial convolution has a bias.

    Shape:
        - parts: as :class:`PartialConv2d`'s, (N, C_g, H, W) features with (N, 1, H, W) masks
        - output: ``(features_out, mask_out)``, (N, C_out, H / stride, W / stride) and (N, 1, H / stride, W / stride)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        batch_norm: bool = True,
        activation: str | None = "relu",
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.conv = PartialConv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=bias)
        self.bn = nn.BatchNorm2d(out_channels) if batch_norm else None
        # In place: the activation's input is this block's own temporary.
        if activation == "relu":
            self.activation: nn.Module = nn.ReLU(inplace=True)
        elif activation == "leaky":
            self.activation = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        elif activation is None:
            self.activation = nn.Identity()
        else:
            raise ValueError(f"unknown activation {activation!r}")

    def forward(self, parts: list[Masked], upsample_first: bool = False) -> Masked:
        features, mask = self.conv(parts, upsample_first)
        if self.bn is not None:
            # Applied to every position, including the zeroed invalid ones (as in the reference).
            features = self.bn(features)
        return self.activation(features), mask


def known_pixel_mask(net_input: Tensor) -> Tensor:
    """Validity mask of the inpainting nets' input: ``clamp(context + holes, 0, 1)``, the same for
    every input channel (the reference repeats it over them).

    The last two input channels are ``context`` (known pixels) and ``holes`` (pixels to inpaint); pixels that
    are neither are treated as missing *and* not to be filled.

    Shape:
        - net_input: (N, C, H, W) with ``[..., context, holes]`` as the last two channels
        - output: (N, 1, H, W)
    """
    context, holes = net_input[:, -2:-1], net_input[:, -1:]
    return (context + holes).clamp(0, 1)


class _PartialConvUNet(nn.Module):
    """Shared 7-level partial-convolution U-Net body (encoder ``enc_1..enc_7``, decoder from level 7 to 1).

    Subclasses register the decoder blocks (their names differ between the depth and colour nets) and list
    them, level 7 first, in ``_decoder_names``.

    Shape:
        - net_input: (N, C_in, H, W), H and W multiples of 128, last two channels ``[context, holes]``
        - output: (N, C_out, H, W), raw (no final activation)
    """

    _decoder_names: tuple[str, ...] = ()

    def _build_encoder(self, in_channels: int, first_biases: tuple[bool, bool]) -> None:
        # Register in the reference order (enc_1..enc_7) so that state_dict() key order matches the checkpoint.
        self.enc_1 = PartialConvBlock(in_channels, 64, 7, 2, batch_norm=False, bias=first_biases[0])
        self.enc_2 = PartialConvBlock(64, 128, 5, 2, bias=first_biases[1])
        self.enc_3 = PartialConvBlock(128, 256, 5, 2)
        self.enc_4 = PartialConvBlock(256, 512, 3, 2)
        self.enc_5 = PartialConvBlock(512, 512, 3, 2)
        self.enc_6 = PartialConvBlock(512, 512, 3, 2)
        self.enc_7 = PartialConvBlock(512, 512, 3, 2)

    @staticmethod
    def _decoder_block(in_channels: int, out_channels: int) -> PartialConvBlock:
        return PartialConvBlock(in_channels, out_channels, 3, 1, activation="leaky")

    @staticmethod
    def _output_block(in_channels: int, out_channels: int) -> PartialConvBlock:
        return PartialConvBlock(in_channels, out_channels, 3, 1, batch_norm=False, activation=None, bias=True)

    def _unet(self, net_input: Tensor) -> Tensor:
        height, width = net_input.shape[-2:]
        if height % UNIT_LENGTH or width % UNIT_LENGTH:
            raise ValueError(
                f"input sides must be multiples of {UNIT_LENGTH} (got {height}x{width}); use inpaint_padded()"
            )
        level: Masked = (net_input, known_pixel_mask(net_input))

        # Encoder; level 0 (the input itself) is the skip connection of the last decoder block.
        skips = [level]
        encoder = (self.enc_1, self.enc_2, self.enc_3, self.enc_4, self.enc_5, self.enc_6, self.enc_7)
        for block in encoder:
            level = block([level])
            skips.append(level)

        # Decoder: level L takes the upsampled level-L output and the encoder output of level L-1
        # (the reference concatenates them; the partial convolution takes them as two parts).
        skips.pop()  # the bottleneck is the decoder's starting point, not a skip
        for name in self._decoder_names:
            level = getattr(self, name)([level, skips.pop()], upsample_first=True)
        return level[0]


class DepthInpaintNet(_PartialConvUNet):
    """Depth inpainting net of 3D Photo Inpainting (``Inpaint_Depth_Net``, checkpoint ``depth-model.pth``).

    Use in eval mode (``.eval()``): BatchNorm must use its running statistics, as in the reference.

    Input channels (4): ``[zero-mean log depth, edge, context, holes]``; output: inpainted zero-mean log depth,
    no activation.

    Shape:
        - net_input: (N, 4, H, W), H and W multiples of 128
        - output: (N, 1, H, W)
    """

    _decoder_names = ("dec_7", "dec_6", "dec_5", "dec_4", "dec_3", "dec_2", "dec_1")

    def __init__(self) -> None:
        super().__init__()
        in_channels = 4
        self._build_encoder(in_channels, first_biases=(True, True))
        # Reference registration order: dec_5, dec_6, dec_7 (a loop over levels 5..7), then dec_4..dec_1.
        self.dec_5 = self._decoder_block(512 + 512, 512)
        self.dec_6 = self._decoder_block(512 + 512, 512)
        self.dec_7 = self._decoder_block(512 + 512, 512)
        self.dec_4 = self._decoder_block(512 + 256, 256)
        self.dec_3 = self._decoder_block(256 + 128, 128)
        self.dec_2 = self._decoder_block(128 + 64, 64)
        self.dec_1 = self._output_block(64 + in_channels, 1)

    def forward(self, net_input: Tensor) -> Tensor:
        return self._unet(net_input)

    def inpaint(
        self, holes: Tensor, context: Tensor, zero_mean_log_depth: Tensor, edge: Tensor, unit_length: int = UNIT_LENGTH
    ) -> Tensor:
        """Reference ``forward_3P``: assemble the channels, pad to multiples of 128, run, crop back.

        Shape:
            - holes, context, zero_mean_log_depth, edge: (N, 1, H, W)
            - output: (N, 1, H, W)
        """
        net_input = torch.cat([zero_mean_log_depth, edge, context, holes], dim=1)
        return inpaint_padded(self, net_input, unit_length)


class ColorInpaintNet(_PartialConvUNet):
    """Colour inpainting net of 3D Photo Inpainting (``Inpaint_Color_Net``, checkpoint ``color-model.pth``).

    Use in eval mode (``.eval()``): BatchNorm must use its running statistics, as in the reference.

    Input channels (6): ``[R, G, B, edge, context, holes]`` (RGB in [0, 1]); output: sigmoid RGB.

    Shape:
        - net_input: (N, 6, H, W), H and W multiples of 128
        - output: (N, 3, H, W) in (0, 1)
    """

    _decoder_names = ("dec_7", "dec_6", "dec_5A", "dec_4A", "dec_3A", "dec_2A", "dec_1A")

    def __init__(self) -> None:
        super().__init__()
        in_channels = 6
        self._build_encoder(in_channels, first_biases=(False, False))
        self.dec_7 = self._decoder_block(512 + 512, 512)
        self.dec_6 = self._decoder_block(512 + 512, 512)
        self.dec_5A = self._decoder_block(512 + 512, 512)
        self.dec_4A = self._decoder_block(512 + 256, 256)
        self.dec_3A = self._decoder_block(256 + 128, 128)
        self.dec_2A = self._decoder_block(128 + 64, 64)
        self.dec_1A = self._output_block(64 + in_channels, 3)

    def forward(self, net_input: Tensor) -> Tensor:
        return torch.sigmoid(self._unet(net_input))

    def inpaint(
        self, holes: Tensor, context: Tensor, context_rgb: Tensor, edge: Tensor, unit_length: int = UNIT_LENGTH
    ) -> Tensor:
        """Reference ``forward_3P``: assemble the channels, pad to multiples of 128, run, crop back.

        Shape:
            - holes, context, edge: (N, 1, H, W)
            - context_rgb: (N, 3, H, W)
            - output: (N, 3, H, W)
        """
        net_input = torch.cat([context_rgb, edge, context, holes], dim=1)
        return inpaint_padded(self, net_input, unit_length)


def inpaint_padded(net: nn.Module, net_input: Tensor, unit_length: int = UNIT_LENGTH) -> Tensor:
    """Run an inpainting net on any size: centred zero padding to multiples of ``unit_length``, crop back.

    Reproduces the reference ``forward_3P``: the residual ``ceil(s / unit) * unit - s`` of each side is split
    with ``residual // 2`` before the image (the extra pixel of an odd residual goes after it). Padded pixels
    have context = holes = 0, i.e. they are invalid for the partial convolutions.

    Args:
        net: a :class:`DepthInpaintNet` or :class:`ColorInpaintNet` (or anything mapping (N,C,H',W') to
            (N,C_out,H',W')).
        net_input: the assembled input channels.
        unit_length: side multiple required by the network.

    Shape:
        - net_input: (N, C, H, W)
        - output: (N, C_out, H, W)
    """
    batch, channels, height, width = net_input.shape
    residual_h = math.ceil(height / unit_length) * unit_length - height
    residual_w = math.ceil(width / unit_length) * unit_length - width
    top, left = residual_h // 2, residual_w // 2
    padded = net_input.new_zeros((batch, channels, height + residual_h, width + residual_w))
    padded[..., top : top + height, left : left + width] = net_input
    output = net(padded)
    return output[..., top : top + height, left : left + width]
