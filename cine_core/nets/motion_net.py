"""Motion (Eulerian flow) network: image + mask + sparse-hint field -> dense 2D flow.

Parameter names and shapes match ``sceneflow_model.pth["netG"]`` key for key (142 keys, all prefixed
``motion_predictor.``), so the official weights load with ``load_state_dict(strict=True)``.

The predictor is a SPADE U-Net on the 6-channel input ``[R, G, B, mask, hint_x, hint_y]``:

* encoder: eight 4x4 stride-2 convs (32, 64, 128, 256, 256, 256, 256, 256 channels; H/2 ... H/256), LeakyReLU(0.2)
  before each conv from the second on, SPADE after conv2-conv7;
* decoder: eight 3x3 convs, SPADE after dconv1-dconv7; each level upsamples x2 both its own output and the
  matching encoder feature, concatenates ``[decoder, encoder]`` and applies ReLU;
* SPADE: parameter-free instance norm, then ``* (1 + gamma) + beta`` where gamma and beta come from two 3x3 convs on
  a shared 128-channel 3x3 conv + ReLU of the network input resized to the feature size;
* every conv1-8 / dconv1-8 carries spectral normalisation (``weight_orig``, ``weight_u``, ``weight_v``).

Reference quirks reproduced because the official weights were trained with them:

* every x2 upsampling in the decoder is bilinear (``align_corners=False``) except for channel 3, which is upsampled
  by nearest neighbour: the reference treats channel 3 of every feature map as if it were the mask channel;
* when the network input is resized for SPADE, RGB and hint are resized bilinearly and the mask by nearest
  neighbour (no antialiasing);
* **mode**: the reference never calls ``eval()`` on this network, so spectral norm runs one power iteration per
  forward (training mode, the default of a new module) and updates ``weight_u`` / ``weight_v`` each call. Keep the
  module in training mode to reproduce it; in ``eval()`` the stored vectors are used as they are. There is no
  dropout or BatchNorm, so nothing else depends on the mode.

Input sizes: H and W must be multiples of 256 (eight stride-2 convs; instance norm needs more than one pixel at
H/128). The reference runs at 768x768.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MotionNet", "SpadeUNet"]

_SIZE_MULTIPLE = 256
_SPADE_HIDDEN = 128
_INSTANCE_NORM_EPS = 1e-5
_LEAKY_SLOPE = 0.2
# Channel 3 is the mask channel of the network input; the reference upsamples that channel index by nearest
# neighbour in every decoder feature map too.
_NEAREST_CHANNEL = 3


def _spectral_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int) -> nn.Conv2d:
    """Conv2d wrapped in ``torch.nn.utils.spectral_norm`` (1 power iteration, eps 1e-12, as the reference).

    The wrapper turns ``weight`` into ``weight_orig`` and registers the buffers ``weight_u``, ``weight_v`` after
    ``bias``, which gives exactly the checkpoint's key order.
    """
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size, stride=stride, padding=padding)
    return nn.utils.spectral_norm(conv)


def _upsample2x_mask_aware(x: Tensor) -> Tensor:
    """Upsample x2: bilinear (``align_corners=False``) for all channels but channel 3, nearest for channel 3.

    Args:
        x: (N, C, H, W), C >= 4.

    Returns:
        (N, C, 2H, 2W).
    """
    bilinear = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    nearest = F.interpolate(
        x[:, _NEAREST_CHANNEL : _NEAREST_CHANNEL + 1], scale_factor=2.0, mode="nearest"
    )
    return torch.cat(
        [bilinear[:, :_NEAREST_CHANNEL], nearest, bilinear[:, _NEAREST_CHANNEL + 1 :]], dim=1
    )


def _resize_guide(guide: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize the 6-channel network input for SPADE: RGB and hint bilinearly, the mask by nearest neighbour.

    Args:
        guide: (N, 6, H, W) ``[R, G, B, mask, hint_x, hint_y]``.
        size: target (h, w).

    Returns:
        (N, 6, h, w).
    """
    bilinear = F.interpolate(guide, size=size, mode="bilinear", align_corners=False)
    nearest = F.interpolate(guide[:, _NEAREST_CHANNEL : _NEAREST_CHANNEL + 1], size=size, mode="nearest")
    return torch.cat(
        [bilinear[:, :_NEAREST_CHANNEL], nearest, bilinear[:, _NEAREST_CHANNEL + 1 :]], dim=1
    )


