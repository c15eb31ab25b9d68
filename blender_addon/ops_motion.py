"""Shaping the motion: the moving region (a mask image), hint arrows (arrow empties over the
photo) and Update Motion, which re-runs only the core's flow stage on the cached depth/layers.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import bpy
import gpu
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatVectorProperty, StringProperty
from bpy_extras import view3d_utils
from bpy_extras.io_utils import ImportHelper
from gpu_extras.batch import batch_for_shader
from mathutils import Vector

from ..cine_core.io import motion_rules
from . import cache, conversion, playback, runtime, scene_objects
from .errors import AddonError
from .jobs import JobOperator
from .preferences import addon_preferences, compute_device, weights_folder
from .properties import active_settings, active_settings_for_poll


def hint_objects(settings) -> list[bpy.types.Object]:
    """The arrow empties of a cinemagraph, in name order (their order does not matter to the flow)."""
    if settings.hints is None:
        return []
    return sorted((o for o in settings.hints.objects if o.type == "EMPTY"), key=lambda o: o.name)


def add_hint(settings, start: tuple[float, float], end: tuple[float, float]) -> bpy.types.Object:
    """A new arrow from photo pixel ``start`` to ``end``, floating just in front of the surface."""
    if not motion_rules.has_length(start, end):
        raise AddonError("A hint arrow needs a length: drag from where the motion starts to where it goes")
    if settings.hints is None:
        settings.hints = bpy.data.collections.new(f"{settings.id_data.name} Hints")
        settings.id_data.children.link(settings.hints)
    prepared = runtime.prepared_scene(cache.resolve(settings.cache_path))
    name = f"{settings.id_data.name} Hint {len(hint_objects(settings)) + 1}"
    return scene_objects.create_hint(name, settings.hints, settings.points, settings.intrinsics(), start, end,
                                     scene_objects.hint_depth(prepared.depth.numpy(), start))


def set_mask(settings, mask: np.ndarray) -> None:
    """Store the moving region (H, W) bool in the cinemagraph's mask image (created if needed);
    the same region again changes nothing (so nothing reads as edited)."""
    height, width = mask.shape
    image = settings.mask
    if image is None or tuple(image.size) != (width, height):
        image = scene_objects.create_mask_image(settings.id_data.name, mask)
        settings.mask = image
    elif np.array_equal(scene_objects.read_mask(image), mask):
        return
    else:
        scene_objects.write_mask(image, mask)
    settings.mask_revision += 1


def motion_inputs(settings) -> dict:
    """What Update Motion would make the motion from, in a form to compare (JSON-serialisable)."""
    hints = []
    for arrow in hint_objects(settings):
        try:
            start, end = scene_objects.hint_pixels(arrow, settings.points, settings.intrinsics())
        except AddonError:
            start, end = (float("nan"),) * 2, (float("nan"),) * 2
        hints.append([round(value, 1) for value in (*start, *end)])
    mask = settings.mask
    return {"speed": round(settings.speed, 4), "direction": settings.direction.strip(), "hints": hints,
            "mask": [mask.name if mask is not None else "", settings.mask_revision],
            "video": settings.motion_video, "exact_region": settings.exact_region}


def pending_motion_changes(settings) -> list[str]:
    """The edits Update Motion has not applied yet, one short sentence each (empty: up to date)."""
    if not settings.applied_motion:
        return []
    applied, now = json.loads(settings.applied_motion), motion_inputs(settings)
    changes = []
    if now["speed"] != applied["speed"]:
        changes.append(f"Speed {applied['speed']:g} -> {now['speed']:g}")
    if now["direction"] != applied["direction"]:
        changes.append(f"Direction '{applied['direction']}' -> '{now['direction']}'")
    if now["hints"] != applied["hints"]:
        before, after = len(applied["hints"]), len(now["hints"])
        changes.append(f"Hint arrows: {before} -> {after}" if before != after else "Hint arrows moved")
    if now["mask"] != applied["mask"] or (settings.mask is not None and settings.mask.is_dirty):
        changes.append("Moving region edited")
    if now.get("video", "") != applied.get("video", ""):
        changes.append(f"Motion video: {os.path.basename(now['video']) or 'none'}")
    if now["exact_region"] != applied.get("exact_region", False):
        changes.append("Exact Region " + ("on" if now["exact_region"] else "off"))
    return changes


def video_arrows_unedited(settings, hints: list) -> bool:
    """Whether the hint arrows are still those Motion from Video sampled from the clip (compared
    as :func:`motion_inputs` rounds them): then the clip's own field moves the picture, else the
    arrows win in the regions they start in."""
    return bool(settings.video_arrows) and json.loads(settings.video_arrows) == hints


def hints_outside(mask: np.ndarray | None, hints: list) -> list[int]:
    """1-based numbers of the arrows whose start lies outside the moving region ``mask``: a
    region takes its velocity from the arrows that start inside it, so they only steer regions
    without arrows of their own."""
    if mask is None:
        return []
    return [number for number, hint in enumerate(hints, start=1)
            if not motion_rules.starts_inside(hint.start, mask)]


def finished_job_settings(collection_name: str, meanwhile: str):
    """The settings of the cinemagraph a finished job writes into; an error when the user removed
    it while the job ran (``meanwhile`` says what the job did)."""
    collection = bpy.data.collections.get(collection_name)
    if collection is None or not collection.cinemagraph.is_valid:
        raise AddonError(f"The cinemagraph {collection_name} was removed while {meanwhile}")
    return collection.cinemagraph


@dataclass
class MotionResult:
    collection: str
    cache_path: str
    scene: object
    cloud: object
    surface: scene_objects.SurfaceData  # the new motion orders the cloud's points anew


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
            if motion_rules.has_length(start, end):
                hints.append(cine_core.io.annotations.HintArrow(start, end))
        direction = settings.direction.strip() or None
        video = bpy.path.abspath(settings.motion_video) if settings.motion_video else None
        if video is not None and not os.path.isfile(video):
            raise AddonError(f"The motion video {settings.motion_video} is not a file; choose it again with "
                             f"Motion from Video or clear Motion Video")
        if video is not None and video_arrows_unedited(settings, motion_inputs(settings)["hints"]):
            hints = []  # the arrows only show the clip's field: the clip itself moves the picture
        problem = None if video else motion_rules.motion_problem(mask, len(hints), direction is not None)
        if problem == motion_rules.NOTHING_MOVES:
            raise AddonError("Nothing moves yet: paint or select the moving region, or draw hint arrows"
                             if direction is None else
                             "A direction in words moves the moving region: paint or select where the "
                             "picture moves first")
        if problem == motion_rules.EMPTY_REGION:
            raise AddonError("The moving region is empty: paint it white where the picture should move")
        if problem == motion_rules.NO_DIRECTION:
            raise AddonError("The moving region needs hint arrows or a direction (e.g. 'left to right') "
                             "to know where it moves")
        mask_size = size if mask is None else (mask.shape[1], mask.shape[0])
        annotation = cine_core.io.annotations.MotionAnnotation(
            mask_size, mask, [h.scaled(mask_size[0] / size[0], mask_size[1] / size[1]) for h in hints])
        self.outside = hints_outside(mask, annotation.hints)
        self.applied = json.dumps(motion_inputs(settings))
        collection, speed, loop_frames = settings.id_data.name, settings.speed, settings.loop_frames
        exact_region = settings.exact_region
        new_path = cache.new_file(collection)
        preferences = addon_preferences()
        weights, device = weights_folder(preferences), compute_device(preferences)
        fps = context.scene.render.fps / context.scene.render.fps_base

        def work(progress):
            scene, cloud = cine_core.pipeline.run.with_motion_animated(
                runtime.prepared_scene(old_path), annotation, loop_frames, direction=direction, flow_scale=speed,
                ckpts_dir=weights, device=device, motion_video=video, fps=fps, exact_region=exact_region,
                progress=cine_core.pipeline.run.scaled_progress(progress, 0.0, 0.9))
            progress("save", 0.9)
            surface = scene_objects.surface_data(scene, cloud)
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
                annotation = cine_core.io.annotations.read_arrows_json(path, size)
            else:
                annotation = cine_core.io.annotations.read_mask_image(path, size)
            annotation = annotation.at_size(*size)
            if annotation.mask is None and not annotation.hints:
                raise AddonError(f"{os.path.basename(path)} holds no moving region and no hint arrows")
            if annotation.hints and self.replace_hints:
                _remove_hints(settings)
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


class CINEMAGRAPH_OT_detect_motion(bpy.types.Operator):
    """Find the sky and water of the photo and fill in the moving region and hint arrows (clouds
    drift, water comes towards the camera, waterfalls fall); edit them, then Update Motion"""

    bl_idname = "cinemagraph.detect_motion"
    bl_label = "Detect Motion"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return active_settings_for_poll(cls, context) is not None

    def execute(self, context):
        settings = active_settings(context.scene)
        preferences = addon_preferences()
        try:
            cine_core = runtime.core()
            prepared = runtime.prepared_scene(cache.resolve(settings.cache_path))
            backend = cine_core.pipeline.backend.NeuralBackend("auto", weights_folder(preferences), compute_device(preferences))
            found, method = cine_core.pipeline.run.find_motion(prepared.photo, [], None, backend)
            if found.annotation.mask is None:
                self.report({"WARNING"}, "No sky or water found: paint the moving region and draw arrows by hand")
                return {"CANCELLED"}
            _remove_hints(settings)
            for hint in found.annotation.hints:
                add_hint(settings, hint.start, hint.end)
        except runtime.user_errors() as exc:
            self.report({"ERROR"}, runtime.describe(exc))
            return {"CANCELLED"}
        set_mask(settings, found.annotation.mask)
        self.report({"INFO"}, f"Found {found.summary} ({method}); press Update Motion to apply")
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
        from_video = cine_core.motion.from_video

        def work(progress):
            photo = runtime.prepared_scene(scene_path).photo
            motion = from_video.video_motion(photo, path, fps, progress)
            arrows = from_video.sample_arrows(motion.flow, motion.regions, spacing)
            return VideoResult(collection, path, motion.regions > 0, arrows, motion.summary)

        return work

    def finish_job(self, context, result: VideoResult):
        settings = finished_job_settings(result.collection, "its video was read")
        if not result.moving.any():
            self.report({"WARNING"}, f"{os.path.basename(result.path)}: {result.summary}; the motion was not changed")
            return {"CANCELLED"}
        _remove_hints(settings)
        for arrow in result.arrows:
            add_hint(settings, arrow.start, arrow.end)
        set_mask(settings, result.moving)
        settings.motion_video = bpy.path.relpath(result.path) if bpy.data.filepath else result.path
        settings.direction = ""  # the clip shows the direction
        settings.video_arrows = json.dumps(motion_inputs(settings)["hints"])
        self.report({"INFO"}, f"{os.path.basename(result.path)}: {result.summary}; press Update Motion to apply")
        return {"FINISHED"}


def _remove_hints(settings) -> None:
    for arrow in hint_objects(settings):
        bpy.data.objects.remove(arrow)


class CINEMAGRAPH_OT_clear_hints(bpy.types.Operator):
    """Delete all hint arrows of the cinemagraph"""

    bl_idname = "cinemagraph.clear_hints"
    bl_label = "Clear Hint Arrows"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        settings = active_settings_for_poll(cls, context)
        return settings is not None and bool(hint_objects(settings))

    def execute(self, context):
        _remove_hints(active_settings(context.scene))
        return {"FINISHED"}


class CINEMAGRAPH_OT_add_hint(bpy.types.Operator):
    """Add a hint arrow between two pixels of the photo (for scripts; in the viewport use Draw Arrows)"""

    bl_idname = "cinemagraph.add_hint"
    bl_label = "Add Hint Arrow"
    bl_options = {"REGISTER", "UNDO"}

    start: FloatVectorProperty(name="Start", size=2, description="Where the motion starts: photo pixel (x, y), "
                                                                 "y downwards, at the working size")
    end: FloatVectorProperty(name="End", size=2, description="Where it goes: photo pixel (x, y)")

    @classmethod
    def poll(cls, context):
        return active_settings_for_poll(cls, context) is not None

    def execute(self, context):
        try:
            add_hint(active_settings(context.scene), tuple(self.start), tuple(self.end))
        except runtime.user_errors() as exc:
            self.report({"ERROR"}, runtime.describe(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


_NAVIGATION = {"MIDDLEMOUSE", "WHEELUPMOUSE", "WHEELDOWNMOUSE", "TRACKPADPAN", "TRACKPADZOOM", "MOUSEROTATE"}


class CINEMAGRAPH_OT_draw_hints(bpy.types.Operator):
    """Drag arrows over the photo in the direction the picture should move (longer is faster).
    Draw in the source camera's view for exact placement"""

    bl_idname = "cinemagraph.draw_hints"
    bl_label = "Draw Hint Arrows"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if active_settings_for_poll(cls, context) is None:
            return False
        if context.area is None or context.area.type != "VIEW_3D":
            cls.poll_message_set("Draw arrows in a 3D Viewport")
            return False
        return True

    def invoke(self, context, event):
        settings = active_settings(context.scene)
        try:
            self._focus = runtime.prepared_scene(cache.resolve(settings.cache_path)).focus_depth()
        except runtime.user_errors() as exc:
            self.report({"ERROR"}, runtime.describe(exc))
            return {"CANCELLED"}
        self._stroke: list[Vector] = []
        self._added = 0
        self._draw_handle = bpy.types.SpaceView3D.draw_handler_add(self._draw, (), "WINDOW", "POST_PIXEL")
        context.workspace.status_text_set("Drag arrows along the motion (longer = faster)   "
                                          "Right-click / Esc / Enter: done")
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def _pixel(self, context, coord) -> tuple[float, float]:
        """Photo pixel under the mouse: the view ray meets a plane facing the source camera at the
        subject's depth (exact whatever the depth when looking through the source camera)."""
        settings = active_settings(context.scene)
        region, view = context.region, context.region_data
        origin = view3d_utils.region_2d_to_origin_3d(region, view, coord)
        direction = view3d_utils.region_2d_to_vector_3d(region, view, coord)
        to_core = settings.points.matrix_world.inverted()
        origin_core = to_core @ origin
        direction_core = to_core.to_3x3() @ direction
        if abs(direction_core.z) < 1e-9:
            raise AddonError("Look towards the photo to draw arrows over it")
        distance = (self._focus - origin_core.z) / direction_core.z
        if distance <= 0:
            raise AddonError("Look towards the photo to draw arrows over it")
        return conversion.hint_pixel(origin_core + distance * direction_core, settings.intrinsics())

    def modal(self, context, event):
        context.area.tag_redraw()
        if event.type in {"RIGHTMOUSE", "ESC", "RET"} and event.value == "PRESS":
            return self._finish(context)
        if event.type == "LEFTMOUSE" and event.value == "PRESS":
            self._stroke = [Vector((event.mouse_region_x, event.mouse_region_y))] * 2
            return {"RUNNING_MODAL"}
        if event.type == "MOUSEMOVE" and self._stroke:
            self._stroke[1] = Vector((event.mouse_region_x, event.mouse_region_y))
            return {"RUNNING_MODAL"}
        if event.type == "LEFTMOUSE" and event.value == "RELEASE" and self._stroke:
            start, end = self._stroke
            self._stroke = []
            if (end - start).length < 4:  # a click, not a drag
                return {"RUNNING_MODAL"}
            try:
                add_hint(active_settings(context.scene), self._pixel(context, start), self._pixel(context, end))
                self._added += 1
            except runtime.user_errors() as exc:
                self.report({"WARNING"}, runtime.describe(exc))
            return {"RUNNING_MODAL"}
        # Navigation keeps working while drawing; everything else belongs to the tool.
        navigating = event.type in _NAVIGATION or event.type.startswith(("NUMPAD_", "NDOF_"))
        return {"PASS_THROUGH"} if navigating else {"RUNNING_MODAL"}

    def _finish(self, context):
        bpy.types.SpaceView3D.draw_handler_remove(self._draw_handle, "WINDOW")
        context.workspace.status_text_set(None)
        context.area.tag_redraw()
        if not self._added:
            return {"CANCELLED"}
        self.report({"INFO"}, f"Added {self._added} hint arrow(s); press Update Motion to apply")
        return {"FINISHED"}

    def _draw(self) -> None:
        if not self._stroke:
            return
        start, end = self._stroke
        along = end - start
        if along.length < 1:
            return
        side = Vector((-along.y, along.x)).normalized() * min(8.0, 0.3 * along.length)
        back = end - along.normalized() * min(14.0, 0.4 * along.length)
        lines = [start, end, end, back + side, end, back - side]
        shader = gpu.shader.from_builtin("POLYLINE_UNIFORM_COLOR")
        shader.uniform_float("viewportSize", gpu.state.viewport_get()[2:])
        shader.uniform_float("lineWidth", 2.5)
        shader.uniform_float("color", (1.0, 0.55, 0.1, 1.0))
        batch_for_shader(shader, "LINES", {"pos": [(p.x, p.y, 0.0) for p in lines]}).draw(shader)


