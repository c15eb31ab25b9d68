"""The "Cinemagraph" tab of the 3D viewport's sidebar (N), in the order of the work:
import the photo, shape its motion, design the camera path, render."""
from __future__ import annotations

import os
import textwrap

import bpy

from . import cache, dependencies, jobs, playback, runtime
from .engine import CinemagraphRenderEngine
from .ops_camera import scene_preset_path
from .motion_edits import hint_objects, pending_motion_changes
from .preferences import addon_preferences, compute_device, weights_folder
from .properties import active_settings


def wrapped_label(layout, context, text: str, icon: str = "NONE") -> None:
    """A label broken into lines that fit the sidebar's width (Blender's labels never wrap)."""
    region = context.region
    width = region.width if region is not None else 300  # the sidebar's default width
    scale = context.preferences.system.ui_scale or 1.0  # 0 without a window (background mode)
    characters = max(20, int(width / (7.0 * scale)) - 4)
    column = layout.column(align=True)
    for index, line in enumerate(textwrap.wrap(text, characters) or [""]):
        column.label(text=line, icon=icon if index == 0 else "BLANK1")


def length_text(context, core_units: float, settings) -> str:
    """A length in the cinemagraph's units as Blender shows lengths (metres by default)."""
    blender_units = core_units * settings.points.matrix_world.to_scale()[0]
    unit_settings = context.scene.unit_settings
    if unit_settings.system == "NONE":
        return f"{blender_units:.3g}"
    return bpy.utils.units.to_string(unit_settings.system, "LENGTH", blender_units * unit_settings.scale_length,
                                     precision=2)


#: (prepared scene, loop, preset, strength) -> the path's reach: the panel redraws often.
_reaches: dict[tuple, float] = {}


def path_reach(settings) -> float | None:
    """How far the chosen preset path takes the camera from the source camera (core units), as
    Add Camera Path keys it; None when the prepared scene cannot be read (the Import panel says why)."""
    try:
        path = runtime.content_path(cache.resolve(settings.cache_path))
    except runtime.user_errors():
        return None
    key = (path, settings.loop_frames, settings.path_preset, round(settings.path_strength, 4))
    if key not in _reaches:
        try:
            prepared = runtime.prepared_scene(path)
            camera_path = scene_preset_path(prepared, settings.path_preset, settings.loop_frames,
                                            settings.path_strength, fitted=False)
        except runtime.user_errors():
            return None
        _reaches.clear()  # one entry is all a redraw needs
        _reaches[key] = runtime.core().path_reach(camera_path)
    return _reaches[key]


class CinemagraphPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Cinemagraph"


class PhotoSubPanel(CinemagraphPanel):
    """A sub-panel of the main one, shown while the active photo is a cinemagraph."""
    bl_parent_id = "VIEW3D_PT_cinemagraph"

    @classmethod
    def poll(cls, context):
        return active_settings(context.scene) is not None


class VIEW3D_PT_cinemagraph(CinemagraphPanel, bpy.types.Panel):
    bl_label = "Cinemagraph"

    def draw(self, context):
        layout = self.layout
        missing = dependencies.missing_required()
        if missing:
            box = layout.box()
            box.label(text=f"Needs {', '.join(missing)}", icon="ERROR")
            row = box.row(align=True)
            row.operator("cinemagraph.install_dependencies", icon="IMPORT")
            row.operator("preferences.addon_show", text="", icon="PREFERENCES").module = dependencies.ADDON_PACKAGE
        job = jobs.current
        if job is not None:
            row = layout.row(align=True)
            row.progress(factor=job.fraction, type="BAR", text=job.status_text())
            row.operator("cinemagraph.cancel_job", text="", icon="CANCEL")
        layout.prop(context.scene.cinemagraph, "active", text="", icon="OUTLINER_COLLECTION")
        active = context.scene.cinemagraph.active
        if active is not None and active.cinemagraph.surface_deleted:
            box = layout.box()
            box.alert = True
            wrapped_label(box, context, f"The surface of {active.name} was deleted: it no longer renders",
                          icon="ERROR")
            row = box.row(align=True)
            row.operator("cinemagraph.restore_surface", icon="LOOP_BACK")
            row.operator("cinemagraph.remove_cinemagraph", icon="TRASH")


