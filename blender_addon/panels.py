"""The "Cinemagraph" tab of the 3D viewport's sidebar (N), in the order of the work:
import the photo, shape its motion, design the camera path, render."""
from __future__ import annotations

import os

import bpy

from . import dependencies, jobs, playback, runtime
from .engine import CinemagraphRenderEngine
from .ops_motion import hint_objects
from .preferences import addon_preferences, compute_device, weights_folder
from .properties import active_settings


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
        column.label(text=f"{len(settings.points.data.vertices):,} points", icon="POINTCLOUD_DATA")
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
        column.prop(settings, "loop_frames")
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
        layout.operator_menu_enum("cinemagraph.add_camera_path", "preset", text="Add Camera Path", icon="CAMERA_DATA")
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
        frames = scene.frame_end - scene.frame_start + 1
        if frames % settings.loop_frames:
            row = layout.row()
            row.label(text=f"{frames} frames: not whole loops of {settings.loop_frames}", icon="ERROR")
            row.operator("cinemagraph.match_frame_range", text="Match")
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