class CINEMAGRAPH_OT_mask_from_selection(bpy.types.Operator):
    """Set the moving region from the points selected in Edit Mode (select them through the source
    camera with box, circle or lasso select)"""

    bl_idname = "cinemagraph.mask_from_selection"
    bl_label = "Moving Region from Selection"
    bl_options = {"REGISTER", "UNDO"}

    mode: EnumProperty(name="Mode", default="SET", items=[
        ("SET", "Set", "The selected points move, nothing else"),
        ("ADD", "Add", "The selected points move too"),
        ("SUBTRACT", "Subtract", "The selected points stay still")])

    @classmethod
    def poll(cls, context):
        settings = active_settings_for_poll(cls, context)
        if settings is None:
            return False
        if context.object is None or context.object != settings.points or context.mode != "EDIT_MESH":
            cls.poll_message_set("Select vertices of the cinemagraph's surface in Edit Mode first")
            return False
        return True

    def execute(self, context):
        settings = active_settings(context.scene)
        mesh = settings.points.data
        # Attribute data is only readable outside Edit Mode: step out for the read.
        bpy.ops.object.mode_set(mode="OBJECT")
        try:
            selected = np.zeros(len(mesh.vertices), bool)
            mesh.vertices.foreach_get("select", selected)
            pixels = np.empty(len(mesh.vertices) * 2, np.float32)
            mesh.attributes[scene_objects.PIXEL_ATTRIBUTE].data.foreach_get("vector", pixels)
        finally:
            bpy.ops.object.mode_set(mode="EDIT")
        pixels = np.rint(pixels.reshape(-1, 2)[selected]).astype(np.int64)
        width, height = settings.width, settings.height
        chosen = np.zeros((height, width), bool)
        inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < width) & (pixels[:, 1] >= 0) & (pixels[:, 1] < height)
        chosen[pixels[inside, 1], pixels[inside, 0]] = True
        current = scene_objects.read_mask(settings.mask) if settings.mask is not None else np.zeros_like(chosen)
        if current.shape != chosen.shape:
            current = np.zeros_like(chosen)
        mask = {"SET": chosen, "ADD": current | chosen, "SUBTRACT": current & ~chosen}[self.mode]
        set_mask(settings, mask)
        self.report({"INFO"}, f"Moving region: {100 * mask.mean():.1f}% of the photo; press Update Motion to apply")
        return {"FINISHED"}


