"""Time and peak memory of motion from a video: a long, large clip through the core's
:func:`~cine_core.motion.from_video.video_motion`, as ``--motion-video`` runs it.

Run from the repository root (not part of the test run)::

    .venv/bin/python -m bench.motion_video                       # 10 s at 1920x1080 from cascade
    .venv/bin/python -m bench.motion_video --seconds 10 --size 1920x1080 --photo-side 1280

The clip is made from a scene's real video (``--source``, default cascade's gt.mp4): each frame
upscaled to ``--size`` and the video looped (forwards: backwards would cancel its mean motion)
until ``--seconds`` are filled
(H.264, crf 18, the source's frame rate), written once into ``--clip`` (default a temporary
file; an existing file there is reused). Then a fresh process runs ``video_motion`` on the scene's
photo at ``--photo-side`` pixels and reports: the wall and CPU time, the process's peak resident
set size (``ru_maxrss``: Python, PyTorch and OpenCV included; ``baseline_rss_mb`` is the peak
after the imports) and ffmpeg's, a separate decoding process (``RUSAGE_CHILDREN``), and how many
cores other processes kept busy meanwhile (``other_load``, from /proc/stat; 0 = a quiet machine).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENE = os.path.join(os.path.dirname(ROOT), "shared", "data", "scenes", "cascade")


def busy_ticks() -> int:
    """CPU ticks spent by everything on the machine (user + nice + system + irq + softirq)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:8]]
    return values[0] + values[1] + values[2] + values[5] + values[6]


def make_clip(source: str, path: str, seconds: float, size: tuple[int, int]) -> None:
    """``source`` upscaled to ``size`` and looped for ``seconds``."""
    import cv2
    import imageio.v2 as imageio

    sys.path.insert(0, ROOT)
    from cine_core import read_video

    frames, fps = read_video(source)
    writer = imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1, pixelformat="yuv420p",
                                ffmpeg_log_level="error", output_params=["-crf", "18"])
    for index in range(round(seconds * fps)):
        writer.append_data(cv2.resize(frames[index % len(frames)], size, interpolation=cv2.INTER_CUBIC))
    writer.close()


def worker(clip: str, photo: str, photo_side: int) -> dict:
    sys.path.insert(0, ROOT)
    from cine_core import load_photo, video_motion

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    image = load_photo(photo, photo_side)
    start, cpu = time.perf_counter(), time.process_time()
    motion = video_motion(image.rgb, clip, 30.0)
    wall = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall_s": wall, "cpu_s": time.process_time() - cpu, "ffmpeg_cpu_s": children.ru_utime + children.ru_stime,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "baseline_rss_mb": baseline, "ffmpeg_peak_rss_mb": children.ru_maxrss / 1024.0,
            "photo": list(image.size), "summary": motion.summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default=os.path.join(SCENE, "gt.mp4"))
    parser.add_argument("--photo", default=os.path.join(SCENE, "image.png"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--photo-side", type=int, default=1280)
    parser.add_argument("--clip", default=None, help="where the clip is written (reused if it exists)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker[0], args.worker[1], int(args.worker[2]))))
        return
    clip = args.clip or os.path.join(tempfile.gettempdir(), f"motion-video-{args.size}-{args.seconds:g}s.mp4")
    if not os.path.isfile(clip):
        make_clip(args.source, clip, args.seconds, tuple(int(v) for v in args.size.split("x")))
    ticks, start = busy_ticks(), time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "bench.motion_video", "--worker", clip, args.photo,
                          str(args.photo_side)], capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    if run.returncode or not lines:
        raise SystemExit(run.stderr[-3000:])
    result = json.loads(lines[-1][len("RESULT "):])
    own = result["cpu_s"] + result["ffmpeg_cpu_s"]
    result["other_load"] = max(0.0, ((busy_ticks() - ticks) / os.sysconf("SC_CLK_TCK") - own) / elapsed)
    result.update(clip=clip, clip_mb=os.path.getsize(clip) / 1e6, seconds=args.seconds, size=args.size)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
