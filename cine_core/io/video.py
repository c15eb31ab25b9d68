"""Writing the clip: MP4 (H.264), WebM (VP9), GIF, or a folder of PNG frames; reading a clip of
the scene for its motion, streamed and downscaled while decoded.

The destination is checked before any work (:func:`check_video_output`) and written through
:mod:`cine_core.io.outputs`, so a failed or cancelled render never leaves a half-written file or
folder behind or destroys an earlier result.
"""
from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Iterator

import cv2
import numpy as np

from ..errors import CineError
from .checks import check_regular_file, printable
from .integrity import check_complete
from .outputs import FRAME_PREFIX, FRAME_SUFFIX, atomic_file, atomic_folder, check_frame_folder, check_output_file

VIDEO_FORMATS = (".mp4", ".webm", ".gif")


def _even(frame: np.ndarray) -> np.ndarray:
    # H.264/VP9 with 4:2:0 chroma need even sides: repeat the last row/column if odd.
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frame


def check_video_output(out: str, option: str = "output") -> str:
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
    once every new frame is written. Every file is checked to be whole
    (:func:`~cine_core.io.integrity.check_complete`: the encoder's exit status and the
    container's index or trailer) before it is moved into place.
    """
    if not fps > 0:
        raise CineError("must be positive", parameter="fps")
    out = check_video_output(out)
    ext = os.path.splitext(out)[1].lower()
    if ext in VIDEO_FORMATS:
        with atomic_file(out, ext) as temporary:
            count = _write_gif(frames, temporary, fps) if ext == ".gif" else _encode(frames, temporary, ext, fps, out)
            check_complete(temporary, ext, out)
            return count
    with atomic_folder(out) as temporary:
        count = 0
        for count, frame in enumerate(frames, start=1):
            path = os.path.join(temporary, f"{FRAME_PREFIX}{count - 1:04d}{FRAME_SUFFIX}")
            encoded, png = cv2.imencode(FRAME_SUFFIX, frame[:, :, ::-1])
            if not encoded:
                raise CineError(f"cannot encode frame {count - 1} as PNG")
            with open(path, "wb") as handle:  # a full disk raises here (OSError), in one line
                handle.write(png.data)
            check_complete(path, FRAME_SUFFIX, os.path.join(out, os.path.basename(path)))
        if count == 0:
            raise CineError("no frames to write")
    return count


def _write_gif(frames: Iterable[np.ndarray], path: str, fps: float) -> int:
    """An endlessly looping GIF (Pillow's palette per frame); returns the number of frames."""
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    if not images:
        raise CineError("no frames to write")
    with open(path, "wb") as handle:
        images[0].save(handle, format="GIF", save_all=True, append_images=images[1:], duration=1000.0 / fps,
                       loop=0)
    return len(images)


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _encoder_command(path: str, ext: str, width: int, height: int, fps: float) -> list[str]:
    """ffmpeg reading raw RGB frames from its input: H.264 (CRF 18) or VP9 (CRF 30), 4:2:0."""
    codec = {".mp4": ["libx264", "-crf", "18"], ".webm": ["libvpx-vp9", "-crf", "30", "-b:v", "0"]}[ext]
    return [_ffmpeg(), "-y", "-f", "rawvideo", "-vcodec", "rawvideo",
            "-s", f"{width}x{height}", "-pix_fmt", "rgb24", "-r", str(Fraction(fps).limit_denominator()),
            "-i", "-", "-an", "-vcodec", codec[0], "-pix_fmt", "yuv420p", "-v", "error", *codec[1:], path]


def _encode(frames: Iterable[np.ndarray], path: str, ext: str, fps: float, out: str) -> int:
    """Stream ``frames`` through ffmpeg into ``path`` (the temporary of ``out``); a failed
    encoder (non-zero exit status, including a closing error such as a full disk) is a
    :class:`CineError` quoting its last complaint. Returns the number of frames."""
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise CineError("no frames to write")
    first = _even(first)
    height, width = first.shape[:2]
    count = 0
    with tempfile.TemporaryFile() as log:
        encoder = subprocess.Popen(_encoder_command(path, ext, width, height, fps), stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=log)
        try:
            try:
                for frame in itertools.chain([first], frames):
                    frame = _even(frame)
                    if frame.shape[:2] != (height, width):
                        raise CineError(f"frame {count} is {frame.shape[1]}x{frame.shape[0]} pixels, "
                                        f"not {width}x{height} as the first")
                    encoder.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).data)
                    count += 1
            finally:
                # Closing ends the input; after a broken pipe it still frees the handle.
                with contextlib.suppress(BrokenPipeError):
                    encoder.stdin.close()
        except BrokenPipeError:  # the encoder stopped early: its exit status says why
            pass
        except BaseException:
            encoder.kill()
            encoder.wait()
            raise
        status = encoder.wait()
        if status != 0:
            log.seek(0)
            why = _encoder_complaint(log.read().decode("utf-8", "replace"), status)
            raise CineError(f"cannot write {printable(out)}: the video encoder failed "
                            f"({printable(why.replace(path, os.path.basename(out)), 200)})")
    return count


