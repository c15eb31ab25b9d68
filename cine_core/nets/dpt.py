"""MiDaS 3.0 DPT-Hybrid monocular depth network (checkpoint ``dpt_hybrid-midas-501f0c75.pt``) and the
DPT-Hybrid ADE20K semantic segmentation network (``dpt_hybrid-ade20k-53898607.pt``), which shares its
encoder and decoder layout (:class:`DPTSegmentation`: BatchNorm in the fusion blocks, a 150-class head).

Architecture (Ranftl et al., "Vision Transformers for Dense Prediction"):

* **Encoder** (``pretrained``): a hybrid ViT-B/16. A ResNet-50-style backbone (weight-standardised convs,
  GroupNorm, TF "same" padding; stem + 3 stages of 3/4/9 bottlenecks, output stride 16) feeds a 1x1
  patch projection to 768-d tokens; a class token and learned position embeddings are added and 12
  pre-norm transformer blocks follow.
* **Reassembly**: four feature maps at strides 4, 8, 16, 32: the outputs of ResNet stages 0 and 1
  (256 and 512 channels) and the tokens after transformer blocks 8 and 11. Token maps use the "project"
  readout (the class token is concatenated to every patch token and projected back to 768-d with GELU),
  are reshaped to a grid and projected with a 1x1 conv; the last one is downsampled with a 3x3 stride-2 conv.
* **Decoder** (``scratch``): 3x3 convs to 256 channels, four RefineNet-style fusion blocks (residual conv
  units, x2 bilinear upsampling with ``align_corners=True``), and a head that upsamples to the input size and
  regresses one channel; a final ReLU makes the inverse depth non-negative.

Parameter names and shapes match the released checkpoint key for key, so it loads with ``strict=True``.

Weight standardisation: the released weights were trained with timm 0.4.5, whose ``StdConv2dSame`` computes
``(w - mean) / (std + 1e-5)``; timm >= 0.4.12 computes ``(w - mean) / sqrt(var + 1e-8)`` for this model. The
difference is of the order of float32 rounding. Use ``std_conv_formula="std_plus_eps"`` (default) for the
released weights and ``"sqrt_var_plus_eps"`` to reproduce outputs of the model built with a recent timm.

Input: RGB normalised to [-1, 1] (``(img / 255 - 0.5) / 0.5``), both sides multiples of 32.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .banded import conv2d_in_bands, upsampled_rows

__all__ = ["DPTHybrid", "DPTSegmentation", "DPTOutput", "StdConv2dSame", "STD_CONV_FORMULAS"]

# Weight-standardisation variants: name -> (use std (True) or sqrt(var + eps) (False), eps).
STD_CONV_FORMULAS = {
    "std_plus_eps": 1e-5,  # timm 0.4.5, used to train the released weights: (w - mean) / (std + 1e-5)
    "sqrt_var_plus_eps": 1e-8,  # timm >= 0.4.12 for the hybrid ViT: (w - mean) / sqrt(var + 1e-8)
}

VIT_DIM = 768
VIT_DEPTH = 12
VIT_HEADS = 12
PATCH_STRIDE = 16  # output stride of the ResNet backbone = size of one ViT token in pixels
PRETRAIN_GRID = 24  # pos_embed was trained for 384 / 16 = 24 tokens per side
TOKEN_LAYERS = (8, 11)  # transformer blocks whose outputs are reassembled (0-based)
FEATURES = 256  # decoder width


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding of one dimension: (before, after); the odd pixel goes after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: Tensor, kernel: int, stride: int, value: float = 0.0) -> Tensor:
    """Pad an (N, C, H, W) tensor for a TF "SAME" convolution / pooling with the given kernel and stride."""
    top, bottom = _same_padding(x.shape[-2], kernel, stride)
    left, right = _same_padding(x.shape[-1], kernel, stride)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


class StdConv2dSame(nn.Conv2d):
    """Bias-free conv with weight standardisation and TF "SAME" padding (timm ``StdConv2dSame``).

    The kernel of every output channel is standardised over (C_in, kh, kw) with biased statistics before
    use; see :data:`STD_CONV_FORMULAS` for the two formulas.

    Shape:
        - input: (N, C_in, H, W)
        - output: (N, C_out, ceil(H / stride), ceil(W / stride))
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, formula: str = "std_plus_eps"
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding=0, bias=False)
        if formula not in STD_CONV_FORMULAS:
            raise ValueError(
                f"unknown weight standardisation {formula!r}; expected one of {list(STD_CONV_FORMULAS)}"
            )
        self.formula = formula

    def standardized_weight(self) -> Tensor:
        """The standardised kernel, (C_out, C_in, kh, kw)."""
        var, mean = torch.var_mean(self.weight, dim=(1, 2, 3), keepdim=True, correction=0)
        eps = STD_CONV_FORMULAS[self.formula]
        if self.formula == "std_plus_eps":
            return (self.weight - mean) / (var.sqrt() + eps)
        return (self.weight - mean) / torch.sqrt(var + eps)

    def forward(self, x: Tensor) -> Tensor:
        x = _pad_same(x, self.kernel_size[0], self.stride[0])
        return F.conv2d(x, self.standardized_weight(), None, self.stride)


