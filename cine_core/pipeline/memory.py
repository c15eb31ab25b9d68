"""How much memory a run will take, predicted before any work starts, and what the machine has.

The model is fitted to measured peaks (``tools/measure_memory.py``; the fit and its data are in
docs/performance.md): the process's peak resident set size is a base (Python, PyTorch, OpenCV)
plus a cost per working pixel (photo, depth, layers, flow, the renderer's buffers, for each
frame rendered at once) plus a cost per pixel and loop frame (the trajectories of the moving
points: forward and backward positions kept every few frames). Which pixels move is
found only later, so the estimate assumes that every pixel moves: an upper bound, 1.3-1.5 times
the measured peak of a photo a fifth of which moves. The video encoder's own process (ffmpeg,
tens of MB) is not counted.

Front ends call :func:`check_memory` before they read the photo's pixels: the command line and
the Blender import refuse a run that would not fit and name a size that would.
"""
from __future__ import annotations

import os

from ..errors import CineError
from ..io.images import least_long_side, read_photo_header, working_size
from ..parallel import FRAMES_AT_ONCE

#: The default cap on the photo's long side (``--size``), the same as the Blender import's Size
#: Limit. A 24 MP phone photo becomes 1024 x 683: a 60-frame loop peaked at 1.1 GB measured (an
#: earlier renderer) on a photo a fifth of which moves, and at most 1.5 GB is estimated if all of
#: it moves, within what a 16 GB laptop has beside other applications (1280 px: at most 2.1 GB;
#: full size of that photo: tens of GB). ``--size`` sets any other cap, 0 keeps full size.
DEFAULT_MAX_SIDE = 1024

#: Fitted by least squares to the peaks measured by tools/measure_memory.py with every pixel
#: moving (5 runs, 320-960 px, 20-120 frames, two frames in flight: docs/performance.md), each
#: rounded up so the estimate stays above every measured peak: the base (Python, PyTorch,
#: OpenCV and the libraries' buffers, fitted 430 MiB), bytes per working pixel (fitted 1186
#: with the second frame in flight, below) and per moving point and loop frame (fitted 4.4:
#: its two positions, 16 bytes, kept every 4th frame, and the integrator's temporaries).
BASE_BYTES = 440 << 20
BYTES_PER_PIXEL = 920
BYTES_PER_PIXEL_FRAME = 5
#: Per moving point and loop frame where every step's positions are kept (a viewport's loop,
#: :func:`~cine_core.motion.animation.playback_points`: the Blender import): fitted 16.4 when
#: the renderer kept every step (issue 22's third round, docs/performance.md), rounded up.
BYTES_PER_PIXEL_FRAME_PLAYBACK = 17
#: Bytes per output pixel that each frame rendered beside another costs: on the CPU
#: :data:`~cine_core.parallel.FRAMES_AT_ONCE` frames are in flight, each with its own splatting
#: and blending temporaries (measured at 1280x720: two frames at once peak 170-240 MB above one;
#: 310 MB with the renderer before issue 22's last round, which this keeps as the bound).
BYTES_PER_PIXEL_IN_FLIGHT = 340
#: Environment variable that sets the memory available to a run (bytes, or with a K/M/G suffix),
#: for machines shared by several jobs; without it the machine's own answer is used.
LIMIT_VARIABLE = "CINE_CORE_MEMORY_LIMIT"


def max_side_for(size: int | None, photo_size: tuple[int, int]) -> int | None:
    """The cap on the long side for ``--size`` (None: the default, 0: full size): the default is
    widened for a photo whose short side it would make narrower than
    :data:`~cine_core.io.images.MIN_SIDE`."""
    if size == 0:
        return None
    if size is None:
        return max(DEFAULT_MAX_SIDE, least_long_side(*photo_size))
    return size


def estimate_peak_bytes(width: int, height: int, frames: int, playback: bool = False) -> int:
    """Peak resident memory of preparing a ``width`` x ``height`` working photo and rendering a
    loop of ``frames`` (upper bound: every pixel moves), Python and PyTorch included;
    ``playback``: the loop keeps every step's positions, for a viewport."""
    return BASE_BYTES + width * height * (_bytes_per_pixel() + _bytes_per_pixel_frame(playback) * (frames + 1))


def _bytes_per_pixel_frame(playback: bool) -> int:
    return BYTES_PER_PIXEL_FRAME_PLAYBACK if playback else BYTES_PER_PIXEL_FRAME


def _bytes_per_pixel() -> int:
    """What a working pixel costs whatever the loop's length, the frames in flight included."""
    return BYTES_PER_PIXEL + BYTES_PER_PIXEL_IN_FLIGHT * (FRAMES_AT_ONCE - 1)