def _encoder_complaint(log: str, status: int) -> str:
    """Why ffmpeg failed, in few words: the system's reason when a line ends with one (a full
    disk: "No space left on device"), else its last line without the "[muxer @ 0x...]" tag,
    else the exit status or the signal that stopped it."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    system_reasons = {os.strerror(code) for code in errno.errorcode}
    for line in lines:
        reason = line.rsplit(": ", 1)[-1]
        if reason in system_reasons:
            return reason
    if lines:
        return re.sub(r"^\[[^\]]*\]\s*", "", lines[-1])
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"stopped by {signal.Signals(-status).name}"
    return f"exit status {status}"


def read_video(path: str) -> tuple[list[np.ndarray], float]:
    """Read every frame of a video as (H, W, 3) uint8 RGB, and its frame rate (0.0 when the
    file names none, as GIFs may not).

    ffmpeg decodes each frame once, as stored (no frame dropped or repeated to a rate), and the
    size and rate come from the header it prints; its pipes are closed whatever happens.
    """
    check_regular_file(path, "video")
    command = [_ffmpeg(), "-nostdin", "-hide_banner", "-i", path, "-map", "0:v:0",
               "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    try:
        decoded = subprocess.run(command, capture_output=True, timeout=3600)
    except OSError as exc:
        raise CineError(f"cannot read video {os.path.basename(path)} ({exc})") from None
    log = decoded.stderr.decode("utf-8", "replace")
    stream = _video_stream(log)
    if decoded.returncode != 0 or stream is None:
        why = _encoder_complaint(log, decoded.returncode) if decoded.returncode else "no video stream"
        raise CineError(f"cannot read video {os.path.basename(path)} ({printable(why, 200)})")
    width, height, fps = stream
    pixels = np.frombuffer(bytearray(decoded.stdout), np.uint8)  # writable, as callers may expect
    count = pixels.size // (width * height * 3)
    frames = list(pixels[:count * width * height * 3].reshape(count, height, width, 3))
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


def _video_stream(log: str) -> tuple[int, int, float] | None:
    """(width, height, frames per second or 0) of the first video stream in ffmpeg's header
    ``log``, or None when it shows none."""
    stream = next((line for line in log.splitlines() if "Video:" in line), "")
    size = re.search(r"[ ,](\d+)x(\d+)[ ,\[]", stream)
    if size is None:
        return None
    rate = re.search(r"(\d+(?:\.\d+)?) fps", stream)
    return int(size.group(1)), int(size.group(2)), float(rate.group(1)) if rate else 0.0


def read_clip_header(path: str) -> ClipHeader:
    """Read a video clip's header with ffmpeg (no frame is decoded) and refuse, with one line, a
    clip that is missing, unreadable, too large or too long."""
    name = _clip_name(path)
    check_regular_file(path, "video")
    try:  # with no output named, ffmpeg prints the header and stops
        log = subprocess.run([_ffmpeg(), "-nostdin", "-hide_banner", "-i", path], capture_output=True,
                             timeout=60).stderr.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CineError(f"cannot read video {name} ({printable(str(exc), 120)})") from None
    stream = _video_stream(log)
    if stream is None:
        raise CineError(f"cannot read video {name}: the file is damaged or not a video ffmpeg decodes")
    width, height, fps = stream
    rotation = re.search(r"rotat(?:e\s*:\s*|ion of )(-?\d+(?:\.\d+)?)", log)
    if rotation and round(abs(float(rotation.group(1)))) % 180 == 90:  # ffmpeg turns the frames upright
        width, height = height, width
    if width < 2 or height < 2:
        raise CineError(f"cannot read video {name}: it has no picture")
    if width * height > MAX_CLIP_PIXELS:
        raise CineError(f"video {name} is {width}x{height} pixels, above the limit of "
                        f"{MAX_CLIP_PIXELS // 1_000_000} megapixels (8K); downscale it first")
    length = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", log)
    duration = int(length.group(1)) * 3600 + int(length.group(2)) * 60 + float(length.group(3)) if length else 0.0
    if not 0.0 <= fps < 10_000.0:
        fps = 0.0
    if duration > MAX_CLIP_SECONDS:
        raise CineError(f"video {name} lasts {duration:.0f} s; trim it to at most {MAX_CLIP_SECONDS:.0f} s "
                        f"(a few seconds of the moving scene are enough)")
    return ClipHeader((width, height), fps, duration)


def stream_clip(path: str, size: tuple[int, int], max_frames: int) -> Iterator[np.ndarray]:
    """Yield a clip's frames one at a time as (H, W) uint8 luma at ``size`` = (W, H).

    ffmpeg scales each frame while decoding (area averaging), so no frame is ever held at its
    full size and memory does not grow with the clip's length. A clip with more than
    ``max_frames`` frames is refused (its header may not say how long it is). ffmpeg is stopped
    and its pipes closed however the iteration ends.
    """
    width, height = size
    command = [_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path, "-map", "0:v:0",
               "-vf", f"scale={width}:{height}:flags=area", "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    frame_bytes = width * height
    with tempfile.TemporaryFile() as log:
        try:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
        except OSError as exc:
            raise CineError(f"cannot read video {_clip_name(path)} ({printable(str(exc), 120)})") from None
        try:
            count = 0
            while len(data := process.stdout.read(frame_bytes)) == frame_bytes:
                count += 1
                if count > max_frames:
                    raise CineError(f"video {_clip_name(path)} has more than {max_frames} frames; trim it to "
                                    f"at most {MAX_CLIP_SECONDS:.0f} s")
                yield np.frombuffer(data, np.uint8).reshape(height, width)
            if process.wait() != 0:
                raise CineError(f"cannot read video {_clip_name(path)}: decoding failed part way (damaged file)")
        finally:
            if process.poll() is None:
                process.kill()
            process.stdout.close()
            process.wait()
