"""Where PyTorch works: the one place a device name is chosen."""
from __future__ import annotations

import torch

from .errors import CineError


def resolve_device(name: str = "auto") -> str:
    """A device name PyTorch accepts: ``auto`` is CUDA when PyTorch sees a GPU, else the CPU.

    Raises:
        CineError: ``cuda`` or ``cuda:N`` asked for where PyTorch sees no GPU.
    """
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CineError("--device cuda: this PyTorch build has no CUDA or no GPU is visible")
    return name
