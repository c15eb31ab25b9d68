"""Deterministic synthetic weights for checking network re-implementations without the real checkpoints.

The golden test vectors (``tests/data/golden/``) were produced by loading the reference networks with
weights that are a pure function of each state-dict key and tensor shape. This module (used by the tests
only) re-implements that rule, so any network whose state-dict keys match the official checkpoint can be
given the very same weights and compared output for output.

The rule, per ``(key, tensor)``:

1. integer tensors (``*.num_batches_tracked``) -> 0;
2. otherwise a fresh ``torch.Generator`` seeded with ``zlib.crc32(key)`` draws, in float64,

   * ``running_var``: ``0.5 + rand(shape).float()`` (cast first, add in float32);
   * ``weight_u`` / ``weight_v`` (spectral-norm vectors): ``randn(shape)`` divided by its 2-norm
     (clamped at 1e-12), then cast to float32;
   * everything else: ``(rand(shape) * 0.2 - 0.1).float()``;
3. optionally (inpainting nets only) every ``*mask_conv.weight`` is all ones, because those PartialConv kernels
   are frozen at 1 in the real networks and random ones make the outputs blow up.

All generated floating tensors are float32, whatever the dtype of the reference tensor: the golden ``@f64``
outputs come from float32 weights loaded first and converted with ``model.double()`` afterwards.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import torch
from torch import Tensor, nn

__all__ = ["synthetic_state_dict", "synthetic_tensor", "state_dict_fingerprint"]

# Spectral-norm power-iteration vectors must be unit vectors, so they get their own draw.
_UNIT_VECTOR_SUFFIXES = ("weight_u", "weight_v")
_MASK_CONV_SUFFIX = "mask_conv.weight"


def _generator_for_key(key: str) -> torch.Generator:
    """Return a CPU generator seeded with the unsigned CRC-32 of ``key`` (UTF-8)."""
    generator = torch.Generator()
    generator.manual_seed(zlib.crc32(key.encode("utf-8")))
    return generator


def synthetic_tensor(key: str, reference: Tensor, *, ones_for_mask_conv: bool = False) -> Tensor:
    """Return the synthetic value of one state-dict entry.

    Args:
        key: full state-dict key, e.g. ``"motion_predictor.conv1.weight_u"``; it seeds the generator and
            selects the distribution by its suffix.
        reference: the tensor currently stored under ``key``; only its shape and dtype class are used.
        ones_for_mask_conv: if True, keys ending in ``mask_conv.weight`` are all ones.

    Returns:
        a new tensor of ``reference.shape``: float32 for floating references, ``zeros`` of the same dtype for
        integer (and bool) references.
    """
    shape = reference.shape
    if not reference.is_floating_point():
        return torch.zeros(shape, dtype=reference.dtype)
    if ones_for_mask_conv and key.endswith(_MASK_CONV_SUFFIX):
        return torch.ones(shape, dtype=torch.float32)

    generator = _generator_for_key(key)
    if key.endswith("running_var"):
        # Cast before adding: the rule adds 0.5 in float32, and that rounding is part of the golden weights.
        return 0.5 + torch.rand(shape, generator=generator, dtype=torch.float64).float()
    if key.endswith(_UNIT_VECTOR_SUFFIXES):
        draw = torch.randn(shape, generator=generator, dtype=torch.float64)
        norm = torch.linalg.vector_norm(draw).clamp_min(1e-12)
        return (draw / norm).float()
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 0.2 - 0.1).float()


def synthetic_state_dict(
    reference_state_dict: Mapping[str, Tensor] | nn.Module,
    *,
    ones_for_mask_conv: bool = False,
) -> dict[str, Tensor]:
    """Return the synthetic state dict for the keys and shapes of ``reference_state_dict``.

    Args:
        reference_state_dict: a state dict (key -> tensor), typically ``model.state_dict()`` of a freshly built
            network; an ``nn.Module`` is accepted for convenience and its ``state_dict()`` is used.
        ones_for_mask_conv: set for the PartialConv inpainting nets: ``*mask_conv.weight`` become all ones.

    Returns:
        a new dict with the same keys in the same order, ready for ``load_state_dict(..., strict=True)``.
    """
    if isinstance(reference_state_dict, nn.Module):
        reference_state_dict = reference_state_dict.state_dict()
    return {
        key: synthetic_tensor(key, tensor, ones_for_mask_conv=ones_for_mask_conv)
        for key, tensor in reference_state_dict.items()
    }


def state_dict_fingerprint(state_dict: Mapping[str, Tensor]) -> dict[str, object]:
    """Summarise a state dict in the format of the golden ``weights_check.pt`` files.

    Args:
        state_dict: key -> tensor.

    Returns:
        ``{"keys": list[str], "sum_f64": float64 (n,), "first4_f32": float32 (n, 4), "total_sum_f64": float64 ()}``
        where ``sum_f64`` is each tensor's float64 sum and ``first4_f32`` its first four flattened values,
        NaN-padded for tensors with fewer than four elements.
    """
    keys = list(state_dict)
    sums = torch.zeros(len(keys), dtype=torch.float64)
    first4 = torch.full((len(keys), 4), float("nan"), dtype=torch.float32)
    for row, key in enumerate(keys):
        flat = state_dict[key].detach().reshape(-1).cpu()
        sums[row] = flat.double().sum()
        head = flat[:4].float()
        first4[row, : head.numel()] = head
    return {"keys": keys, "sum_f64": sums, "first4_f32": first4, "total_sum_f64": sums.sum()}
