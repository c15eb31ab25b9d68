"""Quality evaluation: render a static-camera clip from a photo and measure it against the real
video that followed the photo, or against the photo itself when there is no video.

Run from the repository root (not part of the test run)::

    .venv/bin/python -m eval.run --size 640               # every scene in ../shared/data/scenes
    .venv/bin/python -m eval.run /path/to/scenes/cascade --direction downwards
    .venv/bin/python -m eval.run --size 640 --json /tmp/eval.json --sheets docs/media/sheets
    .venv/bin/python -m eval.run --size 640 --from-video   # motion from each scene's gt.mp4
    .venv/bin/python -m eval.run --help

A scene folder holds ``image.png|jpg``, the annotation: ``image.json`` (labelme: motion
polygons + hint arrows) and/or ``mask.png``, optionally a depth file (``depth*.pfm|png|npy``)
and the real video ``gt.mp4`` (its frame 0 is the photo). A folder without a photo is searched
one level down for scene folders. Scenes without hint arrows need the motion direction in
words: ``--direction`` for every scene, else the scene's entry in :data:`SCENE_DIRECTIONS`
(the shared scenes with a mask only), else ``downwards``; or ``--hint x0,y0,x1,y1`` arrows.

With ``--from-video`` only scenes with ``gt.mp4`` are evaluated, each prepared from its photo alone
plus ``--motion-video gt.mp4`` (or ``--motion-clip``: another clip of it, e.g. shaken and
downscaled), at the video's frame rate: the motion a real clip gives, an upper bound for the other
motion sources; ``region`` stays the annotated one, so the numbers compare.

For each scene it prepares the scene with the core's ``prepare_scene`` (``--backend classical``
by default) and renders N frames (those of gt.mp4, else ``--frames``, default 60) with the
static camera and the core's ``render_frames`` (frame m shows loop time m / N), the very loop
``python -m cine_core render --camera static --frames N --backend classical`` runs; the backend
picks the renderer as in the CLI. The reference is the real video, or the photo repeated when
there is none. ``region`` is the annotated moving region (as drawn: still structure that the
flow stage holds still inside it counts as region).
Computed for ``ours`` (the renderer), ``still`` (the photo repeated; with a video only) and
``warp2d`` (the photo warped in 2-D by the same Eulerian flow, see :mod:`eval.baselines`):

* PSNR (dB) and SSIM against the reference, over the whole frame and inside the region,
  averaged over frames 1 .. N-1 (frame 0 is the photo for every method and for the video);
  with a video, ``gain`` = ours minus still for each of the four;
* flicker: mean |frame m - frame m-1| (8-bit levels) outside the region, over m = 1..N-1;
* loop seam, two numbers: ``closure`` = mean |frame N - frame 0| inside the region, where
  frame N is rendered by the renderer with frame index N, i.e. loop time t = 1.0 (for warp2d:
  the photo warped N frames; for still: 0) -- a loop closes when t = 1 shows what t = 0 showed;
  and the wrap step actually seen when the clip plays as a loop (frame N-1, then frame 0 again):
  ``seam`` = mean |frame 0 - frame N-1| inside the region, and ``seam_ratio`` = that jump
  divided by an ordinary step (mean |frame m - frame m-1| inside it, m = 1..N-1);
* reprojection: our frame 0 (static camera, time 0) against the photo: PSNR and the largest
  difference in 8-bit levels (a static camera should reproduce the photo exactly).

and the frame-quality checks, under ``checks``:

* ``texture_kept``: strong-gradient density inside the region over the mid-loop frames (loop
  time 1/3 .. 2/3), ours divided by the reference's same frames (the real video, or the photo);
  a gradient is strong above the photo's 80th percentile there (:mod:`eval.metrics`);
* ``flow_cosine``, ``flow_ratio`` (with a video): OpenCV's DIS optical flow between consecutive
  frames, averaged over the clip, ours against the real video's inside the region: direction
  agreement (magnitude-weighted cosine) and mean speed ratio; ``speed`` (always) is our
  measured mean speed and ``field_speed`` the mean |flow| the scene asked for, pixels per frame;
* ``still_inside_ratio`` (with a video): how much the region's pixels that the real video
  shows still (mean change at most 4 levels: rock, wires) change in ours, divided by the real
  video's change there (:func:`eval.metrics.still_inside`);
* ``still_change_max``: the largest |frame m - photo| (8-bit levels, any channel, any frame) of
  a pixel outside the region grown by 4 % of the long side (the real video's own, from sensor
  noise and codec, as ``real_still_change_max``);
* the PSNR/SSIM gains over the still photo (above).

The same flicker and seam numbers are computed for the real video itself (``real``). It prints
two tables and writes JSON (``--json``, default ``eval/results/eval-<date>.json``), a contact
sheet per scene (``--sheets``, default the output folder: ``<scene>-sheet.png``, 100 % crops at
loop times 0, 1/3, 1/2, 2/3 above the real frames, see :mod:`eval.contact_sheet`) and, for
scenes with a video, a side-by-side video ``<scene>-side_by_side.mp4`` (ours | real, labelled)
plus a PNG of its middle and last frame in ``--out-dir`` (default ``eval/results``;
``--no-video`` skips the videos).
"""
from __future__ import annotations

