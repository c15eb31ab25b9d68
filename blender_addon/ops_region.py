"""Moving region operators: set it from selected points, paint it, clear it."""
from __future__ import annotations

import bpy
import numpy as np
from bpy.props import EnumProperty

from . import scene_objects
from .motion_edits import set_mask
from .properties import active_settings, active_settings_for_poll


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


classes = (CINEMAGRAPH_OT_mask_from_selection, CINEMAGRAPH_OT_paint_mask, CINEMAGRAPH_OT_clear_mask)
