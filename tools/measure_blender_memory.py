#!/usr/bin/env python3
"""Measure the memory of a photo import in Blender: the peak resident set size over what
Blender holds before it (with the extension enabled), and what stays after it.

    .venv/bin/python tools/measure_blender_memory.py PHOTO [--size 1024] [--render] [--weights DIR]

It builds the extension zip, installs it into a throw-away Blender user folder, imports the
photo as an artist does (default options: the size limit, estimated depth, motion detection
when the photo has no motion file) and samples the process's RSS every 10 ms in a thread, so
the peak of any step is caught (``ru_maxrss`` would include Blender's start). ``--weights``
points the preferences at a folder of the published model's weight files (the networks then
run as for an artist who downloaded them; files of random weights in the published layout
use the same memory). ``--render``
also renders one frame with the Cinemagraph engine and one with Cycles (4 samples) and updates
the motion, the steps an artist takes next.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import blender_child  # tools/, this script's folder


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


class PeakSampler:
    """The largest RSS seen since the last :meth:`reset`, and per stage of the running
    background job (:attr:`stage`, set by the job's progress), sampled in a thread."""

    def __init__(self) -> None:
        self.peak = _rss_mb()
        self.stage = ""
        self.stage_peaks: dict[str, float] = {}
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            rss, stage = _rss_mb(), self.stage
            self.peak = max(self.peak, rss)
            if stage:
                self.stage_peaks[stage] = max(self.stage_peaks.get(stage, 0.0), rss)
            time.sleep(0.01)

    def reset(self) -> float:
        self.peak = _rss_mb()
        return self.peak

    def follow(self, job_class) -> None:
        """Tag samples with the stage that ``job_class``'s jobs report."""
        progress, sampler = job_class.progress, self

        def tagged(job, stage: str, fraction: float) -> None:
            sampler.stage = stage
            return progress(job, stage, fraction)

        job_class.progress = tagged


def measure(arguments: dict) -> dict:
    import bpy

    bpy.ops.wm.read_factory_settings()
    bpy.ops.extensions.package_install_files(filepath=arguments["zip"], repo="user_default", enable_on_install=True)
    if arguments["weights"]:
        preferences = bpy.context.preferences.addons["bl_ext.user_default.cinemagraph"].preferences
        preferences.weights_folder, preferences.device = arguments["weights"], "CPU"
    sampler = PeakSampler()
    sampler.follow(sys.modules["bl_ext.user_default.cinemagraph.blender_addon.jobs"].Job)
    blender = sampler.reset()
    started = time.perf_counter()
    bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], size_limit=arguments["size"])
    result = {"blender_mb": round(blender), "import_seconds": round(time.perf_counter() - started, 1),
              "import_peak_over_blender_mb": round(sampler.peak - blender),
              "import_stage_peaks_over_blender_mb": {stage: round(peak - blender)
                                                     for stage, peak in sampler.stage_peaks.items()},
              "after_import_over_blender_mb": round(_rss_mb() - blender)}
    sampler.stage = ""
    settings = bpy.context.scene.cinemagraph.active.cinemagraph
    result["vertices"] = len(settings.points.data.vertices)
    if arguments["render"]:
        scene = bpy.context.scene
        scene.render.filepath = os.path.join(arguments["tmp"], "engine.png")
        bpy.ops.render.render(write_still=True)
        result["after_engine_render_peak_over_blender_mb"] = round(sampler.peak - blender)
        settings.speed = 1.5
        bpy.ops.cinemagraph.update_motion()
        result["after_update_motion_peak_over_blender_mb"] = round(sampler.peak - blender)
        scene.render.engine = "CYCLES"
        scene.cycles.device, scene.cycles.samples = "CPU", 4
        scene.render.resolution_percentage = 25
        scene.render.filepath = os.path.join(arguments["tmp"], "cycles.png")
        bpy.ops.render.render(write_still=True)
        result["after_cycles_render_peak_over_blender_mb"] = round(sampler.peak - blender)
        result["end_over_blender_mb"] = round(_rss_mb() - blender)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo", help="the photo to import")
    parser.add_argument("--size", type=int, default=1024, help="the import's Size Limit (long side, pixels)")
    parser.add_argument("--render", action="store_true", help="also render, update the motion and render with Cycles")
    parser.add_argument("--weights", help="a folder of the published model's weight files")
    args = parser.parse_args()
    return blender_child.measure_in_blender(__file__, {"photo": os.path.abspath(args.photo), "size": args.size,
                                                       "render": args.render, "weights": args.weights and
                                                       os.path.abspath(args.weights)})


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == blender_child.CHILD_OPTION:
        blender_child.answer(measure, sys.argv[2])
    sys.exit(main())