class _Spade(nn.Module):
    """Spatially-adaptive denormalisation conditioned on the (resized) network input.

    Args:
        num_channels: channels of the normalised features.
        guide_channels: channels of the conditioning input (6).
    """

    def __init__(self, num_channels: int, guide_channels: int) -> None:
        super().__init__()
        self.mlp_shared = nn.Sequential(
            nn.Conv2d(guide_channels, _SPADE_HIDDEN, kernel_size=3, padding=1), nn.ReLU()
        )
        self.mlp_gamma = nn.Conv2d(_SPADE_HIDDEN, num_channels, kernel_size=3, padding=1)
        self.mlp_beta = nn.Conv2d(_SPADE_HIDDEN, num_channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor, resized_guide: Tensor) -> Tensor:
        """Normalise and modulate.

        Args:
            x: (N, C, h, w) features, h * w > 1.
            resized_guide: (N, 6, h, w) network input already resized to (h, w).

        Returns:
            (N, C, h, w).
        """
        normalized = F.instance_norm(x, eps=_INSTANCE_NORM_EPS)
        hidden = self.mlp_shared(resized_guide)
        return normalized * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)


class SpadeUNet(nn.Module):
    """SPADE U-Net flow predictor (the reference's ``SPADEUnet4MaskMotion``).

    Args:
        in_channels: network input channels (6: RGB, mask, 2D hint); the SPADE blocks condition on this input and
            upsample its channel 3 by nearest neighbour.
        out_channels: output channels (2: flow x, y).
        num_filters: width of the first level (32 in the official checkpoint).
    """

    def __init__(self, in_channels: int = 6, out_channels: int = 2, num_filters: int = 32) -> None:
        super().__init__()
        f = num_filters
        enc_widths = (f, 2 * f, 4 * f, 8 * f, 8 * f, 8 * f, 8 * f, 8 * f)
        dec_widths = (8 * f, 8 * f, 8 * f, 8 * f, 4 * f, 2 * f, f, out_channels)

        # Registration order (conv1-8, dconv1-8, SPADE layers) reproduces the checkpoint's key order.
        previous = in_channels
        for level, width in enumerate(enc_widths, start=1):
            setattr(self, f"conv{level}", _spectral_conv(previous, width, kernel_size=4, stride=2, padding=1))
            previous = width
        # dconv1 sees the bottleneck alone; dconv2-8 see [upsampled decoder, upsampled encoder skip].
        for level, width in enumerate(dec_widths, start=1):
            dec_in = previous if level == 1 else 2 * dec_widths[level - 2]
            setattr(self, f"dconv{level}", _spectral_conv(dec_in, width, kernel_size=3, stride=1, padding=1))

        # Names as in the checkpoint: the suffix is the width multiple, then an index.
        self.spade_layer = _Spade(f, in_channels)
        self.spade_layer2_0 = _Spade(2 * f, in_channels)
        self.spade_layer2_1 = _Spade(2 * f, in_channels)
        self.spade_layer4_0 = _Spade(4 * f, in_channels)
        self.spade_layer4_1 = _Spade(4 * f, in_channels)
        for index in range(8):
            setattr(self, f"spade_layer8_{index}", _Spade(8 * f, in_channels))

    def _encoder_spades(self) -> list[_Spade]:
        """SPADE blocks after conv2 ... conv7."""
        return [
            self.spade_layer2_0,
            self.spade_layer4_0,
            self.spade_layer8_0,
            self.spade_layer8_1,
            self.spade_layer8_2,
            self.spade_layer8_3,
        ]

    def _decoder_spades(self) -> list[_Spade]:
        """SPADE blocks after dconv1 ... dconv7."""
        return [
            self.spade_layer8_4,
            self.spade_layer8_5,
            self.spade_layer8_6,
            self.spade_layer8_7,
            self.spade_layer4_1,
            self.spade_layer2_1,
            self.spade_layer,
        ]

    def forward(self, net_input: Tensor) -> Tensor:
        """Predict the flow.

        Args:
            net_input: (N, 6, H, W) ``[R, G, B in [-1, 1], mask in {0, 1}, hint_x, hint_y]``, H and W
                multiples of 256.

        Returns:
            (N, 2, H, W) raw flow (before ``div_flow``).
        """
        resized_guides: dict[tuple[int, int], Tensor] = {}

        def guide_at(features: Tensor) -> Tensor:
            # Several SPADE blocks share a resolution; resizing is deterministic, so resize once per size.
            size = (features.shape[-2], features.shape[-1])
            if size not in resized_guides:
                resized_guides[size] = _resize_guide(net_input, size)
            return resized_guides[size]

        encoder_convs = [getattr(self, f"conv{level}") for level in range(1, 9)]
        decoder_convs = [getattr(self, f"dconv{level}") for level in range(1, 9)]

        skips = [encoder_convs[0](net_input)]  # e1: no activation before, no norm after
        for conv, spade in zip(encoder_convs[1:7], self._encoder_spades()):
            features = conv(F.leaky_relu(skips[-1], _LEAKY_SLOPE))
            skips.append(spade(features, guide_at(features)))
        bottleneck = encoder_convs[7](F.leaky_relu(skips[-1], _LEAKY_SLOPE))  # e8: no norm

        x = _upsample2x_mask_aware(F.relu(bottleneck))
        for conv, spade, skip in zip(decoder_convs[:7], self._decoder_spades(), reversed(skips)):
            decoded = conv(x)
            decoded = spade(decoded, guide_at(decoded))
            x = F.relu(torch.cat([_upsample2x_mask_aware(decoded), _upsample2x_mask_aware(skip)], dim=1))
        return decoder_convs[7](x)