class VIEW3D_PT_cinemagraph_import(CinemagraphPanel, bpy.types.Panel):
    bl_label = "Import"
    bl_parent_id = "VIEW3D_PT_cinemagraph"

    def draw(self, context):
        layout = self.layout
        layout.operator("cinemagraph.import_image", text="Import Photo...", icon="IMAGE_DATA")
        settings = active_settings(context.scene)
        if settings is None:
            return
        column = layout.column(align=True)
        column.label(text=f"{os.path.basename(bpy.path.abspath(settings.photo_path))}: "
                          f"{settings.width} x {settings.height} px", icon="IMAGE_RGB")
        column.label(text=f"{len(settings.points.data.vertices):,} vertices, "
                          f"{len(settings.points.data.polygons):,} triangles", icon="MESH_DATA")
        column.label(text=f"Nearest point {length_text(context, settings.nearest_depth, settings)} from the "
                          f"camera", icon="DRIVER_DISTANCE")
        wrapped_label(column, context, "(Nearest Distance on import; scale the surface to change it)", "BLANK1")
        methods = settings.stage_methods()
        if methods:
            column = layout.column(align=True)
            for stage, method in methods.items():
                column.label(text=f"{stage.title()}: {method}", icon="NODE" if "neural" in method else "DOT")
        path = bpy.path.abspath(settings.cache_path)
        row = layout.row(align=True)
        if os.path.isfile(path):
            row.label(text=f"Prepared scene: {os.path.getsize(path) / 1e6:.1f} MB", icon="FILE_CACHE")
        else:
            row.alert = True
            row.label(text="Prepared scene missing", icon="ERROR")
        row.operator("cinemagraph.locate_prepared_scene", text="", icon="FILEBROWSER")
        row.operator("cinemagraph.clean_cache", text="", icon="TRASH")
        if not os.path.isfile(path):
            wrapped_label(layout, context, f"{os.path.basename(path)} is not in "
                                           f"{os.path.dirname(path)}: keep the folder beside the .blend or "
                                           f"locate the file (folder icon)")
        if not bpy.data.filepath:
            layout.label(text="Saving the .blend keeps it in a folder beside the file", icon="INFO")


class VIEW3D_PT_cinemagraph_motion(PhotoSubPanel, bpy.types.Panel):
    bl_label = "Motion"

    def draw(self, context):
        layout = self.layout
        settings = active_settings(context.scene)
        row = layout.row(align=True)
        row.operator("cinemagraph.load_motion", text="Load Annotation or Mask...", icon="FILEBROWSER")
        row.operator("cinemagraph.detect_motion", icon="VIEWZOOM")
        row = layout.row(align=True)
        row.operator("cinemagraph.motion_from_video", text="Motion from Video...", icon="FILE_MOVIE")
        if settings.motion_video:
            row.prop(settings, "motion_video", text="")

        box = layout.box()
        row = box.row()
        row.label(text="Moving Region", icon="MOD_MASK")
        row.label(text=settings.mask.name if settings.mask else "around the arrows")
        row = box.row(align=True)
        row.operator("cinemagraph.paint_mask", text="Paint", icon="BRUSH_DATA")
        if context.mode == "EDIT_MESH":
            row.operator_menu_enum("cinemagraph.mask_from_selection", "mode", text="From Selection",
                                   icon="RESTRICT_SELECT_OFF")
        else:
            row.operator("cinemagraph.mask_from_selection", text="From Selection", icon="RESTRICT_SELECT_OFF")
        row.operator("cinemagraph.clear_mask", text="", icon="X")

        box = layout.box()
        row = box.row()
        row.label(text="Hint Arrows", icon="FORWARD")
        row.label(text=str(len(hint_objects(settings))))
        row = box.row(align=True)
        row.operator("cinemagraph.draw_hints", text="Draw Arrows", icon="GREASEPENCIL")
        row.operator("cinemagraph.clear_hints", text="", icon="X")
        box.prop(settings, "direction")

        column = layout.column()
        column.use_property_split = True
        column.prop(settings, "speed")
        column.prop(settings, "exact_region")
        column.prop(settings, "loop_frames")
        column.prop(settings, "loop_start")
        changes = pending_motion_changes(settings)
        if changes:
            box = layout.box()
            box.alert = True
            box.label(text="Motion out of date; Update Motion applies:", icon="ERROR")
            for change in changes:
                box.label(text=change, icon="DOT")
        row = layout.row()
        row.scale_y = 1.4
        row.operator("cinemagraph.update_motion", icon="FILE_REFRESH")
        layout.prop(settings, "animate_viewport")
        problem = playback.problems.get(settings.id_data.name)
        if problem:
            layout.label(text=problem, icon="ERROR")


