"""Where PyTorch works: the one place a device name is chosen."""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re
import sys

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


#: glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
#: Blocks up to this size come from the heap and stay there once freed.
_KEPT_BLOCK = 1 << 30


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (the one whose allocator these settings are for),
    looked up once: the add-on releases memory at every stage of every job."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # glibc; musl has none
        return libc
    except (OSError, AttributeError):
        return None


def release_freed_host_memory() -> bool:
    """Hand the free memory inside the C allocator's heap back to the system (glibc's
    ``malloc_trim``), keeping what is in use.

    A stage that runs a network on the CPU frees its activations when it ends, but glibc keeps
    freed blocks in its heap wherever something still in use lies above them. Preparing a
    1024 px photo with the published networks (sea-stacks, with its motion file) ended at a
    resident size of 1.1-1.35 GB, 500 MB with this called after each network stage of
    :func:`~cine_core.pipeline.run.prepare_scene`; in Blender the import's flow stage peaked
    530 MB over Blender's own instead of 820-1010 MB. It frees nothing in use and costs a few
    milliseconds. A no-op where the allocator is not glibc's.

    Returns:
        Whether memory was handed back.
    """
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def keep_freed_host_memory() -> bool:
    """Let this process's C allocator keep freed memory for reuse instead of returning every
    large block to the kernel at once (glibc's default for blocks of 32 MB and more).

    A 1280x720 frame allocates and frees several such tensors (the splatter's sums, the
    channels of the two renderings): each came back as fresh pages that the kernel zeroes on
    first touch, ~68,000 page faults and ~0.13 s of system time per frame on the CPU. Kept, the
    next frame reuses them. One arena for all threads, so that a thread rendering a frame reuses
    what another freed (with an arena per thread each kept its own peak: 1.65 GB instead of
    1.51 GB after ten 1280x720 frames two at a time). The resident size stays at the peak until
    the process ends. Only for processes that are wholly ours (the command line, the
    benchmark), never inside another application (Blender): it changes the whole process.

    Returns:
        Whether the setting applied (glibc only; elsewhere nothing changes).
    """
    libc = _glibc()
    if libc is None:
        return False
    return all([libc.mallopt(_M_ARENA_MAX, 1), libc.mallopt(_M_MMAP_THRESHOLD, _KEPT_BLOCK),
                libc.mallopt(_M_TRIM_THRESHOLD, _KEPT_BLOCK)])
