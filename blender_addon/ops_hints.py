"""Hint arrow operators: add one between two pixels (scripts), draw them over the photo in the
viewport, clear them."""
from __future__ import annotations

import bpy
from bpy.props import FloatVectorProperty
from bpy_extras import view3d_utils
from mathutils import Vector

from . import cache, conversion, drawing, runtime
from .errors import AddonError
from .motion_edits import add_hint, hint_objects, remove_hints
from .properties import active_settings, active_settings_for_poll


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
        remove_hints(active_settings(context.scene))
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
        if self._stroke:
            drawing.draw_stroke_arrow(*self._stroke)


classes = (CINEMAGRAPH_OT_add_hint, CINEMAGRAPH_OT_draw_hints, CINEMAGRAPH_OT_clear_hints)
