"""The C allocator's handling of a process's host memory: what it keeps for reuse and what it
hands back (glibc on Linux; elsewhere nothing changes). Imports no PyTorch, so that a command
can set the allocator up before PyTorch is loaded.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from typing import Mapping

#: glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
#: Blocks up to this size come from the heap and stay there once freed.
_KEPT_BLOCK = 1 << 30
#: glibc tunables for a process that is wholly ours, read only when a process starts: no
#: per-thread cache of small freed blocks. PyTorch asks for 64-byte aligned blocks, and glibc
#: cuts each from a slightly larger free block, freeing the few bytes before and after it; the
#: per-thread cache holds on to such crumbs, so a large block freed beside them cannot merge
#: with its neighbours, and the next request of the same size (a frame's sums: 74 MB at
#: 1280x720) no longer fits in it and takes fresh memory. Without the cache, the 60-frame
#: 1280x720 cascade clip peaked 50-75 MB lower (sea-stacks 90 MB), and took no longer.
ALLOCATOR_TUNABLES = "glibc.malloc.tcache_count=0"


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


def with_allocator_tunables(environment: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``environment`` whose ``GLIBC_TUNABLES`` hold :data:`ALLOCATOR_TUNABLES`
    besides the tunables it sets already (a tunable it gives a value of its own keeps it),
    for a process of ours to be started with."""
    environment = dict(environment)
    present = environment.get("GLIBC_TUNABLES", "")
    named = {setting.split("=", 1)[0] for setting in present.split(":")}
    if ALLOCATOR_TUNABLES.split("=", 1)[0] not in named:
        environment["GLIBC_TUNABLES"] = f"{present}:{ALLOCATOR_TUNABLES}" if present else ALLOCATOR_TUNABLES
    return environment


#: Set in the environment of a command started again by :func:`restart_with_allocator_tunables`,
#: holding the ``GLIBC_TUNABLES`` it had before: it starts again at most once, even where the
#: tunables do not survive the start (a secure-execution interpreter, a cleaned environment).
_RESTARTED = "CINE_CORE_ALLOCATOR_RESTARTED"


def restart_with_allocator_tunables() -> None:
    """Start this process's command again in its place (``exec``, same interpreter, flags and
    arguments) with :data:`ALLOCATOR_TUNABLES`, which glibc reads only at start. Returns at
    once where they are set already, the C library is not glibc, the command was started
    again already, or the interpreter cannot be started again; then the process goes on as
    it is. In the started process the environment is put back as it was, so programs it runs
    (the video encoder) keep glibc's defaults. Only for processes that are wholly ours (the
    command line), before they do any work.
    """
    if _RESTARTED in os.environ:
        before = os.environ.pop(_RESTARTED)
        if before:
            os.environ["GLIBC_TUNABLES"] = before
        else:
            os.environ.pop("GLIBC_TUNABLES", None)
        return
    environment = with_allocator_tunables(os.environ)
    if _glibc() is None or environment == dict(os.environ) or not sys.executable:
        return
    environment[_RESTARTED] = os.environ.get("GLIBC_TUNABLES", "")
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()  # exec drops what is not written yet
    try:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)
    except OSError:
        return
