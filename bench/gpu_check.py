"""GPU readiness: the CUDA path renders the clip the CPU renders, and what a frame costs there.

Run by ``bash bench/gpu_check.sh`` on a CUDA machine (set-up, the tests that apply, then this);
``--cpu-only`` runs the CPU side alone on any machine::

    .venv/bin/python -m bench.gpu_check --cpu-only

1. Reference clip: the sample scene (``samples/lake-falls``, prepared by the classical stages at
   640 px), a 12-frame circle clip through the splatting renderer on the CPU and on CUDA,
   compared as 8-bit frames: the share of pixels that differ, that differ by more than one level,
   and the largest difference. It passes within the tolerance of the reference-frames test
   (:data:`MAX_DIFFERING`, :data:`MAX_BEYOND_ONE`): CUDA's scatter-adds are atomic, so the
   splatter's sums are added in another order than on the CPU and may round differently.
2. Frame cost at 1280x720 and 1920x1080 (the sample photo upscaled, as ``bench.run`` does):
   the splatting renderer and the feature net + image decoder (randomly initialised networks
   of the published shapes: the cost depends on the shapes, not the values), the median of
   ``--frames`` frames after one warm-up frame, synchronised on CUDA; CUDA's peak memory.

Prints a table and writes ``bench/results/gpu-check-<date>.json`` (``--json``). Exit status 1
when the clips differ beyond the tolerance.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

if __package__ in (None, ""):  # run as a script: python bench/gpu_check.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.run import REPO, code_version, machine_info, scene_inputs, sync, write_results  # noqa: E402

SAMPLE = os.path.join(REPO, "samples", "lake-falls")
#: The reference-frames test's tolerance: share of pixels that may differ at all, and by more
#: than one 8-bit level.
MAX_DIFFERING, MAX_BEYOND_ONE = 0.002, 0.0002
CLIP_SIZE, CLIP_FRAMES = 640, 12
SIZES = (1280, 1920)


def prepared(long_side: int, workdir: str):
    """The sample scene prepared by the classical stages with a long side of ``long_side``."""
    from cine_core import PrepareOptions, prepare_scene

    inputs, _ = scene_inputs(SAMPLE, long_side, workdir)
    return prepare_scene(inputs, PrepareOptions(max_side=long_side, backend="classical"))


def clip(scene, device: str):
    """(frames, H, W, 3) uint8 circle clip through the splatting renderer on ``device``."""
    import numpy as np

    from cine_core import camera_path, render_frames

    path = camera_path("circle", scene.intrinsics, CLIP_FRAMES, focus_depth=scene.focus_depth(),
                       outline=scene.content_outline())
    return np.stack(list(render_frames(scene, path, device=device, backend="classical")))


def compare(cpu, cuda) -> dict:
    """How the CUDA clip differs from the CPU clip, per pixel (any channel)."""
    import numpy as np

    difference = np.abs(cpu.astype(np.int16) - cuda.astype(np.int16)).max(-1)
    pixels = difference.size
    record = {"differing": float((difference > 0).sum() / pixels),
              "beyond_one_level": float((difference > 1).sum() / pixels),
              "max_levels": int(difference.max())}
    record["passed"] = record["differing"] <= MAX_DIFFERING and record["beyond_one_level"] <= MAX_BEYOND_ONE
    return record


def frame_times(renderer, scene, device: str, frames: int) -> list[float]:
    """Seconds per frame of ``renderer`` (one warm-up frame first), synchronised."""
    import torch

    from cine_core import camera_path

    path = camera_path("circle", scene.intrinsics, frames + 1, focus_depth=scene.focus_depth(),
                       outline=scene.content_outline())
    times = []
    with torch.inference_mode():
        for frame in range(frames + 1):
            start = time.perf_counter()
            renderer.render(frame, path[frame])
            sync(device)
            times.append(time.perf_counter() - start)
    return times[1:]


def renderers(scene, device: str, frames: int):
    """(name, renderer) for the splatting path and the decoder path on ``device``."""
    from cine_core import FeatureNet, FrameRenderer, ImageDecoder, NeuralFrameRenderer, animate_points

    yield "splatting", FrameRenderer(animate_points(scene, frames + 1, device=device), scene.intrinsics)
    yield "decoder", NeuralFrameRenderer(scene, frames + 1, FeatureNet().eval().to(device),
                                         ImageDecoder().eval().to(device), device=device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-only", action="store_true", help="the CPU side alone (no GPU needed)")
    parser.add_argument("--frames", type=int, default=10, help="timed frames per path and size")
    parser.add_argument("--cpu-frames", type=int, default=2, help="timed frames per path on the CPU (720p)")
    parser.add_argument("--json", default=None, help="where to write the results")
    args = parser.parse_args(argv)

    import torch

    if not args.cpu_only and not torch.cuda.is_available():
        sys.stderr.write("error: this PyTorch sees no CUDA GPU; run bench/gpu_check.sh (it installs the CUDA "
                         "build) or pass --cpu-only\n")
        return 2
    devices = ["cpu"] if args.cpu_only else ["cpu", "cuda"]
    report = {"machine": machine_info(), "code": code_version(), "clip": {}, "timing": []}
    if not args.cpu_only:
        report["gpu"] = torch.cuda.get_device_name(0)
    passed = True
    with tempfile.TemporaryDirectory(prefix="cine-gpu-check-") as workdir:
        scene = prepared(CLIP_SIZE, workdir)
        clips = {}
        for device in devices:
            start = time.perf_counter()
            clips[device] = clip(scene, device)
            report["clip"][f"{device}_s"] = time.perf_counter() - start
        print(f"reference clip ({CLIP_FRAMES} frames, {scene.size[0]}x{scene.size[1]}): "
              + ", ".join(f"{d} {report['clip'][f'{d}_s']:.1f} s" for d in devices))
        if "cuda" in clips:
            report["clip"].update(compare(clips["cpu"], clips["cuda"]))
            passed = report["clip"]["passed"]
            print(f"CUDA vs CPU: {100 * report['clip']['differing']:.3f} % of pixels differ, "
                  f"{100 * report['clip']['beyond_one_level']:.4f} % by more than one level, at most "
                  f"{report['clip']['max_levels']} levels: {'same clip' if passed else 'DIFFERENT'}")
        for long_side in SIZES[:1] if args.cpu_only else SIZES:
            scene = prepared(long_side, workdir)
            for device in devices:
                frames = args.cpu_frames if device == "cpu" else args.frames
                if device == "cpu" and long_side != SIZES[0]:
                    continue  # a 1080p CPU frame is bench.run's job; this check stays within minutes
                if device.startswith("cuda"):
                    torch.cuda.reset_peak_memory_stats()
                for name, renderer in renderers(scene, device, frames):
                    times = frame_times(renderer, scene, device, frames)
                    row = {"device": device, "path": name, "width": scene.size[0], "height": scene.size[1],
                           "median_s": statistics.median(times), "min_s": min(times)}
                    if device.startswith("cuda"):
                        row["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
                    report["timing"].append(row)
                    print(f"{device:5s} {name:10s} {row['width']}x{row['height']}: {1000 * row['median_s']:8.1f} ms "
                          f"per frame (min {1000 * row['min_s']:.1f})"
                          + (f", CUDA peak {row['cuda_peak_mb']:.0f} MB" if "cuda_peak_mb" in row else ""),
                          flush=True)
                    del renderer
    path = write_results(report, args.json, "gpu-check")
    print(f"wrote {path}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