class VIEW3D_PT_cinemagraph_camera(PhotoSubPanel, bpy.types.Panel):
    bl_label = "Camera"

    def draw(self, context):
        layout = self.layout
        settings = active_settings(context.scene)
        column = layout.column(align=True)
        column.use_property_split = True
        column.prop(settings, "path_preset")
        column.prop(settings, "path_strength")
        reach = path_reach(settings)
        if settings.safe_zone is not None and reach is not None:
            zone = settings.safe_zone.empty_display_size
            row = layout.row()
            row.alert = reach > zone
            row.label(text=f"Moves up to {length_text(context, reach, settings)}; "
                           f"safe zone {length_text(context, zone, settings)}",
                      icon="ERROR" if reach > zone else "CHECKMARK")
        op = layout.operator("cinemagraph.add_camera_path", text="Add Camera Path", icon="CAMERA_DATA")
        op.preset, op.strength = settings.path_preset, settings.path_strength
        layout.prop(context.scene, "camera", text="Active")
        camera = context.scene.camera
        if camera is not None and camera.type == "CAMERA":
            column = layout.column()
            column.use_property_split = True
            column.prop(camera.data, "lens")
            if camera == settings.source_camera:
                layout.label(text="The source camera shows the photo as taken", icon="INFO")


class VIEW3D_PT_cinemagraph_render(PhotoSubPanel, bpy.types.Panel):
    bl_label = "Render"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        settings = active_settings(scene)
        render = scene.render
        if render.engine != CinemagraphRenderEngine.bl_idname:
            row = layout.row()
            row.label(text=f"Render engine: {render.engine.replace('BLENDER_', '').title()}", icon="INFO")
            row.operator("cinemagraph.set_up_scene", text="Use Cinemagraph")
        if scene.view_settings.view_transform != "Standard":
            row = layout.row()
            row.label(text=f"{scene.view_settings.view_transform} changes the photo's colours", icon="ERROR")
            row.operator("cinemagraph.set_up_scene", text="Fix")
        column = layout.column(align=True)
        column.use_property_split = True
        column.prop(render, "resolution_x", text="Resolution X")
        column.prop(render, "resolution_y", text="Y")
        column.prop(render, "resolution_percentage", text="%")
        aspect = render.resolution_x * render.pixel_aspect_x / (render.resolution_y * render.pixel_aspect_y)
        photo_aspect = settings.width / settings.height
        if abs(aspect / photo_aspect - 1.0) > 0.01:
            box = layout.box()
            box.alert = True
            shape = "wider" if aspect > photo_aspect else "taller"
            wrapped_label(box, context, f"The output ({aspect:.3g}:1) is {shape} than the photo "
                                        f"({photo_aspect:.3g}:1): the source camera sees past its edges",
                          icon="ERROR")
            box.operator("cinemagraph.match_photo_aspect", text="Match Photo")
        column = layout.column(align=True)
        column.use_property_split = True
        column.prop(scene, "frame_start", text="Frame Start")
        column.prop(scene, "frame_end", text="End")
        frames = scene.frame_end - scene.frame_start + 1
        if frames % settings.loop_frames:
            row = layout.row()
            row.label(text=f"{frames} frames: not whole loops of {settings.loop_frames}", icon="ERROR")
            row.operator("cinemagraph.match_frame_range", text="Match")
        frame_rate = playback.frame_rate_change(scene, settings)
        if frame_rate:
            wrapped_label(layout, context, frame_rate, icon="ERROR")
        column = layout.column()
        column.use_property_split = True
        column.prop(render, "filepath", text="Output")
        image_settings = render.image_settings
        if hasattr(image_settings, "media_type"):  # Blender 5.0 splits images and video
            column.prop(image_settings, "media_type")
        column.prop(image_settings, "file_format")
        if image_settings.file_format == "FFMPEG":
            column.prop(render.ffmpeg, "format", text="Container")
            column.prop(render.ffmpeg, "codec")
        if not dependencies.missing_required():  # else the main panel offers to install them
            preferences = addon_preferences()
            method = runtime.render_method(compute_device(preferences), weights_folder(preferences))
            layout.label(text=f"Renderer: {method}", icon="NODE" if "neural" in method else "DOT")
        row = layout.row()
        row.scale_y = 1.5
        row.operator("cinemagraph.render_animation", icon="RENDER_ANIMATION")


classes = (VIEW3D_PT_cinemagraph, VIEW3D_PT_cinemagraph_import, VIEW3D_PT_cinemagraph_motion,
           VIEW3D_PT_cinemagraph_camera, VIEW3D_PT_cinemagraph_render)
