"""Writing the clip: MP4 (H.264), WebM (VP9), GIF, or a folder of PNG frames; reading a clip of
the scene for its motion, streamed and downscaled while decoded.

The destination is checked before any work (:func:`check_video_output`) and written through
:mod:`cine_core.io.outputs`, so a failed or cancelled render never leaves a half-written file or
folder behind or destroys an earlier result.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Iterable, Iterator

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


#: Longest clip read for its motion (seconds): a few seconds show the fluid's steady motion;
#: a longer clip is refused rather than decoded for minutes.
MAX_CLIP_SECONDS = 120.0
#: Largest clip frame (pixels, 8K UHD): it is decoded and downscaled by ffmpeg, never held at
#: full size, but a larger one is not a phone's clip.
MAX_CLIP_PIXELS = 7680 * 4320


@dataclass
class ClipHeader:
    """What a clip's header says.

    Attributes:
        size: (width, height) of its frames as shown (rotation applied).
        fps: frames per second (0 when the file does not say).
        duration: seconds (0 when the file does not say).
    """

    size: tuple[int, int]
    fps: float
    duration: float


def _clip_name(path: str) -> str:
    return printable(os.path.basename(path), 120)


def read_clip_header(path: str) -> ClipHeader:
    """Read a video clip's header with ffmpeg (no frame is kept) and refuse, with one line, a
    clip that is missing, unreadable, too large or too long."""
    import imageio_ffmpeg

    name = _clip_name(path)
    if os.path.isdir(path):
        raise CineError(f"video {printable(path)} is a folder, not a file")
    if not os.path.isfile(path):
        raise CineError(f"video not found: {printable(path)}")
    frames = imageio_ffmpeg.read_frames(path, pix_fmt="gray", bits_per_pixel=8)
    try:
        meta = next(frames)
    except (OSError, RuntimeError, ValueError, StopIteration):
        raise CineError(f"cannot read video {name}: the file is damaged or not a video ffmpeg decodes") from None
    finally:
        frames.close()
    width, height = (int(v) for v in meta.get("source_size") or meta.get("size") or (0, 0))
    if meta.get("rotate", 0) in (90, 270, -90):
        width, height = height, width
    if width < 2 or height < 2:
        raise CineError(f"cannot read video {name}: it has no picture")
    if width * height > MAX_CLIP_PIXELS:
        raise CineError(f"video {name} is {width}x{height} pixels, above the limit of "
                        f"{MAX_CLIP_PIXELS // 1_000_000} megapixels (8K); downscale it first")
    fps, duration = float(meta.get("fps") or 0.0), float(meta.get("duration") or 0.0)
    if not (0.0 <= fps < 10_000.0) or not (0.0 <= duration < float("inf")):
        fps, duration = 0.0, 0.0
    if duration > MAX_CLIP_SECONDS:
        raise CineError(f"video {name} lasts {duration:.0f} s; trim it to at most {MAX_CLIP_SECONDS:.0f} s "
                        f"(a few seconds of the moving scene are enough)")
    return ClipHeader((width, height), fps, duration)


def stream_clip(path: str, size: tuple[int, int], max_frames: int) -> Iterator[np.ndarray]:
    """Yield a clip's frames one at a time as (H, W) uint8 luma at ``size`` = (W, H).

    ffmpeg scales each frame while decoding (area averaging), so no frame is ever held at its
    full size and memory does not grow with the clip's length. A clip with more than
    ``max_frames`` frames is refused (its header may not say how long it is).
    """
    import imageio_ffmpeg

    # imageio-ffmpeg warns that the frames read are not the source's size: that is the point.
    logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)
    width, height = size
    frames = imageio_ffmpeg.read_frames(path, pix_fmt="gray", bits_per_pixel=8,
                                        output_params=["-vf", f"scale={width}:{height}:flags=area"])
    try:
        meta = next(frames)
        if tuple(meta["size"]) != (width, height):
            raise CineError(f"cannot read video {_clip_name(path)}: ffmpeg gives {meta['size']} frames")
        count = 0
        for data in frames:
            count += 1
            if count > max_frames:
                raise CineError(f"video {_clip_name(path)} has more than {max_frames} frames; trim it to at most "
                                f"{MAX_CLIP_SECONDS:.0f} s")
            yield np.frombuffer(data, np.uint8).reshape(height, width)
    except (OSError, RuntimeError, ValueError, StopIteration):
        raise CineError(f"cannot read video {_clip_name(path)}: decoding failed part way (damaged file)") from None
    finally:
        frames.close()