class CINEMAGRAPH_OT_paint_mask(bpy.types.Operator):
    """Paint the moving region in an Image Editor: white moves, black stays still"""

    bl_idname = "cinemagraph.paint_mask"
    bl_label = "Paint Moving Region"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return active_settings_for_poll(cls, context) is not None and context.window is not None \
            and not bpy.app.background

    def execute(self, context):
        settings = active_settings(context.scene)
        if settings.mask is None:
            set_mask(settings, np.zeros((settings.height, settings.width), bool))
        area = next((a for a in context.screen.areas if a.type == "IMAGE_EDITOR"), None)
        if area is None:
            # A window of its own, like Blender's render view: the 3D viewport stays as it was.
            bpy.ops.wm.window_new()
            area = bpy.context.window_manager.windows[-1].screen.areas[0]
            area.type = "IMAGE_EDITOR"
        space = area.spaces.active
        space.image = settings.mask
        space.ui_mode = "PAINT"
        self.report({"INFO"}, "Paint white where the picture moves, then press Update Motion")
        return {"FINISHED"}


class CINEMAGRAPH_OT_clear_mask(bpy.types.Operator):
    """Forget the moving region: the hint arrows alone decide what moves (the area around them)"""

    bl_idname = "cinemagraph.clear_mask"
    bl_label = "Clear Moving Region"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        settings = active_settings_for_poll(cls, context)
        return settings is not None and settings.mask is not None

    def execute(self, context):
        settings = active_settings(context.scene)
        image = settings.mask
        settings.mask = None
        if image.users == 0:
            bpy.data.images.remove(image)
        return {"FINISHED"}


classes = (CINEMAGRAPH_OT_update_motion, CINEMAGRAPH_OT_load_motion, CINEMAGRAPH_OT_add_hint,
           CINEMAGRAPH_OT_draw_hints, CINEMAGRAPH_OT_clear_hints, CINEMAGRAPH_OT_mask_from_selection,
           CINEMAGRAPH_OT_paint_mask, CINEMAGRAPH_OT_clear_mask, CINEMAGRAPH_OT_detect_motion,
           CINEMAGRAPH_OT_motion_from_video)
