"""Making the motion: Update Motion re-runs only the core's flow stage on the cached depth and
layers; Load Motion, Detect Motion and Motion from Video fill in the moving region and hint
arrows for the user to edit (each heavy step a background job, :mod:`.jobs`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import bpy
import numpy as np
from bpy.props import BoolProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from ..cine_core import EMPTY_REGION, NO_DIRECTION, NOTHING_MOVES, has_length, motion_problem
from . import cache, playback, runtime, scene_objects
from .errors import AddonError
from .jobs import JobOperator
from .motion_edits import (add_hint, finished_job_settings, hint_objects, hints_outside, motion_inputs, remove_hints,
                           set_mask, video_arrows_unedited)
from .preferences import addon_preferences, compute_device, weights_folder
from .properties import active_settings, active_settings_for_poll


@dataclass
class MotionResult:
    collection: str
    cache_path: str
    scene: object
    cloud: object
    surface: object  # the core's SurfaceVertices: the new motion orders the cloud's points anew


class CINEMAGRAPH_OT_update_motion(JobOperator, bpy.types.Operator):
    """Recompute the motion from the moving region, the hint arrows, the direction and the speed
    (depth and layers are reused)"""

    bl_idname = "cinemagraph.update_motion"
    bl_label = "Update Motion"
    bl_options = {"REGISTER", "UNDO"}
    job_title = "Updating motion"

    @classmethod
    def poll(cls, context):
        return active_settings_for_poll(cls, context) is not None

    def start_job(self, context):
        settings = active_settings(context.scene)
        cine_core = runtime.core()
        old_path = cache.resolve(settings.cache_path)
        size = (settings.width, settings.height)
        mask = None
        if settings.mask is not None:
            mask = scene_objects.read_mask(settings.mask)
            if settings.mask.is_dirty:  # painted: keep the strokes in the .blend
                settings.mask.pack()
        hints = []
        for arrow in hint_objects(settings):
            start, end = scene_objects.hint_pixels(arrow, settings.points, settings.intrinsics())
            if has_length(start, end):
                hints.append(cine_core.HintArrow(start, end))
        direction = settings.direction.strip() or None
        video = bpy.path.abspath(settings.motion_video) if settings.motion_video else None
        if video is not None and not os.path.isfile(video):
            raise AddonError(f"The motion video {settings.motion_video} is not a file; choose it again with "
                             f"Motion from Video or clear Motion Video")
        if video is not None and video_arrows_unedited(settings, motion_inputs(settings)["hints"]):
            hints = []  # the arrows only show the clip's field: the clip itself moves the picture
        problem = None if video else motion_problem(mask, len(hints), direction is not None)
        if problem == NOTHING_MOVES:
            raise AddonError("Nothing moves yet: paint or select the moving region, or draw hint arrows"
                             if direction is None else
                             "A direction in words moves the moving region: paint or select where the "
                             "picture moves first")
        if problem == EMPTY_REGION:
            raise AddonError("The moving region is empty: paint it white where the picture should move")
        if problem == NO_DIRECTION:
            raise AddonError("The moving region needs hint arrows or a direction (e.g. 'left to right') "
                             "to know where it moves")
        mask_size = size if mask is None else (mask.shape[1], mask.shape[0])
        annotation = cine_core.MotionAnnotation(
            mask_size, mask, [h.scaled(mask_size[0] / size[0], mask_size[1] / size[1]) for h in hints])
        self.outside = hints_outside(mask, annotation.hints)
        self.applied = json.dumps(motion_inputs(settings))
        collection, speed, loop_frames = settings.id_data.name, settings.speed, settings.loop_frames
        exact_region = settings.exact_region
        new_path = cache.new_file(collection)
        preferences = addon_preferences()
        weights, device = weights_folder(preferences), compute_device(preferences)
        fps = context.scene.render.fps / context.scene.render.fps_base

        def work(progress, cancel):
            scene, cloud = cine_core.with_motion_animated(
                runtime.prepared_scene(old_path), annotation, loop_frames, direction=direction, flow_scale=speed,
                ckpts_dir=weights, device=device, motion_video=video, fps=fps, exact_region=exact_region,
                progress=cine_core.scaled_progress(progress, 0.0, 0.9), cancel=cancel)
            progress("save", 0.9)
            surface = cine_core.surface_vertices(scene, cloud)
            scene.save(new_path)
            return MotionResult(collection, new_path, scene, cloud, surface)

        return work

    def finish_job(self, context, result: MotionResult):
        settings = finished_job_settings(result.collection, "its motion was computed")
        replaced = cache.resolve(settings.cache_path) if os.path.isfile(bpy.path.abspath(settings.cache_path)) else None
        settings.cache_path = cache.stored(result.cache_path)
        settings.stages = json.dumps(result.scene.info.get("stages", {}))
        settings.applied_motion = self.applied
        scene_objects.replace_surface(settings.points, result.collection, result.surface)
        if replaced is not None:
            cache.replaced(replaced)
        runtime.remember(runtime.scene_key(result.cache_path), result.scene)
        runtime.remember(runtime.cloud_key(result.cache_path, settings.loop_frames), result.cloud)
        playback.forget(result.collection)
        playback.refresh(context.scene, wait=True)
        moving_pixels = result.scene.motion_mask.numpy()
        scene_objects.show_moving_pixels(result.collection, moving_pixels)
        held = result.scene.info.get("held_still", 0.0)
        self.report({"INFO"}, f"Motion updated: {100 * float(moving_pixels.mean()):.1f}% of the photo moves "
                              f"({result.cloud.moving.numel():,} points)"
                              + (f"; {100 * held:.0f}% of the moving region is held still (rock, wires, blades: "
                                 f"see the image '{result.collection} Moving Pixels')" if held > 0 else ""))
        if self.outside:
            numbers = ", ".join(str(n) for n in self.outside)
            self.report({"WARNING"}, f"Hint arrow {numbers} starts outside the moving region and only steers regions "
                                     f"without arrows of their own; move it onto the white area or paint the region "
                                     f"under it")
        return {"FINISHED"}

    def discard_job(self, result: MotionResult) -> None:
        if os.path.isfile(result.cache_path):
            os.remove(result.cache_path)


class CINEMAGRAPH_OT_load_motion(bpy.types.Operator, ImportHelper):
    """Load the moving region and hint arrows from a labelme JSON, a JSON of arrows, or a mask image"""

    bl_idname = "cinemagraph.load_motion"
    bl_label = "Load Motion"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.json;*.png;*.jpg;*.jpeg;*.bmp;*.tif;*.tiff;*.webp", options={"HIDDEN"})
    replace_hints: BoolProperty(name="Replace Hint Arrows", default=True,
                                description="Remove the current hint arrows before adding the file's")

    @classmethod
    def poll(cls, context):
        return active_settings_for_poll(cls, context) is not None

    def execute(self, context):
        settings = active_settings(context.scene)
        path = bpy.path.abspath(self.filepath)
        try:
            cine_core = runtime.core()
            size = (settings.width, settings.height)
            if path.lower().endswith(".json"):
                annotation = cine_core.read_arrows_json(path, size)
            else:
                annotation = cine_core.read_mask_image(path, size)
            annotation = annotation.at_size(*size)
            if annotation.mask is None and not annotation.hints:
                raise AddonError(f"{os.path.basename(path)} holds no moving region and no hint arrows")
            if annotation.hints and self.replace_hints:
                remove_hints(settings)
            for hint in annotation.hints:
                add_hint(settings, hint.start, hint.end)
        except runtime.user_errors() as exc:
            self.report({"ERROR"}, runtime.describe(exc))
            return {"CANCELLED"}
        if annotation.mask is not None:
            set_mask(settings, annotation.mask)
        parts = ([f"{len(annotation.hints)} hint arrow(s)"] if annotation.hints else []) + \
                (["the moving region"] if annotation.mask is not None else [])
        self.report({"INFO"}, f"Loaded {' and '.join(parts)}; press Update Motion to apply")
        return {"FINISHED"}


@dataclass
class FoundMotion:
    collection: str
    annotation: object  # the core's MotionAnnotation at the scene's working size
    summary: str
    method: str


class CINEMAGRAPH_OT_detect_motion(JobOperator, bpy.types.Operator):
    """Find the sky and water of the photo and fill in the moving region and hint arrows (clouds
    drift, water comes towards the camera, waterfalls fall); edit them, then Update Motion"""

    bl_idname = "cinemagraph.detect_motion"
    bl_label = "Detect Motion"
    bl_options = {"REGISTER", "UNDO"}
    job_title = "Detecting motion"

    @classmethod
    def poll(cls, context):
        return active_settings_for_poll(cls, context) is not None

    def start_job(self, context):
        settings = active_settings(context.scene)
        cine_core = runtime.core()
        preferences = addon_preferences()
        scene_path = cache.resolve(settings.cache_path)
        collection = settings.id_data.name
        weights, device = weights_folder(preferences), compute_device(preferences)

        def work(progress, cancel):
            progress("detect", 0.0)
            found, method = cine_core.find_motion(runtime.prepared_scene(scene_path).photo, ckpts_dir=weights,
                                                  device=device)
            progress("detect", 1.0)
            return FoundMotion(collection, found.annotation, found.summary, method)

        return work

    def finish_job(self, context, result: FoundMotion):
        settings = finished_job_settings(result.collection, "its motion was detected")
        if result.annotation.mask is None:
            self.report({"WARNING"}, "No sky or water found: paint the moving region and draw arrows by hand")
            return {"CANCELLED"}
        remove_hints(settings)
        for hint in result.annotation.hints:
            add_hint(settings, hint.start, hint.end)
        set_mask(settings, result.annotation.mask)
        self.report({"INFO"}, f"Found {result.summary} ({result.method}); press Update Motion to apply")
        return {"FINISHED"}


#: Clips the file browser offers (the core reads whatever ffmpeg decodes).
CLIP_GLOB = "*.mp4;*.mov;*.webm;*.mkv;*.m4v;*.avi"


#: Hint arrows sampled from a clip's field: about this many across the photo's long side.
VIDEO_ARROWS_ACROSS = 12


@dataclass
class VideoResult:
    collection: str
    path: str
    moving: np.ndarray  # (H, W) bool
    arrows: list
    summary: str


class CINEMAGRAPH_OT_motion_from_video(JobOperator, bpy.types.Operator, ImportHelper):
    """Take the motion from a short video of the same view (a few seconds, handheld is fine): it fills
    the moving region and shows its motion as hint arrows; Update Motion then moves the picture as the
    clip does"""

    bl_idname = "cinemagraph.motion_from_video"
    bl_label = "Motion from Video"
    bl_options = {"REGISTER", "UNDO"}
    job_title = "Reading motion video"

    filter_glob: StringProperty(default=CLIP_GLOB, options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return active_settings_for_poll(cls, context) is not None

    def invoke(self, context, event):
        self.in_background = True
        return ImportHelper.invoke(self, context, event)

    def start_job(self, context):
        settings = active_settings(context.scene)
        cine_core = runtime.core()
        path = os.path.normpath(bpy.path.abspath(self.filepath))
        if not os.path.isfile(path):
            raise AddonError(f"Choose a video of the scene ({self.filepath or 'no file chosen'} is not a file)")
        scene_path = cache.resolve(settings.cache_path)
        fps = context.scene.render.fps / context.scene.render.fps_base
        collection = settings.id_data.name
        spacing = max(settings.width, settings.height) / VIDEO_ARROWS_ACROSS
        def work(progress, cancel):
            photo = runtime.prepared_scene(scene_path).photo
            motion = cine_core.video_motion(photo, path, fps, progress)
            arrows = cine_core.sample_arrows(motion.flow, motion.regions, spacing)
            return VideoResult(collection, path, motion.regions > 0, arrows, motion.summary)

        return work

    def finish_job(self, context, result: VideoResult):
        settings = finished_job_settings(result.collection, "its video was read")
        if not result.moving.any():
            self.report({"WARNING"}, f"{os.path.basename(result.path)}: {result.summary}; the motion was not changed")
            return {"CANCELLED"}
        remove_hints(settings)
        for arrow in result.arrows:
            add_hint(settings, arrow.start, arrow.end)
        set_mask(settings, result.moving)
        settings.motion_video = bpy.path.relpath(result.path) if bpy.data.filepath else result.path
        settings.direction = ""  # the clip shows the direction
        settings.video_arrows = json.dumps(motion_inputs(settings)["hints"])
        self.report({"INFO"}, f"{os.path.basename(result.path)}: {result.summary}; press Update Motion to apply")
        return {"FINISHED"}


classes = (CINEMAGRAPH_OT_update_motion, CINEMAGRAPH_OT_load_motion, CINEMAGRAPH_OT_detect_motion,
           CINEMAGRAPH_OT_motion_from_video)