class MotionNet(nn.Module):
    """Flow network wrapper with the checkpoint's ``motion_predictor.`` key prefix.

    Keep it in training mode (the default) to match the reference, see the module docstring.

    Args:
        div_flow: output scale; the official config uses 1.0.

    Example:
        >>> net = MotionNet()
        >>> image = torch.rand(1, 3, 256, 256) * 2 - 1
        >>> mask, hint = torch.ones(1, 1, 256, 256), torch.zeros(1, 2, 256, 256)
        >>> net(image, mask, hint).shape
        torch.Size([1, 2, 256, 256])
    """

    def __init__(self, div_flow: float = 1.0) -> None:
        super().__init__()
        self.div_flow = div_flow
        self.motion_predictor = SpadeUNet(in_channels=6, out_channels=2, num_filters=32)

    def forward(self, image: Tensor, mask: Tensor, hint: Tensor) -> Tensor:
        """Predict a dense flow field from an image, a motion mask and a dense hint.

        Args:
            image: (N, 3, H, W) RGB normalised to [-1, 1] (``(rgb - 0.5) / 0.5``).
            mask: (N, 1, H, W) moving-region mask in {0, 1}.
            hint: (N, 2, H, W) dense motion hint in pixels of this grid per frame (x, y), zero outside the mask.

        Returns:
            (N, 2, H, W) flow in pixels per frame (x, y), ``motion_predictor(cat[image, mask, hint]) * div_flow``.
        """
        height, width = image.shape[-2:]
        if height % _SIZE_MULTIPLE or width % _SIZE_MULTIPLE:
            raise ValueError(f"H and W must be multiples of {_SIZE_MULTIPLE}, got {(height, width)}")
        net_input = torch.cat([image, mask.to(image.dtype), hint.to(image.dtype)], dim=1)
        return self.motion_predictor(net_input) * self.div_flow