import argparse
import datetime as _dt
from dataclasses import replace
import json
import math
import os
import sys
import time

if __package__ in (None, ""):  # run as a script: python eval/run.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2
import numpy as np
import torch

from bench.run import (DEFAULT_DIRECTION, aligned_table, code_version, direction_used, finite_or_none, machine_info,
                       resolve_device)
from cine_core import (PHOTO_EXTENSIONS, CineError, PrepareOptions, SceneInputs, camera_path, load_annotation,
                       load_photo, motion_regions, parse_hint, prepare_scene, read_video, render_frames,
                       to_uint8_image, write_video)
from eval.baselines import WARP_MODES, still_frames, warp_frames
from eval.contact_sheet import contact_sheet, crop_box, sheet_frames
from eval.metrics import (STILL_MARGIN, flicker, flow_agreement, grown_mask, largest_change, loop_seam,
                          mean_abs_change, mean_flow, psnr, ssim_map, still_inside, strong_gradient_threshold,
                          texture_kept)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SCENES = os.path.join(os.path.dirname(REPO), "shared", "data", "scenes")
METHODS = ("ours", "still", "warp2d")
#: Worded directions of the shared scenes that have a mask and no hint arrows (what a user
#: would type looking at the photo).
SCENE_DIRECTIONS = {"cascade": "downwards", "yosemite-falls": "downwards", "wildfire-smoke": "upwards"}
#: Frames in the loop when a scene has no real video.
DEFAULT_FRAMES = 60


def is_scene(path: str) -> bool:
    return any(os.path.isfile(os.path.join(path, "image" + ext)) for ext in PHOTO_EXTENSIONS)


def find_scenes(paths: list[str]) -> list[str]:
    """Scene folders (holding image.png|jpg) among ``paths`` and their direct subfolders."""
    scenes = []
    for path in paths:
        if not os.path.isdir(path):
            raise SystemExit(f"{path}: no such folder")
        if is_scene(path):
            scenes.append(path)
        else:
            scenes += sorted(os.path.join(path, d) for d in os.listdir(path) if is_scene(os.path.join(path, d)))
    return scenes


