"""The memory estimate (cine_core.pipeline.memory) against measured peaks, and what it reads."""
from __future__ import annotations

import pytest

from cine_core.errors import CineError
from cine_core.pipeline import memory

#: Peak RSS measured with tools/measure_memory.py (docs/performance.md): (width, height, frames,
#: moving points, MiB). The estimate assumes every pixel moves, so it must lie above each. The
#: runs with the whole photo masked as moving are this renderer's (two frames in flight); those
#: where motion detection found a fifth or less moving were measured with an earlier one.
MEASURED = [(320, 213, 60, 7228, 362), (640, 427, 60, 76832, 623), (960, 640, 60, 148120, 1026),
            (1280, 853, 60, 272858, 1431), (960, 640, 20, 148120, 794), (960, 640, 120, 148120, 1473),
            (320, 213, 60, 67862, 484), (640, 427, 60, 271259, 831), (960, 640, 60, 611941, 1258),
            (640, 427, 20, 271259, 790), (640, 427, 120, 271259, 896)]


@pytest.mark.parametrize("width, height, frames, moving, peak_mib", MEASURED)
def test_the_estimate_is_above_every_measured_peak(width, height, frames, moving, peak_mib):
    estimate = memory.estimate_peak_bytes(width, height, frames) / 2**20
    assert estimate >= peak_mib
    if moving > 0.9 * width * height:  # (almost) everything moved: the estimate is tight, not a blind margin
        assert estimate < 1.15 * peak_mib


def test_default_size_and_the_thin_photo_exception():
    assert memory.max_side_for(None, (6000, 4000)) == memory.DEFAULT_MAX_SIDE == 1024
    assert memory.max_side_for(0, (6000, 4000)) is None
    assert memory.max_side_for(500, (6000, 4000)) == 500
    assert memory.max_side_for(None, (4000, 16)) == 3875  # keeps 16 pixels on the short side


def test_available_memory_from_the_environment_or_the_kernel(monkeypatch):
    monkeypatch.setenv(memory.LIMIT_VARIABLE, "1.5G")
    assert memory.available_bytes() == int(1.5 * 2**30)
    monkeypatch.setenv(memory.LIMIT_VARIABLE, "0")
    with pytest.raises(CineError, match="is not an amount of memory"):
        memory.available_bytes()
    monkeypatch.delenv(memory.LIMIT_VARIABLE)
    with open("/proc/meminfo") as handle:
        kernel = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("MemAvailable:"))
    assert 0 < memory.available_bytes() <= kernel * 1.05 + (64 << 20)


def test_a_loop_kept_for_a_viewport_is_estimated_with_every_step(monkeypatch):
    """The Blender import keeps every step's positions (playback_points): its estimate counts
    them, and the size it names as fitting is smaller than the command line's."""
    width, height, frames = 1024, 683, 60
    extra = memory.estimate_peak_bytes(width, height, frames, playback=True) - memory.estimate_peak_bytes(
        width, height, frames)
    assert extra == width * height * (frames + 1) * (memory.BYTES_PER_PIXEL_FRAME_PLAYBACK - memory.BYTES_PER_PIXEL_FRAME)
    assert extra > 0
    monkeypatch.setenv(memory.LIMIT_VARIABLE, "900M")
    named = []
    for playback in (False, True):
        with pytest.raises(CineError) as refused:
            memory.check_memory((6000, 4000), frames, (6000, 4000), playback=playback)
        named.append(int(str(refused.value).rsplit("; ", 1)[1].split()[0]))
    assert named[1] < named[0]


_FREED_HEAP = r"""
import ctypes, sys
from cine_core.host_memory import _glibc, release_freed_host_memory
libc = _glibc()
if libc is None:
    print("no glibc"); sys.exit(0)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def resident():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096
blocks = [libc.malloc(64 << 10) for _ in range(2000)]  # 125 MiB of heap blocks (below mmap's threshold)
for block in blocks:
    ctypes.memset(block, 1, 64 << 10)
for block in blocks[:-1]:  # the last one stays in use above the others: nothing can shrink the heap's top
    libc.free(block)
held = resident()
released = release_freed_host_memory()
print(released, held - resident())
"""


