"""Speed and memory benchmark of the whole pipeline, stage by stage.

Run from the repository root (not part of the test run)::

    .venv/bin/python -m bench.run                 # 640 and 1280 and 1920, 60 frames, every device
    .venv/bin/python -m bench.run --sizes 640 --frames 30 --no-cost-model
    .venv/bin/python -m bench.run --quick         # a smoke run in well under a minute
    .venv/bin/python -m bench.run --help

For every (device, long side) configuration a fresh Python process runs one clip the way
``python -m cine_core render`` does: the core's own :func:`cine_core.pipeline.run.prepare_scene`
(timed stage by stage through the progress events it reports), then the body of
:func:`~cine_core.pipeline.run.render_frames` (``animate_points``, ``FrameRenderer``; the splatting
renderer, whatever ``--backend`` chose for preparation) written out by
:func:`~cine_core.io.video.write_video`:

=============  ===============================================================================
load           ``load_photo`` + the annotation (labelme JSON / mask image / hints), timed by a
               separate call just before ``prepare_scene``
depth          prepare_scene's depth stage: depth file + ``condition_depth``, or the classical
               estimate (or DPT with ``--backend``) when the scene has no depth file; the
               classical estimate alone is also timed as ``depth_estimate_s``
layers         prepare_scene's layer stage: ``build_layers`` with inpainting
flow           prepare_scene's flow field (``eulerian_flow``, motion regions) + hidden-surface
               flow (``extend_flow``)
integration    ``animate_points``: gather the LDI points (CPU), RK4 through the loop (both
               directions) on the device
upload         ``FrameRenderer`` set-up (the cloud is already on the device)
render/frame   ``FrameRenderer.render``: the interval between finished frames, as the CLI renders
               them (on the CPU one frame per core at once, so a frame itself takes longer);
               median over the frames (CUDA: synchronised)
readback       per frame: to host memory and uint8 (included in the clip, listed separately)
encode         ``write_video`` (H.264 via ffmpeg, streaming like the CLI): its wall time minus
               the time spent producing frames
clip           wall time from the start of ``prepare_scene`` to the closed video file (import,
               process start-up and the separate load/estimate timings excluded;
               ``process_s`` includes them)
=============  ===============================================================================

Peak memory is the process's peak resident set size (``resource.getrusage(...).ru_maxrss``) in
a fresh process per configuration, so configurations do not inherit each other's peaks; it
includes Python + PyTorch themselves (``baseline_rss_mb``, measured after the imports), and
``peak_rss_after_stage_mb`` shows which stage raised it. The ffmpeg encoder is a separate process
whose memory is not included. On CUDA, ``cuda_peak_mb`` is ``torch.cuda.max_memory_allocated``.

The machine may be shared: for every configuration the parent reads /proc/stat before and after
the worker and subtracts the worker's own CPU time (its rusage, ffmpeg included), so
``other_load`` says how many cores *other* processes kept busy meanwhile (0 = a quiet
machine; timings taken at other_load 1 on 2 cores are inflated). ``--wait-idle S`` waits up to
S seconds for a quiet machine before each configuration. Per-frame render times are summarised
by the median (and the minimum, the least disturbed frame); the cost model uses the minimum of
``--cost-frames`` frames.

The cost model (``--cost-size``, default 1280) renders frames of one prepared scene with the
cloud randomly subsampled (how render time grows with the point count) and to outputs of other
sizes (how it grows with the output resolution).

Results are printed as tables and written as JSON (``--json``, default
``bench/results/<label>-<date>.json``).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import glob
import hashlib
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):  # run as a script: python bench/run.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_SCENES = os.path.join(os.path.dirname(REPO), "shared", "data", "scenes")
#: 3 depth layers (so inpainting really runs), 11 hint arrows, no depth file (classical estimate):
#: every stage does real work. ``cascade`` (one layer, DPT depth file, mask only) is the other
#: common choice: ``--scene cascade``.
DEFAULT_SCENE = os.path.join(SHARED_SCENES, "sea-stacks")
SAMPLES = os.path.join(REPO, "samples")
DEFAULT_SIZES = (640, 1280, 1920)
#: Scenes without hint arrows need a direction in words; the default suits waterfalls.
DEFAULT_DIRECTION = "downwards"
COST_FRACTIONS = (1.0, 0.5, 0.25, 0.125)
COST_SCALES = (0.5, 1.0, 1.5, 2.0)


# ----------------------------------------------------------------------------- helpers

def maxrss_mb(usage: resource.struct_rusage) -> float:
    """``ru_maxrss`` of ``usage`` in MiB (Linux reports KiB, macOS bytes)."""
    return usage.ru_maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else usage.ru_maxrss / 1024.0


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB."""
    return maxrss_mb(resource.getrusage(resource.RUSAGE_SELF))


