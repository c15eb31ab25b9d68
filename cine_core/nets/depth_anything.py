"""Depth Anything V2 Small (checkpoint ``depth_anything_v2_vits.pth``, Apache-2.0): relative
inverse depth from one photo.

Architecture (Yang et al., "Depth Anything V2", 2024):

* **Encoder** (``pretrained``): DINOv2 ViT-S/14: 14x14 patches projected to 384-d tokens, a class
  token, learned position embeddings for a 37x37 grid (518 px) resized bicubically to the photo's
  grid, and 12 pre-norm transformer blocks (6 heads, MLP ratio 4, layer scale). The tokens after
  blocks 2, 5, 8 and 11 go through the final LayerNorm and on to the head; the class token is not
  used.
* **Head** (``depth_head``): each token map is reshaped to its grid and projected by a 1x1 conv to
  48, 96, 192 and 384 channels, then resampled to strides 3.5, 7, 14 and 28 of the input (4x4 and
  2x2 transposed convs, identity, a 3x3 stride-2 conv). The DPT fusion decoder (64 channels,
  each block upsampling to the next finer map's size) and a head of conv 64->32, bilinear to the
  input size, conv 32->32, ReLU, conv 32->1, ReLU give the disparity; a last ReLU keeps it >= 0.

Parameter names and shapes match the released checkpoint key for key (``strict=True``).

Input: RGB in [0, 1] normalised with the ImageNet mean and std, both sides multiples of 14.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .dpt import FusionBlock, TransformerBlock

__all__ = ["DepthAnythingV2", "PATCH", "PRETRAIN_SIDE", "IMAGENET_MEAN", "IMAGENET_STD"]

PATCH = 14
#: the position embeddings were trained for 518 x 518 inputs (37 x 37 patches)
PRETRAIN_SIDE = 518
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: the reference adds 0.1 to the target grid before resizing the position embeddings (a guard
#: against floor() rounding down in ``interpolate``); the scale factor it passes keeps the offset.
_GRID_OFFSET = 0.1


class PatchEmbed(nn.Module):
    """14x14 stride-14 conv: (N, 3, H, W) -> (N, H/14 * W/14, dim) tokens, row-major."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=PATCH, stride=PATCH)

    def forward(self, image: Tensor) -> Tensor:
        return self.proj(image).flatten(2).transpose(1, 2)