class GroupNormReLU(nn.GroupNorm):
    """GroupNorm (32 groups, eps 1e-5, affine) optionally followed by ReLU (timm ``GroupNormAct``).

    Shape:
        - input / output: (N, C, H, W)
    """

    def __init__(self, channels: int, relu: bool = True) -> None:
        super().__init__(32, channels, eps=1e-5)
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        x = super().forward(x)
        return F.relu(x, inplace=True) if self.relu else x  # in place on the new map


class ResNetStem(nn.Module):
    """7x7 stride-2 std-conv, GroupNorm + ReLU, 3x3 stride-2 max-pool (both with TF "SAME" padding).

    Shape:
        - input: (N, 3, H, W)
        - output: (N, 64, H / 4, W / 4)
    """

    def __init__(self, formula: str) -> None:
        super().__init__()
        self.conv = StdConv2dSame(3, 64, 7, stride=2, formula=formula)
        self.norm = GroupNormReLU(64)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(self.conv(x))
        # -inf padding so that padded pixels never win the max.
        x = _pad_same(x, 3, 2, value=-math.inf)
        return F.max_pool2d(x, kernel_size=3, stride=2)


class ProjectionShortcut(nn.Module):
    """1x1 std-conv (with the block's stride) + GroupNorm without activation: the bottleneck shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, formula: str) -> None:
        super().__init__()
        self.conv = StdConv2dSame(in_channels, out_channels, 1, stride=stride, formula=formula)
        self.norm = GroupNormReLU(out_channels, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x))


class Bottleneck(nn.Module):
    """Post-activation ResNet bottleneck (1x1 -> 3x3 (stride) -> 1x1, GroupNorm), ReLU after the sum.

    Shape:
        - input: (N, C_in, H, W)
        - output: (N, C_out, H / stride, W / stride)
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, formula: str) -> None:
        super().__init__()
        mid_channels = out_channels // 4
        needs_projection = stride != 1 or in_channels != out_channels
        self.downsample = ProjectionShortcut(in_channels, out_channels, stride, formula) if needs_projection else None
        self.conv1 = StdConv2dSame(in_channels, mid_channels, 1, formula=formula)
        self.norm1 = GroupNormReLU(mid_channels)
        self.conv2 = StdConv2dSame(mid_channels, mid_channels, 3, stride=stride, formula=formula)
        self.norm2 = GroupNormReLU(mid_channels)
        self.conv3 = StdConv2dSame(mid_channels, out_channels, 1, formula=formula)
        self.norm3 = GroupNormReLU(out_channels, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.norm1(self.conv1(x))
        x = self.norm2(self.conv2(x))
        x = self.norm3(self.conv3(x))
        # In place on the new map (the sum's order does not change its value): at the first
        # stage's size (256 channels at a quarter of the input's) two maps fewer at once.
        return F.relu(x.add_(shortcut), inplace=True)


class ResNetStage(nn.Module):
    """A stack of bottlenecks; the first one changes width and applies the stage stride."""

    def __init__(self, in_channels: int, out_channels: int, depth: int, stride: int, formula: str) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            *[
                Bottleneck(in_channels if i == 0 else out_channels, out_channels, stride if i == 0 else 1, formula)
                for i in range(depth)
            ]
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


class ResNetBackbone(nn.Module):
    """ResNet-50-style backbone of the hybrid ViT: stem and stages of depth 3/4/9 (widths 256/512/1024).

    Shape:
        - input: (N, 3, H, W)
        - output: list of the three stage outputs, (N, 256, H/4, W/4), (N, 512, H/8, W/8), (N, 1024, H/16, W/16)
    """

    def __init__(self, formula: str) -> None:
        super().__init__()
        self.stem = ResNetStem(formula)
        self.stages = nn.ModuleList(
            [
                ResNetStage(64, 256, depth=3, stride=1, formula=formula),
                ResNetStage(256, 512, depth=4, stride=2, formula=formula),
                ResNetStage(512, 1024, depth=9, stride=2, formula=formula),
            ]
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        stage_outputs = []
        for stage in self.stages:
            x = stage(x)
            stage_outputs.append(x)
        return stage_outputs


class HybridPatchEmbed(nn.Module):
    """ResNet backbone + 1x1 projection of its stride-16 features to ViT tokens.

    Shape:
        - input: (N, 3, H, W)
        - output: ``(tokens, stage_outputs)``: tokens (N, H/16 * W/16, 768) in row-major grid order, and the
          backbone's stage outputs (see :class:`ResNetBackbone`).
    """

    def __init__(self, formula: str) -> None:
        super().__init__()
        self.backbone = ResNetBackbone(formula)
        self.proj = nn.Conv2d(1024, VIT_DIM, kernel_size=1)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        stage_outputs = self.backbone(x)
        tokens = self.proj(stage_outputs[-1]).flatten(2).transpose(1, 2)
        return tokens, stage_outputs


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection.

    Shape:
        - input / output: (N, T, 768)
    """

    def __init__(self, dim: int = VIT_DIM, num_heads: int = VIT_HEADS) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        batch, tokens, dim = x.shape
        # (N, T, 3*D) -> (3, N, heads, T, D/heads)
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        query, key, value = qkv.unbind(0)
        x = F.scaled_dot_product_attention(query, key, value)  # softmax(q k^T / sqrt(d)) v
        return self.proj(x.transpose(1, 2).reshape(batch, tokens, dim))


class Mlp(nn.Module):
    """Two-layer MLP with exact (erf) GELU: 768 -> 3072 -> 768."""

    def __init__(self, dim: int = VIT_DIM, hidden: int = 4 * VIT_DIM) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class LayerScale(nn.Module):
    """Per-channel scale of a residual branch (``gamma``), as in DINOv2 and CaiT."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class TransformerBlock(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6): ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``;
    with ``layer_scale`` (DINOv2) each branch is scaled per channel first (``ls1``, ``ls2``).

    Shape:
        - input / output: (N, T, dim)
    """

    def __init__(self, dim: int = VIT_DIM, num_heads: int = VIT_HEADS, layer_scale: bool = False) -> None:
        super().__init__()
        # Registered in the checkpoints' key order.
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim) if layer_scale else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)
        self.ls2 = LayerScale(dim) if layer_scale else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class HybridVisionTransformer(nn.Module):
    """ViT-B/16 on a ResNet backbone (timm ``vit_base_r50_s16_384`` parameter layout).

    ``norm`` and the 1000-class ``head`` exist only for checkpoint compatibility: DPT takes its token
    features from inside the transformer and never uses them.
    """

    def __init__(self, formula: str) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, VIT_DIM))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + PRETRAIN_GRID * PRETRAIN_GRID, VIT_DIM))
        self.patch_embed = HybridPatchEmbed(formula)
        self.blocks = nn.ModuleList([TransformerBlock() for _ in range(VIT_DEPTH)])
        self.norm = nn.LayerNorm(VIT_DIM, eps=1e-6)
        self.head = nn.Linear(VIT_DIM, 1000)

    def position_embedding(self, grid_h: int, grid_w: int) -> Tensor:
        """Position embeddings for a (grid_h, grid_w) token grid, (1, 1 + grid_h * grid_w, 768).

        The 24x24 grid part is resized bilinearly (``align_corners=False``), as DPT's ``_resize_pos_embed``
        does; the class-token embedding is kept.
        """
        cls_embed, grid_embed = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        if (grid_h, grid_w) != (PRETRAIN_GRID, PRETRAIN_GRID):
            grid_embed = grid_embed.reshape(1, PRETRAIN_GRID, PRETRAIN_GRID, VIT_DIM).permute(0, 3, 1, 2)
            grid_embed = F.interpolate(grid_embed, size=(grid_h, grid_w), mode="bilinear", align_corners=False)
            grid_embed = grid_embed.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, VIT_DIM)
        return torch.cat([cls_embed, grid_embed], dim=1)

    def forward(self, image: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Run backbone and transformer, returning what DPT reassembles.

        Shape:
            - image: (N, 3, H, W), H and W multiples of 16
            - output: ``(stage_outputs, token_outputs)``: the three ResNet stage outputs (see
              :class:`ResNetBackbone`) and the tokens (N, 1 + H/16 * W/16, 768) after the blocks listed in
              ``TOKEN_LAYERS``.
        """
        grid_h, grid_w = image.shape[-2] // PATCH_STRIDE, image.shape[-1] // PATCH_STRIDE
        tokens, stage_outputs = self.patch_embed(image)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        tokens = tokens + self.position_embedding(grid_h, grid_w)
        token_outputs = []
        for index, block in enumerate(self.blocks):
            tokens = block(tokens)
            if index in TOKEN_LAYERS:
                token_outputs.append(tokens)
            if index == max(TOKEN_LAYERS):
                break
        return stage_outputs, token_outputs


class ProjectReadout(nn.Module):
    """"project" readout: concatenate the class token to every patch token, Linear(1536 -> 768) + GELU.

    Shape:
        - input: (N, 1 + T, 768)
        - output: (N, T, 768)
    """

    def __init__(self, dim: int = VIT_DIM) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU())

    def forward(self, tokens: Tensor) -> Tensor:
        patch_tokens = tokens[:, 1:]
        class_token = tokens[:, :1].expand_as(patch_tokens)
        return self.project(torch.cat([patch_tokens, class_token], dim=-1))


class TokenReassemble(nn.Module):
    """Tokens -> image-like feature map: readout, reshape to the token grid, 1x1 conv, optional resampling.

    Child modules are named "0", "3" (and "4") to match the checkpoint (``act_postprocess3.0.project.0.weight``,
    ``act_postprocess3.3.weight``, ``act_postprocess4.4.weight``): in the reference these are positions in an
    ``nn.Sequential`` whose positions 1 and 2 (transpose, unflatten) have no parameters.

    Shape:
        - tokens: (N, 1 + gh * gw, 768)
        - output: (N, 768, gh, gw), or (N, 768, ceil(gh / 2), ceil(gw / 2)) with ``downsample=True``
    """

    def __init__(self, out_channels: int = VIT_DIM, downsample: bool = False) -> None:
        super().__init__()
        self.add_module("0", ProjectReadout(VIT_DIM))
        self.add_module("3", nn.Conv2d(VIT_DIM, out_channels, kernel_size=1))
        if downsample:
            self.add_module("4", nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=2, padding=1))

    def forward(self, tokens: Tensor, grid_h: int, grid_w: int) -> Tensor:
        patch_features = self._modules["0"](tokens)
        feature_map = patch_features.transpose(1, 2).reshape(tokens.shape[0], VIT_DIM, grid_h, grid_w)
        feature_map = self._modules["3"](feature_map)
        if "4" in self._modules:
            feature_map = self._modules["4"](feature_map)
        return feature_map