def median(values) -> float:
    values = list(values)
    return float(statistics.median(values)) if values else float("nan")


def write_results(report: dict, path: str | None, label: str) -> str:
    """Write ``report`` as JSON to ``path``, by default ``bench/results/<label>-<date>.json``;
    returns the path."""
    path = path or os.path.join(REPO, "bench", "results", f"{label}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(finite_or_none(report), handle, indent=1)
    return path


def finite_or_none(obj):
    """JSON-safe copy: NaN / inf become the strings 'nan' / 'inf' / '-inf'."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def machine_info() -> dict:
    """What the numbers were measured on."""
    import torch

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gb = None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal"):
                    memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {"host": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
            "cpu": cpu, "cores": cores, "memory_gb": memory_gb, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def code_version() -> dict:
    """Git commit plus a hash of the core's sources (other people edit the tree while we measure)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                                  timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    digest = hashlib.sha1()
    for path in sorted(glob.glob(os.path.join(REPO, "cine_core", "**", "*.py"), recursive=True)):
        digest.update(os.path.relpath(path, REPO).encode())
        with open(path, "rb") as handle:
            digest.update(handle.read())
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "cine_core").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD"), "core_sha1": digest.hexdigest()[:12],
            "core_uncommitted": dirty}


def default_scene() -> str:
    """The real scene ``sea-stacks`` from ../shared, else the bundled sample, else a clear error."""
    if os.path.isdir(DEFAULT_SCENE):
        return DEFAULT_SCENE
    samples = sorted(d for d in glob.glob(os.path.join(SAMPLES, "*")) if os.path.isdir(d)
                     and glob.glob(os.path.join(d, "image.*")))
    if samples:
        return samples[0]
    raise SystemExit(f"no input scene: {DEFAULT_SCENE} does not exist and {SAMPLES} holds no "
                     f"scene folder (image.png + image.json/mask.png); pass one with --scene")


def resolve_device(name: str) -> str:
    """The core's device choice; a device that is not there ends the command."""
    from cine_core import CineError, resolve_device as core_resolve_device

    try:
        return core_resolve_device(name)
    except CineError as exc:
        raise SystemExit(str(exc)) from None


def benchmark_devices(name: str) -> list[str]:
    """The devices to benchmark: ``all`` is the CPU plus CUDA when present, else one device."""
    import torch

    if name == "all":
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return [resolve_device(name)]


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- the stages