def frame_metrics(frame: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> dict:
    """PSNR and SSIM of one frame against the reference, whole frame and inside ``mask``."""
    values = ssim_map(frame, reference)
    region = torch.from_numpy(mask)
    return {"psnr": psnr(frame, reference), "psnr_mask": psnr(frame, reference, mask),
            "ssim": float(values.double().mean()), "ssim_mask": float(values[region].double().mean())}


def summarise(per_frame: list[dict]) -> dict:
    """Means over frames 1 .. N-1 (frame 0 is the photo for every method)."""
    rows = per_frame[1:] if len(per_frame) > 1 else per_frame
    summary = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        finite = [v for v in values if math.isfinite(v)]
        summary[key] = float(np.mean(finite)) if finite else (values[0] if values else float("nan"))
    return summary


def label(image: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` into the top-left corner (white with a dark outline)."""
    image = image.copy()
    scale = max(0.5, image.shape[1] / 1280.0)
    for colour, thickness in (((0, 0, 0), 4), ((255, 255, 255), 1)):
        cv2.putText(image, text, (int(12 * scale), int(32 * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.9 * scale, colour, max(1, int(round(thickness * scale))), cv2.LINE_AA)
    return image


def side_by_side(panels: list[tuple[str, np.ndarray]], frame: int) -> np.ndarray:
    return np.concatenate([label(image, f"{name}  {frame}") for name, image in panels], axis=1)


def mid_loop(count: int) -> list[int]:
    """Frame indices at loop times 1/3 .. 2/3, where the two clouds are blended most."""
    return [m for m in range(count) if count <= 3 * m <= 2 * count]


def scene_checks(ours: list[np.ndarray], real: list[np.ndarray] | None, photo: np.ndarray,
                 region: np.ndarray, field_speed: float) -> dict:
    """The frame-quality checks (see the module docstring) for frames 0 .. N-1 of one scene."""
    middle = mid_loop(len(ours))
    threshold = strong_gradient_threshold(photo, region)
    references = [real[m] for m in middle] if real is not None else [photo]
    ours_flow = mean_flow(ours)
    outside = ~grown_mask(region, STILL_MARGIN)
    checks = {
        "texture_kept": texture_kept([ours[m] for m in middle], references, region, threshold),
        "texture_reference": "real video" if real is not None else "photo",
        "strong_gradient_threshold": threshold,
        "field_speed": field_speed,
        "speed": flow_agreement(ours_flow, ours_flow, region)["speed"],
        "still_change_max": largest_change(ours, photo, outside),
        "still_fraction": float(outside.mean()),
    }
    if real is not None:
        motion = flow_agreement(ours_flow, mean_flow(real), region)
        held = still_inside(ours, real, photo, region)
        checks.update({"flow_cosine": motion["cosine"], "flow_ratio": motion["ratio"],
                       "still_inside_ratio": held["ratio"], "still_inside_ours": held["ours"],
                       "still_inside_real": held["real"], "still_inside_fraction": held["fraction"],
                       "real_speed": motion["reference_speed"],
                       "real_texture_vs_photo": texture_kept(references, [photo], region, threshold),
                       "real_still_change_max": largest_change(real, photo, outside)})
    return checks


def evaluate_scene(folder: str, *, size: int | None = None, direction: str | None = None,
                   hints: list[str] = (), flow_scale: float = 1.0, integrator: str = "rk4",
                   device: str = "cpu", warp_mode: str = "forward", frames: int | None = None,
                   out_dir: str | None = None, sheets_dir: str | None = None,
                   panels: tuple[str, ...] = ("ours", "real"), backend: str = "classical",
                   motion_video: str | None = None, log=lambda message: None) -> dict:
    """Evaluate one scene folder; returns the JSON-ready record (see the module docstring).

    ``motion_video``: prepare the photo alone with the motion of this clip (``--from-video``);
    the metrics' region stays the scene's annotated one, so the numbers compare with the other
    motion sources.
    """
    name = os.path.basename(os.path.normpath(folder))
    timings = {}
    start = time.perf_counter()
    video = os.path.join(folder, "gt.mp4")
    real, fps = read_video(video) if os.path.isfile(video) else (None, 30.0)
    timings["read_video_s"] = time.perf_counter() - start
    count = min(frames or len(real), len(real)) if real is not None else (frames or DEFAULT_FRAMES)
    inputs = SceneInputs.find(folder)
    arrows = [parse_hint(h) for h in hints]
    words = direction or SCENE_DIRECTIONS.get(name, DEFAULT_DIRECTION)  # for scenes with a mask and no arrows
    options = PrepareOptions(max_side=size, hints=arrows, direction=words, flow_scale=flow_scale, backend=backend)
    annotated = None
    if motion_video:
        annotated = inputs
        inputs = SceneInputs(photo=inputs.photo, depth=inputs.depth, motion_video=motion_video)
        options = replace(options, hints=[], direction=None, fps=fps or 30.0)
    start = time.perf_counter()
    scene = prepare_scene(inputs, options)
    worded = None if motion_video else direction_used(scene, words)
    timings["prepare_s"] = time.perf_counter() - start
    width, height = scene.size
    if real is not None:
        real = real[:count]
        if real[0].shape[:2] != (height, width):
            real = [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in real]
    motion = f"motion from {os.path.basename(motion_video)}" if motion_video else \
        f"direction {worded or 'from hint arrows'}"
    log(f"[eval] {name}: {width}x{height}, {count} frames, {'real video' if real is not None else 'no video'}, "
        f"{motion}")

    # The core's render loop, as the CLI runs it, one frame past the loop: frame N (t = 1.0).
    start = time.perf_counter()
    ours = list(render_frames(scene, camera_path("static", scene.intrinsics, count + 1), loop_frames=count,
                              integrator=integrator, device=device, backend=backend))
    timings["render_s"] = time.perf_counter() - start
    photo = to_uint8_image(scene.photo)
    start = time.perf_counter()
    warped = list(warp_frames(scene.photo, scene.flow, count + 1, integrator=integrator, mode=warp_mode))
    timings["warp2d_s"] = time.perf_counter() - start
    at_time_one = {"ours": ours.pop(), "still": photo, "warp2d": warped.pop()}
    clips = {"ours": ours, "warp2d": warped}
    if real is not None:
        clips["still"] = still_frames(photo, count)
    reference = real if real is not None else still_frames(photo, count)

    # The annotated region (before still structure is taken out of it, whatever the motion
    # source), so that numbers stay comparable between versions, with --exact-region and with
    # --from-video; the scene's own regions where nothing is annotated.
    labelled = annotated or inputs
    mask = (scene.regions > 0).numpy() if scene.regions is not None else scene.motion_mask.numpy()
    if labelled.annotation or labelled.mask:
        hints = [] if annotated is not None else arrows
        mask = motion_regions(load_annotation(labelled, load_photo(labelled.photo, size), hints)
                              .at_size(width, height)) > 0
    outside = ~mask
    start = time.perf_counter()
    results = {}
    for method, clip in clips.items():
        per_frame = [frame_metrics(clip[m], reference[m], mask) for m in range(count)]
        seam = loop_seam(clip, mask)
        results[method] = {**summarise(per_frame),
                           "flicker": flicker(clip, outside),
                           "closure": mean_abs_change(at_time_one[method], clip[0], mask),
                           "closure_max": int(np.abs(at_time_one[method].astype(np.int16)
                                                     - clip[0].astype(np.int16)).max()),
                           "seam": seam["wrap"], "seam_step": seam["step"], "seam_ratio": seam["ratio"],
                           "per_frame": per_frame}
    if real is not None:
        seam = loop_seam(real, mask)
        results["real"] = {"flicker": flicker(real, outside), "seam": seam["wrap"],
                           "seam_step": seam["step"], "seam_ratio": seam["ratio"]}
    timings["metrics_s"] = time.perf_counter() - start
    start = time.perf_counter()
    field_speed = float(scene.flow.norm(dim=0)[torch.from_numpy(mask)].mean())
    checks = scene_checks(ours, real, photo, mask, field_speed)
    if real is not None:
        for key in ("psnr", "psnr_mask", "ssim", "ssim_mask"):
            checks[f"{key}_gain"] = results["ours"][key] - results["still"][key]
    timings["checks_s"] = time.perf_counter() - start
    reprojection = {"psnr": psnr(ours[0], photo), "psnr_mask": psnr(ours[0], photo, mask),
                    "max_abs_diff": int(np.abs(ours[0].astype(np.int16) - photo.astype(np.int16)).max()),
                    "mean_abs_diff": mean_abs_change(ours[0], photo)}
    record = {
        "scene": name, "folder": os.path.abspath(folder), "width": width, "height": height,
        "frames": count, "fps": fps, "device": device, "integrator": integrator,
        "real_video": real is not None, "reference": checks["texture_reference"],
        "direction": worded, "hints": list(hints), "flow_scale": flow_scale, "warp_mode": warp_mode,
        "motion_video": motion_video, "video_mask_fraction": float(scene.motion_mask.float().mean()),
        "backend": backend, "renderer": scene.info["stages"]["render"],
        "scene_info": scene.info, "mask_fraction": float(mask.mean()),
        "real_frame0_vs_photo_psnr": psnr(real[0], photo) if real is not None else None,
        "reprojection": reprojection, "checks": checks, "methods": results, "timings": timings,
    }
    if sheets_dir:
        os.makedirs(sheets_dir, exist_ok=True)
        rows = [("ours", ours)] + ([("real", real)] if real is not None else [])
        sheet = os.path.join(sheets_dir, f"{name}-sheet.png")
        cv2.imwrite(sheet, contact_sheet(rows, sheet_frames(count), crop_box(mask))[:, :, ::-1],
                    [cv2.IMWRITE_PNG_COMPRESSION, 9])
        record["sheet"] = sheet
    if out_dir and real is not None:
        os.makedirs(out_dir, exist_ok=True)
        sources = {"ours": ours, "real": real, "still": clips["still"], "warp2d": clips["warp2d"]}
        chosen = [p for p in panels if p in sources]
        video = os.path.join(out_dir, f"{name}-side_by_side.mp4")
        write_video((side_by_side([(p, sources[p][m]) for p in chosen], m) for m in range(count)),
                    video, fps or 30.0)
        stills = []
        for m in sorted({count // 2, count - 1}):
            png = os.path.join(out_dir, f"{name}-side_by_side-f{m:03d}.png")
            cv2.imwrite(png, side_by_side([(p, sources[p][m]) for p in chosen], m)[:, :, ::-1])
            stills.append(png)
        record["side_by_side"] = {"video": video, "frames": stills, "panels": chosen}
    return record


def _number(value, digits: int) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def print_table(records: list[dict], stream=sys.stdout) -> None:
    head = ("scene", "method", "PSNR", "PSNR mask", "SSIM", "SSIM mask", "flicker", "closure", "seam",
            "seam/step")
    rows = [head]
    for record in records:
        for method in (*METHODS, "real"):
            if method not in record["methods"]:
                continue
            r = record["methods"][method]
            rows.append((record["scene"], method, _number(r.get("psnr"), 2), _number(r.get("psnr_mask"), 2),
                         _number(r.get("ssim"), 4), _number(r.get("ssim_mask"), 4),
                         _number(r.get("flicker"), 3), _number(r.get("closure"), 2), _number(r.get("seam"), 2),
                         _number(r.get("seam_ratio"), 2)))
    aligned_table(rows, stream, "Quality against the reference: the real video, or the photo when there is none "
                         "(PSNR dB / SSIM: mean of frames 1..N-1; in 8-bit levels: flicker outside the "
                         "region, closure |f(N) - f(0)| and seam |f(0) - f(N-1)| inside it)")
    print_checks(records, stream)
    for record in records:
        rep = record["reprojection"]
        real = record["real_frame0_vs_photo_psnr"]
        stream.write(f"  {record['scene']}: reprojection (static camera, t=0, vs photo) PSNR "
                     f"{rep['psnr']:.2f} dB, max |diff| {rep['max_abs_diff']} levels"
                     + (f"; real frame 0 vs photo {real:.2f} dB (codec)" if real is not None else "") + "\n")


def print_checks(records: list[dict], stream=sys.stdout) -> None:
    """The frame-quality checks, one row per scene."""
    rows = [("scene", "video", "texture", "flow cos", "flow ratio", "speed", "real speed", "still in", "still max",
             "dPSNR", "dPSNR mask", "dSSIM", "dSSIM mask")]
    for record in records:
        c = record["checks"]
        rows.append((record["scene"], "yes" if record["real_video"] else "no", _number(c["texture_kept"], 2),
                     _number(c.get("flow_cosine"), 2), _number(c.get("flow_ratio"), 2), _number(c["speed"], 2),
                     _number(c.get("real_speed"), 2), _number(c.get("still_inside_ratio"), 2),
                     str(c["still_change_max"]),
                     _number(c.get("psnr_gain"), 2), _number(c.get("psnr_mask_gain"), 2),
                     _number(c.get("ssim_gain"), 3), _number(c.get("ssim_mask_gain"), 3)))
    aligned_table(rows, stream, "Issue 9 checks: texture kept mid-loop (ours / real video, or / photo), DIS mean "
                         "flow vs the real video (cosine, speed ratio; speeds in px/frame), change of the region's "
                         "pixels the real video shows still (ours / real), largest change "
                         "of a still pixel (8-bit levels), ours minus still photo (PSNR dB, SSIM)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.run", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("scenes", nargs="*", default=[DEFAULT_SCENES],
                        help="scene folders, or folders holding scene folders")
    parser.add_argument("--size", type=int, default=None,
                        help="cap the long side (the real video is downscaled to match)")
    parser.add_argument("--frames", type=int, default=None,
                        help=f"compare only the first N frames (without a video: N frames, default {DEFAULT_FRAMES})")
    parser.add_argument("--direction", default=None,
                        help="direction in words for every scene without hint arrows (default: the scene's "
                             f"entry in {SCENE_DIRECTIONS}, else {DEFAULT_DIRECTION!r})")
    parser.add_argument("--hint", action="append", default=[], metavar="X0,Y0,X1,Y1",
                        help="a motion arrow in photo pixels (repeatable; applies to every scene)")
    parser.add_argument("--flow-scale", type=float, default=1.0, help="fluid speed multiplier")
    parser.add_argument("--integrator", default="rk4", choices=("euler", "rk4"))
    parser.add_argument("--warp-mode", default="forward", choices=WARP_MODES,
                        help="2-D warp baseline: backward-warp by the forward displacement, or by "
                             "tracing the negated flow")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument("--backend", default="classical", choices=("classical", "auto", "neural"),
                        help="the network backend of prepare_scene and render_frames, as the CLI's "
                             "(auto/neural need the weight files in ckpts/)")
    parser.add_argument("--from-video", action="store_true",
                        help="motion from the real video: each scene with gt.mp4 is prepared from its photo "
                             "alone plus --motion-video gt.mp4 (an upper bound for the other motion sources; "
                             "scenes without a video are skipped); the region measured stays the annotated one")
    parser.add_argument("--motion-clip", default=None, metavar="CLIP",
                        help="with --from-video and one scene: take the motion from this clip instead of gt.mp4 "
                             "(e.g. a shaken, downscaled copy of it), still measured against gt.mp4")
    parser.add_argument("--panels", default="ours,real",
                        help="panels of the side-by-side video (ours, real, still, warp2d)")
    parser.add_argument("--out-dir", default=os.path.join(REPO, "eval", "results"),
                        help="where the side-by-side videos and PNGs go")
    parser.add_argument("--sheets", default=None, help="where the contact sheets go (default --out-dir)")
    parser.add_argument("--no-video", action="store_true", help="skip the side-by-side videos")
    parser.add_argument("--json", default=None, help="JSON path (default <out-dir>/eval-<date>.json)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scenes = find_scenes(args.scenes)
    if not scenes:
        raise SystemExit(f"no scene folder (image.png|jpg) in {', '.join(args.scenes)}")
    device = resolve_device(args.device)
    if args.from_video:
        scenes = [s for s in scenes if os.path.isfile(os.path.join(s, "gt.mp4"))]
        if not scenes or (args.motion_clip and len(scenes) != 1):
            raise SystemExit("--from-video needs scenes with gt.mp4 (and --motion-clip exactly one)")
    records = []
    started = time.perf_counter()
    for folder in scenes:
        log = lambda message: sys.stderr.write(message + "\n")  # noqa: E731
        try:
            records.append(evaluate_scene(
                folder, size=args.size, direction=args.direction, hints=args.hint,
                flow_scale=args.flow_scale, integrator=args.integrator, device=device,
                warp_mode=args.warp_mode, frames=args.frames,
                out_dir=None if args.no_video else args.out_dir, sheets_dir=args.sheets or args.out_dir,
                panels=tuple(p.strip() for p in args.panels.split(",")), backend=args.backend,
                motion_video=(args.motion_clip or os.path.join(folder, "gt.mp4")) if args.from_video else None,
                log=log))
        except CineError as exc:
            sys.stderr.write(f"[eval] {folder}: {exc}\n")
            return 2
    stamp = _dt.datetime.now()
    out = args.json or os.path.join(args.out_dir, f"eval-{stamp.strftime('%Y%m%d-%H%M%S')}.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    report = {"date": stamp.isoformat(timespec="seconds"), "machine": machine_info(),
              "code": code_version(), "command": " ".join(["python -m eval.run", *(argv or sys.argv[1:])]),
              "wall_s": time.perf_counter() - started, "scenes": records}
    with open(out, "w") as handle:
        json.dump(finite_or_none(report), handle, indent=1)
    print_table(records)
    for record in records:
        if "side_by_side" in record:
            print(f"  {record['scene']}: side-by-side video {record['side_by_side']['video']}")
    print(f"  contact sheets in {args.sheets or args.out_dir}; {report['wall_s']:.0f} s in all")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