class DPTEncoder(nn.Module):
    """Hybrid ViT plus reassembly to four feature maps (``pretrained`` in the checkpoint).

    Shape:
        - image: (N, 3, H, W), H and W multiples of 32
        - output: list of 4 maps: (N, 256, H/4, W/4), (N, 512, H/8, W/8), (N, 768, H/16, W/16),
          (N, 768, H/32, W/32)
    """

    def __init__(self, formula: str) -> None:
        super().__init__()
        self.model = HybridVisionTransformer(formula)
        # Maps 1 and 2 are ResNet stage outputs and need no reassembly (identity in the reference).
        self.act_postprocess3 = TokenReassemble(VIT_DIM)
        self.act_postprocess4 = TokenReassemble(VIT_DIM, downsample=True)

    def forward(self, image: Tensor) -> list[Tensor]:
        grid_h, grid_w = image.shape[-2] // PATCH_STRIDE, image.shape[-1] // PATCH_STRIDE
        stage_outputs, (tokens_3, tokens_4) = self.model(image)
        return [
            stage_outputs[0],
            stage_outputs[1],
            self.act_postprocess3(tokens_3, grid_h, grid_w),
            self.act_postprocess4(tokens_4, grid_h, grid_w),
        ]


class ResidualConvUnit(nn.Module):
    """``x + conv2(relu(conv1(relu(x))))`` with 3x3 convs; with ``batch_norm`` (the segmentation
    model) each conv drops its bias and is followed by a BatchNorm (running statistics).

    Shape:
        - input / output: (N, 256, H, W)
    """

    def __init__(self, channels: int = FEATURES, batch_norm: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=not batch_norm)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(channels) if batch_norm else nn.Identity()
        self.bn2 = nn.BatchNorm2d(channels) if batch_norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        # The ReLU and the sum in place on maps made here (the sum's order does not change its
        # value): neither allocates a map.
        residual = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(F.relu(x))), inplace=True)))
        return residual.add_(x)