def _parse_bytes(text: str) -> int | None:
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    try:
        value = float(number) * scale
    except ValueError:
        return None
    return int(value) if value > 0 else None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _cgroup_room() -> int | None:
    """What this process's control group still allows (its limit minus its usage), if limited:
    cgroup v2 (``memory.max``) or v1 (``memory.limit_in_bytes``)."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read(limit_file), _read(usage_file)
        if limit and limit.isdigit() and usage and usage.isdigit() and int(limit) < 1 << 60:
            return max(0, int(limit) - int(usage))
    return None


def available_bytes() -> int | None:
    """Memory a new run may use: ``CINE_CORE_MEMORY_LIMIT`` when set, else the smaller of the
    kernel's MemAvailable (/proc/meminfo) and the room left in this process's cgroup; None
    where neither can be read (then nothing is refused)."""
    given = os.environ.get(LIMIT_VARIABLE)
    if given:
        value = _parse_bytes(given)
        if value is None:
            raise CineError(f"{LIMIT_VARIABLE}={given[:40]} is not an amount of memory; write e.g. 4G or 1500M")
        return value
    answers = []
    meminfo = _read("/proc/meminfo") or ""
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            answers.append(int(line.split()[1]) * 1024)
    room = _cgroup_room()
    if room is not None:
        answers.append(room)
    return min(answers) if answers else None


def _in_words(amount: int) -> str:
    return f"{amount / (1 << 30):.1f} GB" if amount >= 1 << 30 else f"{amount >> 20} MB"


def check_memory(size: tuple[int, int], frames: int, photo_size: tuple[int, int] | None = None,
                 playback: bool = False) -> int:
    """Refuse a run whose estimated peak (:func:`estimate_peak_bytes` at working ``size``, less
    the base already loaded) exceeds :func:`available_bytes`; returns the estimate in bytes.

    Args:
        photo_size: the photo's own (width, height), to name the largest ``--size`` that fits;
            None for a prepared scene, whose size is fixed.
        playback: the loop keeps every step's positions, for a viewport.

    Raises:
        CineError: one line with the estimate, what is available, and the size (or loop length)
            that would fit.
    """
    estimate = estimate_peak_bytes(*size, frames, playback)
    available = available_bytes()
    if available is None or estimate - BASE_BYTES <= available:
        return estimate
    need = (f"about {_in_words(estimate)} of memory at {size[0]}x{size[1]} pixels with {frames} frames, "
            f"but {_in_words(available)} is available")
    fitting = _largest_fitting_side(photo_size, frames, available, playback) if photo_size else None
    if fitting is not None:
        raise CineError(f"this run needs {need}; {fitting} or less fits", parameter="max_side")
    smallest = working_size(*photo_size, least_long_side(*photo_size)) if photo_size else size
    fewer = _most_fitting_frames(smallest, available, playback)
    if not fewer:
        raise CineError(f"this run needs {need}; free some memory")
    at_size = f" at a size limit of {max(smallest)}" if smallest != size else ""
    raise CineError(f"this run needs {need}; {fewer} frames or fewer fit{at_size}", parameter="loop_frames")


def _fits(size: tuple[int, int], frames: int, available: int, playback: bool) -> bool:
    return estimate_peak_bytes(*size, frames, playback) - BASE_BYTES <= available


def _largest_fitting_side(photo_size: tuple[int, int], frames: int, available: int, playback: bool) -> int | None:
    """The largest ``--size`` at which the run fits (bisection: the estimate grows with it)."""
    low, high = least_long_side(*photo_size), max(photo_size)
    if not _fits(working_size(*photo_size, low), frames, available, playback):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if _fits(working_size(*photo_size, middle), frames, available, playback):
            low = middle
        else:
            high = middle - 1
    return low


def _most_fitting_frames(size: tuple[int, int], available: int, playback: bool) -> int | None:
    """The longest loop (at least 2 frames) that fits at ``size``, if any."""
    pixels = size[0] * size[1]
    frames = (available - pixels * _bytes_per_pixel()) // max(1, pixels * _bytes_per_pixel_frame(playback)) - 1
    return int(frames) if frames >= 2 else None


def check_photo_memory(photo: str, max_side: int | None, frames: int, playback: bool = False) -> tuple[int, int]:
    """:func:`check_memory` for preparing the photo file ``photo`` with its long side capped at
    ``max_side`` (None: full size) and animating a loop of ``frames`` (``playback``: keeping
    every step's positions, for a viewport); only its header is read. Returns the working size
    (width, height)."""
    photo_size = read_photo_header(photo).upright_size
    size = working_size(*photo_size, max_side)
    check_memory(size, frames, photo_size, playback)
    return size
