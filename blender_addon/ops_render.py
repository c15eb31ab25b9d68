"""Rendering the loop from the panel, and keeping the scene and the prepared scene in order."""
from __future__ import annotations

import os

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from . import cache, engine, playback, runtime
from .engine import CinemagraphRenderEngine
from .ops_import import set_up_for_cinemagraph
from .properties import active_settings, active_settings_for_poll


class CINEMAGRAPH_OT_render_animation(bpy.types.Operator):
    """Render the loop with the Cinemagraph engine to the output path and file format below"""

    bl_idname = "cinemagraph.render_animation"
    bl_label = "Render Cinemagraph"

    @classmethod
    def poll(cls, context):
        if active_settings_for_poll(cls, context) is None:
            return False
        if context.scene.camera is None:
            cls.poll_message_set("The scene needs an active camera")
            return False
        return True

    def execute(self, context):
        scene = context.scene
        try:
            cache.resolve(active_settings(scene).cache_path)
        except runtime.user_errors() as exc:
            self.report({"ERROR"}, runtime.describe(exc))
            return {"CANCELLED"}
        for warning in (self.camera_warning(context), playback.frame_rate_change(scene, active_settings(scene))):
            if warning:
                self.report({"WARNING"}, warning)
        if scene.render.engine != CinemagraphRenderEngine.bl_idname:
            scene.render.engine = CinemagraphRenderEngine.bl_idname
            self.report({"INFO"}, "Render engine set to Cinemagraph")
        # Blender's own animation render: its progress, cancel, and every output format.
        if bpy.app.background or context.window is None:
            return bpy.ops.render.render(animation=True)
        return bpy.ops.render.render("INVOKE_DEFAULT", animation=True)


    @staticmethod
    def camera_warning(context) -> str | None:
        """The core's warning when the scene camera sees past the content of its cinemagraph
        (else of the active one) at any frame of the range (the clip would show the smeared
        colour of its border there)."""
        scene = context.scene
        render = scene.render
        width = round(render.resolution_x * render.resolution_percentage / 100)
        height = round(render.resolution_y * render.resolution_percentage / 100)
        settings = engine.camera_cinemagraph(scene, scene.camera) or active_settings(scene)
        path = cache.resolve(settings.cache_path)
        current, cameras = scene.frame_current, []
        try:
            for frame in range(scene.frame_start, scene.frame_end + 1):
                scene.frame_set(frame)
                depsgraph = context.evaluated_depsgraph_get()
                cameras.append(engine.core_camera(depsgraph, depsgraph.scene_eval.camera, width, height, settings))
        finally:
            scene.frame_set(current)
        return engine.content_warning(cameras, path, scene.frame_start) if cameras else None


class CINEMAGRAPH_OT_match_frame_range(bpy.types.Operator):
    """Make the scene's frame range exactly one loop, so the rendered video loops seamlessly"""

    bl_idname = "cinemagraph.match_frame_range"
    bl_label = "Match Frame Range to Loop"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return active_settings_for_poll(cls, context) is not None

    def execute(self, context):
        scene = context.scene
        scene.frame_end = scene.frame_start + active_settings(scene).loop_frames - 1
        return {"FINISHED"}


class CINEMAGRAPH_OT_match_photo_aspect(bpy.types.Operator):
    """Make the output's height match the photo's proportions at the current width, so the
    source camera sees exactly the photo"""

    bl_idname = "cinemagraph.match_photo_aspect"
    bl_label = "Match Photo's Aspect"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return active_settings_for_poll(cls, context) is not None

    def execute(self, context):
        render, settings = context.scene.render, active_settings(context.scene)
        render.pixel_aspect_x = render.pixel_aspect_y = 1.0
        render.resolution_y = max(1, round(render.resolution_x * settings.height / settings.width))
        self.report({"INFO"}, f"Output {render.resolution_x}x{render.resolution_y}")
        return {"FINISHED"}


class CINEMAGRAPH_OT_set_up_scene(bpy.types.Operator):
    """Render the cinemagraph as imported: the Cinemagraph engine, the photo's size, one loop, the
    source camera, and the Standard view transform so colours match the photo"""

    bl_idname = "cinemagraph.set_up_scene"
    bl_label = "Set Up Scene"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return active_settings_for_poll(cls, context) is not None

    def execute(self, context):
        set_up_for_cinemagraph(context.scene, active_settings(context.scene))
        return {"FINISHED"}


