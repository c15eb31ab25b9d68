"""Writing the clip: MP4 (H.264), WebM (VP9), GIF, or a folder of PNG frames.

The destination is checked before any work (:func:`check_video_output`) and written through
:mod:`cine_core.io.outputs`, so a failed or cancelled render never leaves a half-written file or
folder behind or destroys an earlier result.
"""
from __future__ import annotations

import os
from typing import Iterable

import cv2
import numpy as np

from ..errors import CineError
from .checks import printable
from .outputs import FRAME_PREFIX, FRAME_SUFFIX, atomic_file, atomic_folder, check_frame_folder, check_output_file

VIDEO_FORMATS = (".mp4", ".webm", ".gif")


def _even(frame: np.ndarray) -> np.ndarray:
    # H.264/VP9 with 4:2:0 chroma need even sides: repeat the last row/column if odd.
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frame


def check_video_output(out: str, option: str = "--out") -> str:
    """Check before any work that ``out`` can receive the clip: a .mp4/.webm/.gif file, or a
    folder name (no extension) for PNG frames. Returns it made absolute."""
    ext = os.path.splitext(out)[1].lower()
    if ext in VIDEO_FORMATS:
        return check_output_file(out, option)
    if ext:
        raise CineError(f"{option} {printable(os.path.basename(out))}: use .mp4, .webm, .gif or a folder name")
    return check_frame_folder(out, option)


def write_video(frames: Iterable[np.ndarray], out: str, fps: float) -> int:
    """Write (H, W, 3) uint8 RGB frames to ``out``; returns the number of frames written.

    ``out`` ending in .mp4/.webm/.gif is a video file; anything else is a folder that receives
    ``frame_0000.png``, ``frame_0001.png``, ... and replaces an earlier folder of frames only
    once every new frame is written.
    """
    if not fps > 0:
        raise CineError("--fps must be positive")
    out = check_video_output(out)
    ext = os.path.splitext(out)[1].lower()
    if ext in VIDEO_FORMATS:
        with atomic_file(out, ext) as temporary:
            return _write_file(frames, temporary, ext, fps)
    with atomic_folder(out) as temporary:
        count = 0
        for count, frame in enumerate(frames, start=1):
            name = f"{FRAME_PREFIX}{count - 1:04d}{FRAME_SUFFIX}"
            if not cv2.imwrite(os.path.join(temporary, name), frame[:, :, ::-1]):
                raise CineError(f"cannot write frames into {printable(out)}")
        if count == 0:
            raise CineError("no frames to write")
    return count


def _write_file(frames: Iterable[np.ndarray], path: str, ext: str, fps: float) -> int:
    import imageio.v2 as imageio

    count = 0
    if ext == ".gif":
        writer = imageio.get_writer(path, mode="I", duration=1000.0 / fps, loop=0)
    else:
        codec = {"mp4": "libx264", "webm": "libvpx-vp9"}[ext[1:]]
        params = ["-crf", "18"] if ext == ".mp4" else ["-crf", "30", "-b:v", "0"]
        writer = imageio.get_writer(path, fps=fps, codec=codec, macro_block_size=1,
                                    pixelformat="yuv420p", ffmpeg_log_level="error",
                                    output_params=params)
    try:
        for frame in frames:
            writer.append_data(_even(frame) if ext != ".gif" else frame)
            count += 1
    finally:
        writer.close()
    if count == 0:
        raise CineError("no frames to write")
    return count


def read_video(path: str) -> tuple[list[np.ndarray], float]:
    """Read every frame of a video as (H, W, 3) uint8 RGB, and its frame rate."""
    import imageio.v2 as imageio

    if not os.path.isfile(path):
        raise CineError(f"video not found: {path}")
    try:
        reader = imageio.get_reader(path)
        fps = float(reader.get_meta_data().get("fps", 0.0))
        frames = [np.asarray(frame)[:, :, :3] for frame in reader]
        reader.close()
    except (OSError, RuntimeError, ValueError) as exc:
        raise CineError(f"cannot read video {os.path.basename(path)} ({exc})") from None
    return frames, fps