def test_freed_heap_memory_is_handed_back():
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", _FREED_HEAP], capture_output=True, text=True, timeout=120,
                            cwd=root, env=dict(os.environ, PYTHONPATH=root))
    assert result.returncode == 0, result.stderr
    if result.stdout.strip() == "no glibc":
        pytest.skip("the C library is not glibc: nothing to hand back")
    released, freed_bytes = result.stdout.split()
    assert released == "True"
    assert int(freed_bytes) > 100 * 2**20  # most of the 125 MiB freed inside the heap


_RESTARTED = r"""
import os, sys
import torch
from cine_core.host_memory import _glibc, keep_freed_host_memory, restart_with_allocator_tunables
if _glibc() is None:
    print("no glibc", flush=True); sys.exit(0)
print("tunables:", os.environ.get("GLIBC_TUNABLES"))
restart_with_allocator_tunables()
print("after:", os.environ.get("GLIBC_TUNABLES"), "CINE_CORE_ALLOCATOR_RESTARTED" in os.environ)
keep_freed_host_memory()
import resource
seed = torch.zeros(1)
faults = []
for _ in range(8):  # one frame's sums at 1280x720, made again and again
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    sums = seed.new_zeros(2, 10, 921601)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    del sums
print("faults:", *faults, flush=True)
"""


def _run_restarted(environment: dict) -> list[str]:
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", _RESTARTED], capture_output=True, text=True, timeout=120,
                            cwd=root, env=dict(environment, PYTHONPATH=root))
    assert result.returncode == 0, result.stderr
    if result.stdout.strip() == "no glibc":
        pytest.skip("the C library is not glibc: nothing to set up")
    return result.stdout.splitlines()


def _environment(**settings: str) -> dict:
    import os

    if os.environ.get("LD_PRELOAD"):
        pytest.skip("another allocator may be preloaded")
    keep = {key: value for key, value in os.environ.items()
            if key not in ("GLIBC_TUNABLES", "CINE_CORE_ALLOCATOR_RESTARTED")}
    return dict(keep, **settings)


def test_a_restarted_command_reuses_the_memory_it_frees():
    """The command line starts again with glibc's tunables (read only at start), once, keeping
    what was set; the programs it runs get the environment as it was. Then a large block made,
    freed and made again mostly takes no fresh memory (with glibc's small-block cache, the
    crumbs that PyTorch's aligned blocks leave beside them kept it from merging: here every
    second one of 8 took fresh pages, 4-5 in all, against 2)."""
    lines = _run_restarted(_environment(GLIBC_TUNABLES="glibc.malloc.check=0"))
    assert lines[:3] == ["tunables: glibc.malloc.check=0",  # written before the restart: flushed
                         "tunables: glibc.malloc.check=0:glibc.malloc.tcache_count=0",
                         "after: glibc.malloc.check=0 False"]
    # Pages first touched, counted in whatever size the kernel gives them (4 KiB, 64 KiB, huge).
    faults = [int(count) for count in lines[3].split()[1:]]
    assert faults[0] > 0  # the first sums are fresh memory
    assert sum(faults) < 3.5 * faults[0], lines[3]  # fresh at most three times


def test_a_command_starts_again_at_most_once():
    """Where the tunables do not reach the started command (an interpreter run in secure mode
    drops them), it goes on as it is instead of starting again and again."""
    lines = _run_restarted(_environment(CINE_CORE_ALLOCATOR_RESTARTED=""))
    assert lines[:2] == ["tunables: None", "after: None False"]


def test_the_allocator_tunables_join_those_already_set():
    from cine_core.host_memory import ALLOCATOR_TUNABLES, with_allocator_tunables

    assert with_allocator_tunables({})["GLIBC_TUNABLES"] == ALLOCATOR_TUNABLES
    joined = with_allocator_tunables({"GLIBC_TUNABLES": "glibc.malloc.check=0", "HOME": "/x"})
    assert joined == {"GLIBC_TUNABLES": f"glibc.malloc.check=0:{ALLOCATOR_TUNABLES}", "HOME": "/x"}
    assert with_allocator_tunables(joined) == joined
    own = {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=3"}  # a value of the user's own stays
    assert with_allocator_tunables(own) == own