class CINEMAGRAPH_OT_locate_prepared_scene(bpy.types.Operator, ImportHelper):
    """Point the cinemagraph at its prepared scene file (.cine) after it was moved"""

    bl_idname = "cinemagraph.locate_prepared_scene"
    bl_label = "Locate Prepared Scene"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default=f"*{cache.EXTENSION}", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return active_settings_for_poll(cls, context) is not None

    def execute(self, context):
        settings = active_settings(context.scene)
        path = os.path.normpath(bpy.path.abspath(self.filepath))
        try:
            prepared = runtime.prepared_scene(path)
        except runtime.user_errors() as exc:
            self.report({"ERROR"}, runtime.describe(exc))
            return {"CANCELLED"}
        if prepared.size != (settings.width, settings.height):
            self.report({"ERROR"}, f"{os.path.basename(path)} is a {prepared.size[0]}x{prepared.size[1]} scene, "
                                   f"not this {settings.width}x{settings.height} one")
            return {"CANCELLED"}
        settings.cache_path = cache.stored(path)
        playback.forget(settings.id_data.name)
        playback.refresh(context.scene)
        return {"FINISHED"}


class CINEMAGRAPH_OT_clean_cache(bpy.types.Operator):
    """Delete the prepared scenes beside this .blend that none of its cinemagraphs uses any more
    (earlier motions, removed cinemagraphs). Undo steps from before cannot get them back"""

    bl_idname = "cinemagraph.clean_cache"
    bl_label = "Delete Unused Prepared Scenes"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        if not bpy.data.filepath:
            cls.poll_message_set("Save the .blend file first")
            return False
        return True

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(self, event)

    def execute(self, context):
        unused = cache.unused_files()
        freed = sum(os.path.getsize(path) for path in unused)
        for path in unused:
            os.remove(path)
        self.report({"INFO"}, f"Deleted {len(unused)} unused prepared scene(s), {freed / 1e6:.1f} MB")
        return {"FINISHED"}


def _deleted_cinemagraph(context):
    """The scene's active cinemagraph collection whose surface was deleted, or None."""
    collection = context.scene.cinemagraph.active
    if collection is None or not collection.cinemagraph.surface_deleted:
        return None
    return collection


class CINEMAGRAPH_OT_restore_surface(bpy.types.Operator):
    """Put the deleted surface back into the cinemagraph's collection"""

    bl_idname = "cinemagraph.restore_surface"
    bl_label = "Restore Surface"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return _deleted_cinemagraph(context) is not None

    def execute(self, context):
        collection = _deleted_cinemagraph(context)
        collection.objects.link(collection.cinemagraph.points)
        playback.forget(collection.name)
        playback.refresh(context.scene)
        return {"FINISHED"}


class CINEMAGRAPH_OT_remove_cinemagraph(bpy.types.Operator):
    """Delete the cinemagraph: its collection, surface, cameras, safe zone and hint arrows
    (File > Clean Up > Purge Unused Data then frees the rest)"""

    bl_idname = "cinemagraph.remove_cinemagraph"
    bl_label = "Remove Cinemagraph"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return context.scene.cinemagraph.active is not None

    def execute(self, context):
        collection = context.scene.cinemagraph.active
        settings = collection.cinemagraph
        context.scene.cinemagraph.active = None
        objects = set(collection.all_objects) | {settings.points, settings.source_camera, settings.safe_zone}
        children = list(collection.children_recursive)
        settings.points = settings.source_camera = settings.safe_zone = settings.hints = settings.mask = None
        for obj in objects - {None}:
            bpy.data.objects.remove(obj)
        for child in children:
            bpy.data.collections.remove(child)
        name = collection.name
        playback.forget(name)
        bpy.data.collections.remove(collection)
        self.report({"INFO"}, f"Removed the cinemagraph {name}; its prepared scene goes with Delete Unused "
                              f"Prepared Scenes")
        return {"FINISHED"}


classes = (CINEMAGRAPH_OT_render_animation, CINEMAGRAPH_OT_clean_cache, CINEMAGRAPH_OT_match_frame_range,
           CINEMAGRAPH_OT_match_photo_aspect,
           CINEMAGRAPH_OT_set_up_scene, CINEMAGRAPH_OT_locate_prepared_scene, CINEMAGRAPH_OT_restore_surface,
           CINEMAGRAPH_OT_remove_cinemagraph)
