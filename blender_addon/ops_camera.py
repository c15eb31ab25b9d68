"""Camera paths: the core's looping presets as an ordinary keyframed Blender camera."""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty

from . import cache, conversion, runtime
from .properties import CAMERA_PRESETS, active_settings, active_settings_for_poll


def fcurves_of(obj):
    """The F-curves animating ``obj`` (Blender 4.4+ keeps them in the action's slot channel bag)."""
    animation = obj.animation_data
    action = animation.action
    if hasattr(action, "fcurves") and not hasattr(animation, "action_slot"):  # Blender < 4.4
        return action.fcurves
    from bpy_extras import anim_utils

    return anim_utils.action_get_channelbag_for_slot(action, animation.action_slot).fcurves


def scene_preset_path(prepared, preset: str, num_frames: int, strength: float, fitted: bool):
    """The core's preset path for the prepared scene (sized to its nearest point, aimed at its
    focus); ``fitted``: zoomed in to stay inside the photo's content (the camera's positions
    are the same either way)."""
    return runtime.core().preset_path(
        preset, prepared.intrinsics, num_frames, strength=strength, nearest=float(prepared.depth.min()),
        focus_depth=prepared.focus_depth(), outline=prepared.content_outline() if fitted else None)


class CINEMAGRAPH_OT_add_camera_path(bpy.types.Operator):
    """Add a render camera flying one of the looping camera paths, as keyframes you can edit"""

    bl_idname = "cinemagraph.add_camera_path"
    bl_label = "Add Camera Path"
    bl_options = {"REGISTER", "UNDO"}

    preset: EnumProperty(name="Path", items=CAMERA_PRESETS, default="circle")
    strength: FloatProperty(
        name="Strength", default=1.0, min=0.0, soft_max=3.0,
        description="How far the camera moves, relative to the published path (1: the original motion)")
    key_interval: IntProperty(
        name="Key Every", default=5, min=1, soft_max=30, subtype="TIME_ABSOLUTE",
        description="Frames between keyframes; smooth Bezier curves pass through them")
    make_active: BoolProperty(name="Make Active Camera", default=True,
                              description="Render through the new camera")

    @classmethod
    def poll(cls, context):
        return active_settings_for_poll(cls, context) is not None

    def execute(self, context):
        settings = active_settings(context.scene)
        try:
            prepared = runtime.prepared_scene(cache.resolve(settings.cache_path))
            points_world = settings.points.matrix_world.copy()
            conversion.core_scale(points_world)
            path = scene_preset_path(prepared, self.preset, settings.loop_frames, self.strength, fitted=True)
        except runtime.user_errors() as exc:
            self.report({"ERROR"}, runtime.describe(exc))
            return {"CANCELLED"}
        label = next(label for key, label, _ in CAMERA_PRESETS if key == self.preset)
        name = f"{settings.id_data.name} {label} Camera"
        data = settings.source_camera.data.copy()
        data.name = name
        camera = bpy.data.objects.new(name, data)
        settings.id_data.objects.link(camera)
        self._key_path(context.scene, camera, path, points_world, prepared.intrinsics.fx)
        if self.make_active:
            context.scene.camera = camera
        for obj in context.view_layer.objects.selected:
            obj.select_set(False)
        camera.select_set(True)
        context.view_layer.objects.active = camera
        self.report({"INFO"}, f"Added {name}: {label.lower()} path over {settings.loop_frames} frames")
        return {"FINISHED"}

    def _key_path(self, scene, camera, path, points_world, source_fx: float) -> None:
        """Keyframes every ``key_interval`` frames and on the last frame; the curves repeat
        (Cycles modifier), so the camera loops like the motion beyond the frame range."""
        num_frames = len(path)
        frames = sorted(set(range(0, num_frames, self.key_interval)) | {num_frames})
        base_lens = camera.data.lens
        lenses = {frame: base_lens * path[frame % num_frames].intrinsics.fx / source_fx for frame in frames}
        zooming = max(lenses.values()) - min(lenses.values()) > 1e-6
        camera.data.lens = lenses[0]
        previous = None
        for frame in frames:
            matrix = conversion.camera_from_core(points_world, path[frame % num_frames].cam_to_world.numpy())
            rotation = matrix.to_euler("XYZ", previous) if previous is not None else matrix.to_euler("XYZ")
            camera.location, camera.rotation_euler = matrix.translation, rotation
            previous = rotation
            camera.keyframe_insert("location", frame=scene.frame_start + frame)
            camera.keyframe_insert("rotation_euler", frame=scene.frame_start + frame)
            if zooming:
                camera.data.lens = lenses[frame]
                camera.data.keyframe_insert("lens", frame=scene.frame_start + frame)
        animated = [camera] + ([camera.data] if zooming else [])
        for block in animated:
            for curve in fcurves_of(block):
                for point in curve.keyframe_points:
                    point.interpolation = "BEZIER"
                    point.handle_left_type = point.handle_right_type = "AUTO_CLAMPED"
                curve.modifiers.new("CYCLES")
                curve.update()


classes = (CINEMAGRAPH_OT_add_camera_path,)
