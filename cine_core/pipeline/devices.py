"""Where PyTorch works: the one place a device name is chosen."""
from __future__ import annotations

import re

import torch

from ..errors import CineError
from ..io.checks import printable


def resolve_device(name: str = "auto") -> str:
    """A device name PyTorch accepts: ``auto`` is CUDA when PyTorch sees a GPU, else the CPU;
    otherwise ``cpu``, ``cuda`` or ``cuda:N`` for a GPU that exists.

    Raises:
        CineError: an unknown name, or a GPU asked for that PyTorch does not see.
    """
    name = str(name).strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return name
    match = re.fullmatch(r"cuda(?::(\d{1,3}))?", name)
    if match is None:
        raise CineError(f"{printable(name, 40)!r} is not a device; use auto, cpu, cuda or cuda:N", parameter="device")
    if not torch.cuda.is_available():
        raise CineError(f"{name} is not available: this PyTorch build has no CUDA or no GPU is visible; use cpu",
                        parameter="device")
    count = torch.cuda.device_count()
    if match.group(1) is not None and int(match.group(1)) >= count:
        raise CineError(f"{name} is not available: PyTorch sees {count} GPU(s), cuda:0 to cuda:{count - 1}",
                        parameter="device")
    return name