def scene_inputs(scene_dir: str, long_side: int, workdir: str):
    """SceneInputs for ``scene_dir``; when the photo is smaller than ``long_side`` an upscaled copy
    (bicubic) is written to ``workdir`` (annotations and depth are resolution-independent: the
    core maps them to the photo's size). Returns (inputs, original (w, h))."""
    import cv2

    from cine_core import SceneInputs

    inputs = SceneInputs.find(scene_dir)
    image = cv2.imread(inputs.photo, cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read {inputs.photo}")
    height, width = image.shape[:2]
    if max(width, height) < long_side:
        factor = long_side / max(width, height)
        size = (round(width * factor), round(height * factor))
        path = os.path.join(workdir, "image_upscaled.png")
        cv2.imwrite(path, cv2.resize(image, size, interpolation=cv2.INTER_CUBIC))
        inputs.photo = path
    return inputs, (width, height)


def direction_used(scene, words: str) -> str | None:
    """``words`` when they made the scene's flow, None when hint arrows did (the core ignores a
    worded direction wherever arrows are drawn, so passing one is always safe)."""
    return words if scene.info.get("stages", {}).get("flow", "").endswith("worded direction") else None


def prepare_timed(inputs, long_side: int, direction: str | None, timings: dict, rss: dict,
                  hints=(), flow_scale: float = 1.0, backend: str = "classical"):
    """Run the core's own :func:`cine_core.pipeline.run.prepare_scene` and time its stages.

    The stages are delimited by the first progress event ``prepare_scene`` reports for each
    stage: [start, "depth") = load + annotation + flow field, ["depth", "layers") = depth,
    ["layers", "flow") = layers + inpainting, ["flow", end) = hidden-surface flow.
    ``load`` is timed by calling ``load_photo`` + ``load_annotation`` once more beforehand (cold
    file cache there, warm inside prepare_scene), and flow = (first segment - load) + the last
    segment. If the core stops reporting these events, only ``prepare_s`` is filled in.
    Also times the classical depth estimate alone (``depth_estimate_s``), what a user without a
    depth file pays. Returns the :class:`~cine_core.scene.PreparedScene`.
    """
    from cine_core import (PrepareOptions, condition_depth, estimate_disparity, load_annotation, load_photo,
                           prepare_scene)

    start = time.perf_counter()
    photo = load_photo(inputs.photo, long_side)
    load_annotation(inputs, photo, list(hints)).at_size(*photo.size)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    condition_depth(estimate_disparity(photo.rgb), photo.size)
    timings["depth_estimate_s"] = time.perf_counter() - start
    del photo

    events: list[tuple[str, float, float]] = []

    def progress(stage: str, fraction: float) -> None:
        events.append((stage, fraction, time.perf_counter()))
        rss[f"at event {stage} {fraction:g}"] = rss_mb()  # a stage's start

    words = direction or DEFAULT_DIRECTION  # for scenes with a mask and no arrows
    options = PrepareOptions(max_side=long_side, hints=list(hints), direction=words, flow_scale=flow_scale,
                             backend=backend)
    begin = time.perf_counter()
    scene = prepare_scene(inputs, options, progress)
    finish = time.perf_counter()
    rss["prepared"] = rss_mb()
    timings["prepare_s"] = finish - begin
    marks = {}
    for stage, _, when in events:
        marks.setdefault(stage, when)  # a stage starts with its first event
    keys = ["depth", "layers", "flow"]
    if all(k in marks for k in keys):
        t_depth, t_layers, t_flow = (marks[k] for k in keys)
        timings["load_s"] = min(load_s, t_depth - begin)
        timings["depth_s"] = t_layers - t_depth
        timings["layers_s"] = t_flow - t_layers
        timings["flow_s"] = (t_depth - begin - timings["load_s"]) + (finish - t_flow)
    else:
        timings["stage_split"] = "unavailable: prepare_scene no longer reports depth/layers/flow events"
        timings["load_s"] = load_s
    stages = scene.info.get("stages", {})
    timings["depth_method"] = stages.get("depth")
    scene.info["direction"] = direction_used(scene, words)
    return scene


def run_pipeline(scene_dir: str, long_side: int, num_frames: int, device: str, *,
                 camera: str = "circle", integrator: str = "rk4", direction: str | None = None,
                 backend: str = "classical", fps: float = 30.0, workdir: str | None = None,
                 keep_video: str | None = None) -> dict:
    """Time every stage of one clip; returns a JSON-ready record (see the module docstring)."""
    import torch

    from cine_core import (FRAMES_AT_ONCE, FrameRenderer, animate_points, camera_path, ordered_map, to_uint8_image,
                           workers_for, write_video)

    own_workdir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="cine-bench-")
    timings: dict = {}
    rss: dict = {"baseline": rss_mb()}
    load_before = os.getloadavg()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    try:
        inputs, original = scene_inputs(scene_dir, long_side, workdir)
        scene = prepare_timed(inputs, long_side, direction, timings, rss, backend=backend)
        clip_start = time.perf_counter() - timings["prepare_s"]  # the clip starts with prepare_scene

        start = time.perf_counter()
        cloud = animate_points(scene, num_frames, integrator, device=device)  # as render_frames does
        sync(device)
        timings["integration_s"] = time.perf_counter() - start
        rss["integration"] = rss_mb()

        start = time.perf_counter()
        renderer = FrameRenderer(cloud, scene.intrinsics)
        path = camera_path(camera, scene.intrinsics, num_frames, focus_depth=scene.focus_depth(),
                           outline=scene.content_outline())
        sync(device)
        timings["upload_s"] = time.perf_counter() - start

        render_times: list[float] = []
        readback_times: list[float] = []

        def render(frame: int):
            image = renderer.render(frame, path[frame])
            sync(device)
            return image

        def frames():
            # As render_frames does: on the CPU one frame per core at once (cine_core.parallel), so
            # a frame's time is the interval between finished frames (the clip's rate).
            with torch.inference_mode():
                t0 = time.perf_counter()
                for image in ordered_map(render, range(num_frames), workers_for(device, FRAMES_AT_ONCE)):
                    t1 = time.perf_counter()
                    out = to_uint8_image(image)
                    t2 = time.perf_counter()
                    render_times.append(t1 - t0)
                    readback_times.append(t2 - t1)
                    t0 = time.perf_counter()
                    yield out

        out = keep_video or os.path.join(workdir, "bench.mp4")
        start = time.perf_counter()
        count = write_video(frames(), out, fps)
        written = time.perf_counter() - start
        clip = time.perf_counter() - clip_start
        rss["render+encode"] = rss_mb()
        timings["render_frame_median_s"] = median(render_times)
        timings["render_frame_first_s"] = render_times[0]
        timings["render_frame_min_s"] = min(render_times)
        timings["render_frame_max_s"] = max(render_times)
        timings["render_total_s"] = sum(render_times)
        timings["readback_total_s"] = sum(readback_times)
        timings["encode_s"] = written - sum(render_times) - sum(readback_times)
        timings["clip_s"] = clip
        record = {
            "device": device,
            "long_side": long_side,
            "width": scene.size[0], "height": scene.size[1],
            "upscaled_from": list(original) if max(original) < long_side else None,
            "frames": count,
            "camera": camera, "integrator": integrator,
            "points": int(cloud.depth.shape[0]), "moving_points": int(cloud.moving.numel()),
            "scene": scene.info,
            "times": timings,
            "render_frames_s": render_times,
            "video_bytes": os.path.getsize(out),
            "memory": {"peak_rss_mb": rss_mb(), "baseline_rss_mb": rss["baseline"],
                       "peak_rss_after_stage_mb": rss},
            "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg()),
        }
        if device.startswith("cuda"):
            record["memory"]["cuda_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
        return record
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def subsample_cloud(cloud, fraction: float, seed: int = 0):
    """A random ``fraction`` of the cloud's points, on the same device; the kept static points
    stay first and the kept moving points keep their trajectories."""
    import torch

    from cine_core import AnimatedPointCloud

    total = int(cloud.depth.shape[0])
    count = max(1, int(round(total * fraction)))
    if count >= total:
        return cloud
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(total, generator=generator)[:count].sort().values.to(cloud.depth.device)
    num_static = int((keep < cloud.num_static).sum())
    num_underlay = int(((keep >= cloud.num_static - cloud.num_underlay) & (keep < cloud.num_static)).sum())
    moving = keep[num_static:] - cloud.num_static
    return AnimatedPointCloud(cloud.rest_uv[keep], cloud.depth[keep], cloud.values[keep], num_static, num_underlay,
                              cloud.trajectories.select(moving), cloud.seam_weight[keep],
                              cloud.kind[keep], cloud.surfaces, cloud.owner[moving], cloud.photo_depth,
                              extent=cloud.extent)


def time_frames(renderer, path, frames, device: str) -> list[float]:
    """Seconds per rendered frame for each index in ``frames`` (after one warm-up frame)."""
    import torch

    times = []
    with torch.inference_mode():
        renderer.render(frames[0], path[frames[0]])
        sync(device)
        for frame in frames:
            start = time.perf_counter()
            renderer.render(frame, path[frame])
            sync(device)
            times.append(time.perf_counter() - start)
    return times


def run_cost_model(scene_dir: str, long_side: int, device: str, *, frames: int = 3,
                   fractions=COST_FRACTIONS, scales=COST_SCALES, camera: str = "circle",
                   direction: str | None = None, backend: str = "classical", integrator: str = "rk4") -> dict:
    """Render time against point count (subsampled cloud, output = photo size) and against
    output resolution (full cloud, output = photo size x scale)."""
    from cine_core import FrameRenderer, animate_points, camera_path

    workdir = tempfile.mkdtemp(prefix="cine-cost-")
    try:
        inputs, _ = scene_inputs(scene_dir, long_side, workdir)
        scene = prepare_timed(inputs, long_side, direction, {}, {}, backend=backend)
        loop = 12  # render time does not depend on the loop length; a short loop integrates fast
        cloud = animate_points(scene, loop, integrator, device=device)
        indices = [(1 + 2 * i) % loop for i in range(frames)]
        width, height = scene.size
        by_points = []
        path = camera_path(camera, scene.intrinsics, loop, focus_depth=scene.focus_depth())
        for fraction in fractions:
            sub = subsample_cloud(cloud, fraction)
            times = time_frames(FrameRenderer(sub, scene.intrinsics), path, indices, device)
            by_points.append({"fraction": fraction, "points": int(sub.depth.shape[0]),
                              "width": width, "height": height, "frame_s": min(times),
                              "frame_median_s": median(times), "frames_s": times})
        by_resolution = []
        renderer = FrameRenderer(cloud, scene.intrinsics)
        for scale in scales:
            out = scene.intrinsics.resized(max(2, round(width * scale)), max(2, round(height * scale)))
            path = camera_path(camera, out, loop, focus_depth=scene.focus_depth())
            times = time_frames(renderer, path, indices, device)
            by_resolution.append({"scale": scale, "points": int(cloud.depth.shape[0]),
                                  "width": out.width, "height": out.height,
                                  "megapixels": out.width * out.height / 1e6,
                                  "frame_s": min(times), "frame_median_s": median(times),
                                  "frames_s": times})
        return {"device": device, "long_side": long_side, "width": width, "height": height,
                "camera": camera, "frames_timed": indices, "by_points": by_points,
                "by_resolution": by_resolution, "fit": fit_cost(by_points, by_resolution),
                "loadavg_after": list(os.getloadavg()),
                "peak_rss_mb": rss_mb()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def linear_fit(xs, ys) -> tuple[float, float]:
    """Least-squares (intercept, slope) of y = a + b x."""
    n = len(xs)
    if n < 2:
        return float("nan"), float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return float("nan"), float("nan")
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - slope * mx, slope


def fit_cost(by_points: list[dict], by_resolution: list[dict]) -> dict:
    """Linear fits: ms per million points (fixed output) and ms per output megapixel (fixed cloud)."""
    a, b = linear_fit([r["points"] / 1e6 for r in by_points], [1e3 * r["frame_s"] for r in by_points])
    c, d = linear_fit([r["megapixels"] for r in by_resolution], [1e3 * r["frame_s"] for r in by_resolution])
    return {"ms_fixed_output": a, "ms_per_million_points": b,
            "ms_fixed_cloud": c, "ms_per_output_megapixel": d}


# ----------------------------------------------------------------------------- driver

def _worker(config: dict) -> None:
    """Child-process entry: run one configuration and write its record to config['result']."""
    from cine_core import keep_freed_host_memory, restart_with_allocator_tunables

    restart_with_allocator_tunables()  # as the command line does, before PyTorch is loaded
    keep_freed_host_memory()

    import torch

    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    if config["kind"] == "pipeline":
        record = run_pipeline(config["scene"], config["long_side"], config["frames"], config["device"],
                              camera=config["camera"], integrator=config["integrator"],
                              direction=config["direction"], backend=config["backend"])
    else:
        record = run_cost_model(config["scene"], config["long_side"], config["device"],
                                frames=config["cost_frames"], camera=config["camera"],
                                direction=config["direction"], backend=config["backend"])
    record["torch_threads"] = torch.get_num_threads()
    with open(config["result"], "w") as handle:
        json.dump(finite_or_none(record), handle)


def busy_cpu_seconds() -> float | None:
    """CPU seconds all processes of the machine have been busy since boot (/proc/stat), or None."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def other_load(seconds: float = 2.0) -> float | None:
    """Cores kept busy by the machine over ``seconds`` (nothing of ours runs meanwhile)."""
    before = busy_cpu_seconds()
    time.sleep(seconds)
    after = busy_cpu_seconds()
    return None if before is None or after is None else (after - before) / seconds


def wait_until_idle(limit: float, threshold: float = 0.3) -> float | None:
    """Wait up to ``limit`` seconds until other processes use less than ``threshold`` cores."""
    deadline = time.monotonic() + limit
    load = other_load(1.0) if limit > 0 else None
    while load is not None and load >= threshold and time.monotonic() < deadline:
        sys.stderr.write(f"[bench]   machine busy ({load:.1f} cores in use by others), waiting ...\n")
        load = other_load(5.0)
    return load


def spawn(config: dict) -> dict:
    """Run one configuration in a fresh interpreter; adds process_s, the OS-reported peak RSS,
    the worker's CPU time and the load other processes put on the machine meanwhile."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        result = handle.name
    config = dict(config, result=result)
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    start = time.perf_counter()
    busy_before = busy_cpu_seconds()
    process = subprocess.Popen([sys.executable, "-m", "bench.run", "--worker", json.dumps(config)],
                               cwd=REPO, env=env)
    try:
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - start
        busy_after = busy_cpu_seconds()
        if process.returncode != 0:
            return {"error": f"worker exited with {process.returncode}", **{k: config[k] for k in
                    ("kind", "device", "long_side")}}
        with open(result) as handle:
            record = json.load(handle)
    finally:
        if os.path.exists(result):
            os.remove(result)
    record["process_s"] = elapsed
    record["os_peak_rss_mb"] = maxrss_mb(usage)
    record["process_cpu_s"] = usage.ru_utime + usage.ru_stime
    if busy_before is not None and busy_after is not None:
        record["other_load"] = max(0.0, (busy_after - busy_before - record["process_cpu_s"]) / elapsed)
    return record


def fmt(value, digits: int = 2, scale: float = 1.0) -> str:
    if value is None or isinstance(value, str):
        return "-" if value is None else value
    return f"{value * scale:.{digits}f}"


def print_tables(report: dict, stream=sys.stdout) -> None:
    runs = [r for r in report["runs"] if "error" not in r]
    if runs:
        head = ("device", "size", "points", "load", "depth", "layers", "flow", "integr", "upload",
                "render/fr (min)", "encode", "clip s", "peak RSS MB", "other load")
        rows = [head]
        for r in runs:
            t = r["times"]
            peak = f"{r['memory']['peak_rss_mb']:.0f}"
            if "cuda_peak_mb" in r["memory"]:
                peak += f" (+{r['memory']['cuda_peak_mb']:.0f} GPU)"
            rows.append((r["device"], f"{r['width']}x{r['height']}", f"{r['points'] / 1e6:.2f}M",
                         fmt(t.get("load_s")), fmt(t.get("depth_s")), fmt(t.get("layers_s")),
                         fmt(t.get("flow_s")),
                         fmt(t["integration_s"]), fmt(t["upload_s"]),
                         f"{fmt(t['render_frame_median_s'], 3)} ({fmt(t['render_frame_min_s'], 3)})",
                         fmt(t["encode_s"]), fmt(t["clip_s"], 1), peak, fmt(r.get("other_load"), 1)))
        aligned_table(rows, stream, f"Stage timings in seconds ({runs[0]['frames']} frames, "
                             f"{runs[0]['camera']} camera; render/fr = median per frame, min in brackets; other "
                             f"load = cores used by other processes meanwhile)")
    for r in report["runs"]:
        if "error" in r:
            stream.write(f"  FAILED {r['device']} {r['long_side']}: {r['error']}\n")
    for cost in report.get("cost_model", []):
        if "error" in cost:
            stream.write(f"  cost model FAILED on {cost['device']}: {cost['error']}\n")
            continue
        rows = [("points", "output", "ms/frame")]
        for r in cost["by_points"]:
            rows.append((f"{r['points']:,} ({r['fraction']:g})", f"{r['width']}x{r['height']}",
                         fmt(r["frame_s"], 1, 1e3)))
        aligned_table(rows, stream, f"Cost model on {cost['device']}: render time vs point count (best of "
                             f"{len(cost['frames_timed'])} frames; other load {fmt(cost.get('other_load'), 1)})")
        rows = [("points", "output", "Mpx", "ms/frame")]
        for r in cost["by_resolution"]:
            rows.append((f"{r['points']:,}", f"{r['width']}x{r['height']}", f"{r['megapixels']:.2f}",
                         fmt(r["frame_s"], 1, 1e3)))
        aligned_table(rows, stream, f"Cost model on {cost['device']}: render time vs output resolution")
        fit = cost["fit"]
        stream.write(f"  fit: {fmt(fit['ms_fixed_output'], 0)} ms + {fmt(fit['ms_per_million_points'], 0)} "
                     f"ms per million points (output {cost['width']}x{cost['height']}); "
                     f"{fmt(fit['ms_fixed_cloud'], 0)} ms + {fmt(fit['ms_per_output_megapixel'], 0)} ms "
                     f"per output megapixel (fixed cloud)\n")


def aligned_table(rows, stream, title: str) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    stream.write(f"\n{title}\n")
    for index, row in enumerate(rows):
        stream.write("  " + "  ".join(str(v).rjust(w) for v, w in zip(row, widths)) + "\n")
        if index == 0:
            stream.write("  " + "  ".join("-" * w for w in widths) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--scene", default=None,
                        help=f"scene folder (image + image.json/mask.png [+ depth]) or the name of "
                             f"one in {SHARED_SCENES}; default {DEFAULT_SCENE}, else the first "
                             f"folder of {SAMPLES}")
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="long sides to measure, comma separated (photos are upscaled when smaller)")
    parser.add_argument("--frames", type=int, default=60, help="frames in the clip")
    parser.add_argument("--device", default="all",
                        help="all (cpu, plus cuda when available), auto (cuda if available), cpu, cuda, cuda:1")
    parser.add_argument("--camera", default="circle", help="camera path preset")
    parser.add_argument("--integrator", default="rk4", choices=("euler", "rk4"))
    parser.add_argument("--direction", default=None,
                        help=f"worded direction for scenes without hint arrows (default {DEFAULT_DIRECTION!r})")
    parser.add_argument("--backend", default="classical", choices=("classical", "auto", "neural"),
                        help="prepare_scene's network backend (auto/neural need the weight files in "
                             "ckpts/); frames are always rendered by the splatting FrameRenderer")
    parser.add_argument("--cost-size", type=int, default=1280, help="long side of the cost-model scene")
    parser.add_argument("--cost-frames", type=int, default=5, help="frames timed per cost-model row")
    parser.add_argument("--wait-idle", type=float, default=0.0,
                        help="before each configuration wait up to this many seconds for other "
                             "processes to leave the CPU (shared machines)")
    parser.add_argument("--no-cost-model", action="store_true", help="skip the cost model")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads in the workers")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: long side 320, 8 frames, cost model at 320 with 1 frame per row")
    parser.add_argument("--label", default=None, help="machine label in the JSON file name")
    parser.add_argument("--json", default=None, help="where to write the JSON (default bench/results/<label>-<date>.json)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker:
        _worker(json.loads(args.worker))
        return 0
    scene = args.scene or default_scene()
    if not os.path.isdir(scene) and os.path.isdir(os.path.join(SHARED_SCENES, scene)):
        scene = os.path.join(SHARED_SCENES, scene)  # a scene name, e.g. --scene cascade
    scene = os.path.abspath(scene)
    if not os.path.isdir(scene):
        raise SystemExit(f"--scene {scene}: not a folder")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    frames, cost_size, cost_frames = args.frames, args.cost_size, args.cost_frames
    if args.quick:
        sizes, frames, cost_size, cost_frames = [320], 8, 320, 1
    devices = benchmark_devices(args.device)
    info = machine_info()
    label = args.label or ("-".join(["cpu%d" % info["cores"]] + (["cuda"] if "cuda" in devices else [])))
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.json or os.path.join(REPO, "bench", "results", f"{label}-{stamp}.json")
    report = {"date": _dt.datetime.now().isoformat(timespec="seconds"), "machine": info,
              "code": code_version(), "input": scene, "quick": args.quick,
              "command": " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]),
              "runs": [], "cost_model": []}
    base = {"scene": scene, "frames": frames, "camera": args.camera, "integrator": args.integrator,
            "direction": args.direction, "threads": args.threads, "cost_frames": cost_frames,
            "backend": args.backend}
    for device in devices:
        for size in sizes:
            sys.stderr.write(f"[bench] {device} long side {size}, {frames} frames ...\n")
            wait_until_idle(args.wait_idle)
            record = spawn(dict(base, kind="pipeline", device=device, long_side=size))
            report["runs"].append(record)
            if "error" not in record:
                sys.stderr.write(f"[bench]   clip {record['times']['clip_s']:.1f} s, render "
                                 f"{record['times']['render_frame_median_s']:.3f} s/frame, peak RSS "
                                 f"{record['memory']['peak_rss_mb']:.0f} MB, other load "
                                 f"{fmt(record.get('other_load'), 1)} cores\n")
        if not args.no_cost_model:
            sys.stderr.write(f"[bench] {device} cost model at long side {cost_size} ...\n")
            wait_until_idle(args.wait_idle)
            report["cost_model"].append(spawn(dict(base, kind="cost", device=device, long_side=cost_size)))
    report["loadavg_end"] = list(os.getloadavg())
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as handle:
        json.dump(finite_or_none(report), handle, indent=1)
    print(f"input: {scene}   machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}"
          f"{', ' + info['gpu'] if 'gpu' in info else ''}   code: {report['code']['commit']}"
          f" (core {report['code']['core_sha1']}{', uncommitted core edits' if report['code']['core_uncommitted'] else ''})")
    print_tables(report)
    print(f"\nwrote {out}")
    return 0 if all("error" not in r for r in report["runs"] + report["cost_model"]) else 1


if __name__ == "__main__":
    sys.exit(main())