class FusionBlock(nn.Module):
    """RefineNet-style fusion: add the refined skip, refine, upsample (bilinear, align_corners) x2 or to
    ``size``, 1x1 conv (:meth:`merge`, :meth:`refine`, then :meth:`upsample`).

    Shape:
        - coarse: (N, C, H, W) (output of the previous fusion block, or the deepest map)
        - skip: (N, C, H, W) or None (the deepest block has no skip)
        - output: (N, C, 2H, 2W), or (N, C, *size)
    """

    def __init__(self, channels: int = FEATURES, batch_norm: bool = False) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(channels, channels, kernel_size=1)
        self.resConfUnit1 = ResidualConvUnit(channels, batch_norm)
        self.resConfUnit2 = ResidualConvUnit(channels, batch_norm)

    def forward(self, coarse: Tensor, skip: Tensor | None = None, size: tuple[int, int] | None = None) -> Tensor:
        return self.upsample(self.refine(self.merge(coarse, skip)), size)

    def merge(self, coarse: Tensor, skip: Tensor | None = None) -> Tensor:
        """``coarse`` plus the refined ``skip`` (summed into the latter, a new map), or ``coarse``."""
        return coarse if skip is None else self.resConfUnit1(skip).add_(coarse)

    def refine(self, x: Tensor) -> Tensor:
        """The merged maps refined and reduced: the block before its upsampling, (N, C, H, W)."""
        x = self.resConfUnit2(x)
        # The 1x1 convolution before the upsampling, not after as in the reference: both are
        # linear and bilinear weights sum to 1 (the bias passes through), so the result is the
        # same up to rounding, with a quarter of the convolution's work and without a second
        # map at the larger size (the last block's: 56 MB at 576x384).
        return self.out_conv(x)

    @staticmethod
    def upsample(x: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        """Bilinear (``align_corners``) x2 or to ``size``: (N, C, H, W) -> (N, C, 2H, 2W) or (N, C, *size)."""
        if size is None:
            return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class DPTDepthHead(nn.Sequential):
    """The depth model's ``output_conv`` up to its last 1x1 conv: conv3x3 256 -> 128, bilinear x2
    (``align_corners``), conv3x3 128 -> 32, ReLU, conv1x1 32 -> 1.

    The upsampled map is the largest of the whole network (128 channels at the input's size:
    113 MB at 576x384, and the convolution's own copy of it as much again). The second
    convolution sums over its input channels, so it runs on :data:`UPSAMPLED_AT_ONCE` of them at
    a time, each group upsampled on its own, and the partial sums are added: the same numbers up
    to the order of the additions.

    Shape:
        - input: (N, 256, H, W)
        - output: (N, 1, 2H, 2W)
    """

    def __init__(self, channels: int = FEATURES) -> None:
        super().__init__(
            nn.Conv2d(channels, channels // 2, kernel_size=3, padding=1),
            nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=True),
            nn.Conv2d(channels // 2, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 1, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.from_reduced(self[0](x))

    def from_reduced(self, x: Tensor) -> Tensor:
        """The head after its first convolution, whose output ``x`` is (N, 128, H, W): a caller
        can make ``x`` without the head's whole input (:class:`DPTHybrid` convolves it in bands
        of rows), which then never meets the largest step."""
        _, upsample, convolve, activation, project = self
        summed = None
        for part, weight in zip(x.split(UPSAMPLED_AT_ONCE, dim=1), convolve.weight.split(UPSAMPLED_AT_ONCE, dim=1)):
            term = F.conv2d(upsample(part), weight, padding=convolve.padding)
            summed = term if summed is None else summed.add_(term)
            del term
        summed.add_(convolve.bias.view(1, -1, 1, 1))
        return project(activation(summed))


#: Channels of the depth head's upsampled map made at once (see :class:`DPTDepthHead`).
UPSAMPLED_AT_ONCE = 16


def depth_head(channels: int = FEATURES) -> DPTDepthHead:
    """The depth model's ``output_conv`` up to its last 1x1 conv: (N, 256, H, W) -> (N, 1, 2H, 2W)."""
    return DPTDepthHead(channels)


def segmentation_head(channels: int = FEATURES, classes: int = 150, upsample: bool = True) -> nn.Sequential:
    """conv3x3 (no bias) -> BN -> ReLU -> Dropout(0.1) -> conv1x1 to ``classes`` [-> bilinear x2]:
    the segmentation model's ``output_conv`` (with the upsampling) and its ``auxlayer`` (without)."""
    layers = [
        nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Conv2d(channels, classes, kernel_size=1),
    ]
    if upsample:
        layers.append(nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=True))
    return nn.Sequential(*layers)


#: Most bytes of a head's input convolved at once (see :meth:`DPTDecoder.head_start_in_bands`).
HEAD_INPUT_BYTES_AT_ONCE = 4 << 20


class DPTDecoder(nn.Module):
    """Fusion decoder and head (``scratch`` in the checkpoint).

    Args:
        head: ``output_conv`` (:func:`depth_head` or :func:`segmentation_head`).
        batch_norm: BatchNorm in the fusion blocks' residual units (the segmentation model).

    Shape:
        - features: the four maps of :class:`DPTEncoder`
        - output: the head's output at the input image's size, (N, C, H, W)
    """

    def __init__(self, head: nn.Module, channels: int = FEATURES, batch_norm: bool = False) -> None:
        super().__init__()
        self.layer1_rn = nn.Conv2d(256, channels, kernel_size=3, padding=1, bias=False)
        self.layer2_rn = nn.Conv2d(512, channels, kernel_size=3, padding=1, bias=False)
        self.layer3_rn = nn.Conv2d(VIT_DIM, channels, kernel_size=3, padding=1, bias=False)
        self.layer4_rn = nn.Conv2d(VIT_DIM, channels, kernel_size=3, padding=1, bias=False)
        self.refinenet1 = FusionBlock(channels, batch_norm)
        self.refinenet2 = FusionBlock(channels, batch_norm)
        self.refinenet3 = FusionBlock(channels, batch_norm)
        self.refinenet4 = FusionBlock(channels, batch_norm)
        self.output_conv = head

    def forward(self, features: list[Tensor]) -> Tensor:
        return self.output_conv(self.fuse(list(features)))

    def fuse(self, features: list[Tensor]) -> Tensor:
        """The fusion blocks' output, the head's input: (N, 256, H/2, W/2); empties ``features``
        (see :meth:`fuse_before_upsampling`)."""
        return self.refinenet1.upsample(self.fuse_before_upsampling(features))

    def fuse_before_upsampling(self, features: list[Tensor]) -> Tensor:
        """The fusion blocks' output before the last block's upsampling: (N, 256, H/4, W/4).

        Takes the maps off ``features`` as it uses them, deepest first, so that where the caller
        holds no other reference each is freed once its ``layer*_rn`` convolution has run (the
        finest, 256 channels at a quarter of the input's size, before the last block's residual
        units).
        """
        # One name for the path: each level's map is freed once the next is made.
        path = self.refinenet4(self.layer4_rn(features.pop()))
        path = self.refinenet3(path, self.layer3_rn(features.pop()))
        path = self.refinenet2(path, self.layer2_rn(features.pop()))
        # The last block in two calls, so its input maps are freed once merged.
        path = self.refinenet1.merge(path, self.layer1_rn(features.pop()))
        return self.refinenet1.refine(path)

    def head_start_in_bands(self, features: list[Tensor],
                            followed_by: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        """The head's first convolution (then ``followed_by``, a per-pixel step) of the fusion's
        output, (N, C, H/2, W/2); empties ``features``.

        It runs on bands of rows of its input, the fusion's 256-channel map at half the image's
        size, each band at most :data:`HEAD_INPUT_BYTES_AT_ONCE` of it and upsampled from the map
        before the last block's upsampling (a quarter of that size,
        :func:`~cine_core.nets.banded.upsampled_rows`), so that map never exists whole. The
        same numbers as the head on :meth:`fuse`'s output up to the rounding of the bands
        (bit for bit at the networks' working sizes here).
        """
        before = self.fuse_before_upsampling(features)
        batch, _, height, width = before.shape
        return conv2d_in_bands(self.output_conv[0], lambda top, bottom: upsampled_rows(before, top, bottom),
                               2 * height, 2 * width, batch, before.dtype, most_bytes=HEAD_INPUT_BYTES_AT_ONCE,
                               followed_by=followed_by)


def _check_formula(formula: str) -> None:
    if formula not in STD_CONV_FORMULAS:
        raise ValueError(f"unknown std_conv_formula {formula!r}; expected one of {list(STD_CONV_FORMULAS)}")


def _check_sides(image: Tensor) -> None:
    height, width = image.shape[-2:]
    if height % 32 or width % 32:
        # Stride-32 map upsampled x2 must match the stride-16 map in the decoder.
        raise ValueError(f"image sides must be multiples of 32, got {height}x{width}")


class DPTOutput(NamedTuple):
    """Result of :meth:`DPTHybrid.forward_with_intermediates`.

    Attributes:
        inv_depth: (N, H, W) relative inverse depth, >= 0.
        head_pre_relu: (N, 1, H, W) head output before the non-negative ReLU.
        features: the four reassembled maps fed to ``scratch.layer{1..4}_rn``
            ((N, 256, H/4, W/4), (N, 512, H/8, W/8), (N, 768, H/16, W/16), (N, 768, H/32, W/32)).
    """

    inv_depth: Tensor
    head_pre_relu: Tensor
    features: list[Tensor]


class DPTHybrid(nn.Module):
    """MiDaS 3.0 DPT-Hybrid (``DPTDepthModel(backbone="vitb_rn50_384", non_negative=True)``).

    Args:
        std_conv_formula: weight standardisation of the ResNet convs, ``"std_plus_eps"`` (timm 0.4.5, the
            formula the released weights were trained with; default) or ``"sqrt_var_plus_eps"``
            (timm >= 0.4.12).

    Shape:
        - image: (N, 3, H, W), RGB in [-1, 1], H and W multiples of 32
        - output: (N, H, W) relative inverse depth (non-negative)

    Example::

        net = DPTHybrid().eval()
        net.load_state_dict(torch.load("dpt_hybrid-midas-501f0c75.pt", map_location="cpu", weights_only=True))
        with torch.no_grad():
            inv_depth = net(image)  # (1, 384, 512) for a (1, 3, 384, 512) image
    """

    def __init__(self, std_conv_formula: str = "std_plus_eps") -> None:
        super().__init__()
        _check_formula(std_conv_formula)
        self.pretrained = DPTEncoder(std_conv_formula)
        # The depth head ends with a 1x1 conv; the non-negative ReLU is applied in forward.
        self.scratch = DPTDecoder(depth_head())

    def forward_with_intermediates(self, image: Tensor) -> DPTOutput:
        """Full forward pass, also returning the pre-ReLU head output and the reassembled features."""
        _check_sides(image)
        features = self.pretrained(image)
        head_pre_relu = self._head(list(features))  # features are returned: the head gets a copy of the list
        return DPTOutput(F.relu(head_pre_relu)[:, 0], head_pre_relu, features)

    def forward(self, image: Tensor) -> Tensor:
        _check_sides(image)
        # The reassembled features are not returned: the fusion frees each as it uses it
        # (25 MB at 576x384 that forward_with_intermediates holds through the head).
        return F.relu(self._head(list(self.pretrained(image))))[:, 0]

    def _head(self, features: list[Tensor]) -> Tensor:
        """The head's pre-ReLU output (N, 1, H, W) from the reassembled ``features``, which it
        empties: ``self.scratch(features)`` up to the rounding of the convolutions' bands. The
        fusion's map (57 MB at 576x384) never exists whole (:meth:`DPTDecoder.head_start_in_bands`);
        the first convolution's 128 channels go on to the rest of the head
        (:meth:`DPTDepthHead.from_reduced`)."""
        return self.scratch.output_conv.from_reduced(self.scratch.head_start_in_bands(features))



class DPTSegmentation(nn.Module):
    """DPT-Hybrid semantic segmentation (``DPTSegmentationModel(150, backbone="vitb_rn50_384")``,
    checkpoint ``dpt_hybrid-ade20k-53898607.pt``, ADE20K's 150 classes).

    The encoder is the depth model's; the fusion blocks have BatchNorm and the head is
    :func:`segmentation_head`. ``auxlayer`` (a second head used in training) exists only for
    strict loading: the forward pass never uses it. Use it in eval mode (BN running statistics,
    no dropout).

    Shape:
        - image: (N, 3, H, W), RGB in [-1, 1], H and W multiples of 32
        - output: (N, classes, H, W) logits
    """

    def __init__(self, classes: int = 150, std_conv_formula: str = "std_plus_eps") -> None:
        super().__init__()
        _check_formula(std_conv_formula)
        self.pretrained = DPTEncoder(std_conv_formula)
        self.scratch = DPTDecoder(segmentation_head(FEATURES, classes), batch_norm=True)
        self.auxlayer = segmentation_head(FEATURES, classes, upsample=False)

    def forward_with_features(self, image: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The logits and the four reassembled maps fed to ``scratch.layer{1..4}_rn``."""
        _check_sides(image)
        features = self.pretrained(image)
        return self.scratch(features), features

    def forward(self, image: Tensor) -> Tensor:
        return self.forward_with_features(image)[0]

    def half_size_logits(self, image: Tensor) -> Tensor:
        """The logits before the head's last step, (N, classes, H/2, W/2): with
        :meth:`upsample_logits` on any of their channels, the same numbers as :meth:`forward`'s
        for those channels (bit for bit at 736x480 here; small inputs may differ by a rounding,
        see :func:`~cine_core.nets.banded.upsampled_rows`), without all 150 maps at the input's
        size at once (207 MB at 720x480).

        The head runs on bands of rows of its input, the fusion's 256-channel map at half the
        input's size (90 MB at 736x480; :meth:`DPTDecoder.head_start_in_bands`), each band
        taken through the rest of the head, so neither that map nor the head's 256 channels at
        that size ever exist whole, only the logits (53 MB there). The reassembled maps are
        freed as the decoder uses them.
        """
        _check_sides(image)
        return self.scratch.head_start_in_bands(self.pretrained(image), followed_by=self.scratch.output_conv[1:-1])

    def upsample_logits(self, logits: Tensor) -> Tensor:
        """The head's last step (bilinear x2, ``align_corners``), per channel."""
        return self.scratch.output_conv[-1](logits)