class DinoV2Encoder(nn.Module):
    """DINOv2 ViT (``pretrained`` in the checkpoint); ``mask_token`` exists only for strict loading.

    Shape:
        - image: (N, 3, H, W), H and W multiples of 14
        - output: one (N, H/14 * W/14, dim) map per block in ``taps``, after the final LayerNorm
    """

    def __init__(self, dim: int = 384, depth: int = 12, num_heads: int = 6) -> None:
        super().__init__()
        grid = PRETRAIN_SIDE // PATCH
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))
        self.patch_embed = PatchEmbed(dim)
        self.blocks = nn.ModuleList([TransformerBlock(dim, num_heads, layer_scale=True) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def position_embedding(self, rows: int, cols: int, dtype: torch.dtype) -> Tensor:
        """(1, 1 + rows * cols, dim) embeddings for a rows x cols grid: the trained grid resized
        bicubically in float32, with the reference's scale factor (see :data:`_GRID_OFFSET`)."""
        grid = PRETRAIN_SIDE // PATCH
        if rows == cols == grid:
            return self.pos_embed.to(dtype)
        embed = self.pos_embed.float()
        dim = embed.shape[-1]
        patch_embed = embed[:, 1:].reshape(1, grid, grid, dim).permute(0, 3, 1, 2)
        patch_embed = F.interpolate(patch_embed, mode="bicubic",
                                    scale_factor=((rows + _GRID_OFFSET) / grid, (cols + _GRID_OFFSET) / grid))
        assert patch_embed.shape[-2:] == (rows, cols)
        patch_embed = patch_embed.permute(0, 2, 3, 1).reshape(1, rows * cols, dim)
        return torch.cat([embed[:, :1], patch_embed], dim=1).to(dtype)

    def forward(self, image: Tensor, taps: tuple[int, ...]) -> list[Tensor]:
        rows, cols = image.shape[-2] // PATCH, image.shape[-1] // PATCH
        tokens = self.patch_embed(image)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        tokens = tokens + self.position_embedding(rows, cols, tokens.dtype)
        outputs = []
        for index, block in enumerate(self.blocks[:max(taps) + 1]):
            tokens = block(tokens)
            if index in taps:
                outputs.append(self.norm(tokens)[:, 1:])
        return outputs


class DepthHead(nn.Module):
    """Token maps -> disparity (``depth_head`` in the checkpoint).

    Shape:
        - tokens: four (N, rows * cols, dim) maps
        - output: (N, 1, 14 rows, 14 cols), >= 0
    """

    def __init__(self, dim: int = 384, features: int = 64, channels: tuple[int, ...] = (48, 96, 192, 384)) -> None:
        super().__init__()
        self.projects = nn.ModuleList([nn.Conv2d(dim, out, kernel_size=1) for out in channels])
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(channels[0], channels[0], kernel_size=4, stride=4),
            nn.ConvTranspose2d(channels[1], channels[1], kernel_size=2, stride=2),
            nn.Identity(),
            nn.Conv2d(channels[3], channels[3], kernel_size=3, stride=2, padding=1),
        ])
        self.scratch = nn.Module()
        for index, width in enumerate(channels, start=1):
            self.scratch.add_module(f"layer{index}_rn", nn.Conv2d(width, features, kernel_size=3, padding=1, bias=False))
        for index in range(1, 5):
            self.scratch.add_module(f"refinenet{index}", FusionBlock(features))
        self.scratch.output_conv1 = nn.Conv2d(features, features // 2, kernel_size=3, padding=1)
        self.scratch.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, 32, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 1, kernel_size=1), nn.ReLU())

    def forward(self, tokens: list[Tensor], rows: int, cols: int) -> Tensor:
        maps = []
        for index, part in enumerate(tokens):
            grid = part.transpose(1, 2).reshape(part.shape[0], part.shape[-1], rows, cols)
            maps.append(self.resize_layers[index](self.projects[index](grid)))
        scratch = self.scratch
        layer_1, layer_2, layer_3, layer_4 = (getattr(scratch, f"layer{i}_rn")(m) for i, m in enumerate(maps, 1))
        path = scratch.refinenet4(layer_4, size=layer_3.shape[2:])
        path = scratch.refinenet3(path, layer_3, size=layer_2.shape[2:])
        path = scratch.refinenet2(path, layer_2, size=layer_1.shape[2:])
        path = scratch.refinenet1(path, layer_1)
        out = F.interpolate(scratch.output_conv1(path), (rows * PATCH, cols * PATCH), mode="bilinear",
                            align_corners=True)
        return scratch.output_conv2(out)


class DepthAnythingV2(nn.Module):
    """Depth Anything V2 with the ViT-S encoder (the Small release).

    Shape:
        - image: (N, 3, H, W), ImageNet-normalised RGB, H and W multiples of 14
        - output: (N, H, W) relative inverse depth (larger = nearer), >= 0
    """

    #: the blocks whose tokens the head reads (ViT-S and ViT-B)
    TAPS = (2, 5, 8, 11)

    def __init__(self) -> None:
        super().__init__()
        self.pretrained = DinoV2Encoder()
        self.depth_head = DepthHead()

    def forward(self, image: Tensor) -> Tensor:
        rows, cols = image.shape[-2] // PATCH, image.shape[-1] // PATCH
        disparity = self.depth_head(self.pretrained(image, self.TAPS), rows, cols)
        return F.relu(disparity)[:, 0]
