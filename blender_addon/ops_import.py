"""Import a photo as a cinemagraph: prepare it with the core, then build its Blender objects."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper
from mathutils import Matrix, Vector

from ..cine_core import FULL_FRAME_MM, MAX_LAYERS, MAX_REACH, PHOTO_EXTENSIONS
from . import cache, conversion, motion_edits, playback, runtime, scene_depth, scene_objects
from .errors import AddonError
from .jobs import JobOperator
from .preferences import addon_preferences, compute_device, weights_folder
from .properties import RELATIVE_PATH

PHOTO_GLOB = ";".join(f"*{extension}" for extension in PHOTO_EXTENSIONS)
#: Width of the pixel filter Set Up Scene gives Cycles and EEVEE (see docs/blender.md for the
#: measurement: 1.5 px, the default, gives 29 dB against the photo, 0.01 px 43 dB).
PHOTO_FILTER_PIXELS = 0.01
#: Where Set Up Scene renders to when the output path is Blender's default: beside the .blend.
DEFAULT_OUTPUT = "//render/"
#: The default Nearest Distance: a landscape's far field (50 times the nearest depth, where
#: depth conditioning clips the sky) then lies within 87 m of the source camera even in the
#: image's corners, inside the 100 m clip end of Blender's default camera.
NEAREST_DISTANCE = 1.5
#: Cameras are made to see this much farther than the cinemagraph's farthest point.
CLIP_MARGIN = 1.05


def sidecar_annotation(photo: str) -> str | None:
    """The labelme annotation saved beside a photo: ``<stem>.json`` (labelme's own name)."""
    candidate = os.path.splitext(photo)[0] + ".json"
    return candidate if os.path.isfile(candidate) else None


@dataclass
class ImportResult:
    name: str
    cache_path: str
    imported: object  # the core's ImportedScene: scene, animated cloud, annotation, scale, safe radius
    points: object  # the core's SurfaceVertices of the scene
    placement: Matrix | None  # world matrix of the source camera; None: at the 3D cursor

    @property
    def scene(self):
        return self.imported.scene

    @property
    def cloud(self):
        return self.imported.cloud

    @property
    def scale(self) -> float:
        return self.imported.scale

    @property
    def safe_radius(self) -> float:
        return self.imported.safe_radius  # core units: how far the camera may move

    @property
    def found_motion(self) -> str:
        return self.imported.found_motion

    @property
    def mask(self) -> np.ndarray | None:
        return self.imported.annotation.mask  # the moving region at working size

    @property
    def hints(self) -> list:
        return self.imported.annotation.hints  # the arrows at working size


#: The kinds of data an import creates; a failed import removes whatever new blocks they gained.
_CREATED_KINDS = ("objects", "meshes", "cameras", "images", "collections", "materials")


def _snapshot() -> dict[str, set[int]]:
    return {kind: {block.as_pointer() for block in getattr(bpy.data, kind)} for kind in _CREATED_KINDS}


def _remove_created(before: dict[str, set[int]]) -> None:
    for kind in _CREATED_KINDS:  # objects first: they use the other blocks
        data = getattr(bpy.data, kind)
        for block in [b for b in data if b.as_pointer() not in before[kind]]:
            data.remove(block)


def build_cinemagraph(context, result: ImportResult, loop_frames: int, photo_path: str,
                      set_up_scene: bool) -> tuple[bpy.types.Collection, list[str]]:
    """Create the collection with the surface, source camera, safe zone, mask and hints; also
    returns what the import changed beyond it, one sentence each, for the report.

    Everything is created first and linked into the scene last; if anything fails, every block
    created on the way is removed again, so a failed import leaves the file as it was.
    """
    scene = result.scene
    k = scene.intrinsics
    before = _snapshot()
    notes = []
    others = bool(playback.cinemagraphs_in(context.scene))
    try:
        collection = bpy.data.collections.new(result.name)
        points = scene_objects.create_surface(result.name, result.points)
        camera_world = result.placement
        if camera_world is None:
            cursor = Matrix.Translation(context.scene.cursor.location) @ conversion.LOOKING_ALONG_Y
            camera_world, placed = clear_of_scene(context.scene, cursor, result)
            notes += [placed] if placed else []
        points.matrix_world = conversion.points_world_for_camera(camera_world, result.scale)
        far = float(scene.depth.max())
        camera = scene_objects.create_source_camera(result.name, k, points, result.scale, far)
        zone = scene_objects.create_safe_zone(result.name, points, result.safe_radius)
        hints = bpy.data.collections.new(f"{result.name} Hints")
        collection.objects.link(points)
        collection.objects.link(camera)
        collection.objects.link(zone)
        collection.children.link(hints)
        settings = collection.cinemagraph
        settings.points, settings.source_camera, settings.hints = points, camera, hints
        settings.cache_path = cache.stored(result.cache_path)
        settings.stages = json.dumps(result.scene.info.get("stages", {}))
        settings.photo_path = photo_path
        settings.width, settings.height = k.width, k.height
        settings.pixel_intrinsics = (k.fx, k.fy, k.cx, k.cy)
        settings.loop_frames = loop_frames
        settings.loop_start = context.scene.frame_start
        settings.frame_rate = playback.scene_fps(context.scene)
        settings.nearest_depth = float(scene.depth.min())
        settings.safe_zone = zone
        if result.mask is not None:
            settings.mask = scene_objects.create_mask_image(result.name, result.mask)
        depth = scene.depth.numpy()
        for index, hint in enumerate(result.hints):
            scene_objects.create_hint(f"{result.name} Hint {index + 1}", hints, points, k, hint.start, hint.end,
                                      scene_objects.hint_depth(depth, hint.start))
        context.scene.collection.children.link(collection)
        context.view_layer.update()  # the arrows' world matrices, for what the motion was made from
        settings.applied_motion = json.dumps(motion_edits.motion_inputs(settings))
    except BaseException:
        _remove_created(before)
        raise
    context.scene.cinemagraph.active = collection
    notes += see_far_enough(context.scene, result)
    if set_up_scene:
        set_up_for_cinemagraph(context.scene, settings, output=not others)
        if others:
            render = context.scene.render
            notes.append(f"kept the scene's output size ({render.resolution_x}x{render.resolution_y}) and "
                         f"frame range")
    for obj in context.view_layer.objects.selected:
        obj.select_set(False)
    points.select_set(True)
    context.view_layer.objects.active = points
    return collection, notes


def _listed(names: list[str], most: int = 3) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def see_far_enough(scene, result: ImportResult) -> list[str]:
    """Make the scene's own cameras (not the cinemagraphs') reach the cinemagraph's farthest
    point from its source camera, its sky included (Blender's default camera stops at 100 m);
    a sentence for the report when any clip end grew. (The hidden surface the layers keep behind
    the sky is not counted: the sky in front of it hides it.)"""
    k = result.scene.intrinsics
    corners = [conversion.lift_point(u, v, 1.0, k).length for u in (0, k.width - 1) for v in (0, k.height - 1)]
    far = float(result.scene.depth.max()) * max(corners) * result.scale * CLIP_MARGIN
    cinemagraphs = [c for c in bpy.data.collections if c.cinemagraph.cache_path]
    owned = {c.cinemagraph.source_camera for c in cinemagraphs} | {obj for c in cinemagraphs for obj in c.all_objects}
    extended = []
    for camera in {obj.data for obj in scene.objects if obj.type == "CAMERA" and obj not in owned}:
        if camera.clip_end < far:
            camera.clip_end = far
            extended.append(camera.name)
    if not extended:
        return []
    return [f"clip end of {_listed(sorted(extended))} set to {far:.3g} m to see its farthest point"]


def _world_box(corners) -> tuple[np.ndarray, np.ndarray]:
    corners = np.asarray(corners, np.float64).reshape(-1, 3)
    return corners.min(axis=0), corners.max(axis=0)


def _overlapping(boxes: dict, low: np.ndarray, high: np.ndarray) -> list[str]:
    return sorted(name for name, (b_low, b_high) in boxes.items() if np.all(b_low <= high) and np.all(low <= b_high))


def clear_of_scene(scene, camera_world: Matrix, result: "ImportResult") -> tuple[Matrix, str | None]:
    """``camera_world`` moved until the cinemagraph's box (its surface and its source camera)
    overlaps no object already in the scene: the source camera never starts inside the default
    cube, it does not see the artist's objects nor another cinemagraph, and no other camera
    sees it (a camera's view near its source camera lies inside that box). Second: what moved
    where, for the report (None: not moved).

    The least move that composes: forward along the camera's view (+Y) just past the objects,
    which then stand behind the source camera, a few metres from where they can enter the
    picture. Where another cinemagraph is in the way (moving forward would put this one in its
    view) or the forward move would overlap something else, along +X past everything instead.
    """
    points_world = np.array(conversion.points_world_for_camera(camera_world, result.scale))
    positions = result.points.positions
    corners = np.concatenate([positions.min(axis=0)[None], positions.max(axis=0)[None], np.zeros((1, 3))])
    corners = np.array([[x, y, z] for x in corners[:, 0] for y in corners[:, 1] for z in corners[:, 2]])
    low, high = _world_box(corners @ points_world[:3, :3].T + points_world[:3, 3])
    surfaces = {c.cinemagraph.points.name for c in playback.cinemagraphs_in(scene)}
    boxes = {obj.name: _world_box([obj.matrix_world @ Vector(c) for c in obj.bound_box])
             for obj in scene.objects if obj.type not in {"CAMERA", "LIGHT", "EMPTY", "SPEAKER", "LIGHT_PROBE"}}
    overlapping = _overlapping(boxes, low, high)
    if not overlapping:
        return camera_world, None
    position = np.array(camera_world.translation)
    if not surfaces & set(overlapping):
        # Forward (+Y, the camera's view) until every overlapping object is behind the camera,
        # with room for a preset path's camera to move (MAX_REACH of the nearest distance).
        room = MAX_REACH * result.scale * float(result.scene.depth.min())
        shift = max(float(boxes[name][1][1]) for name in overlapping) + room - float(position[1])
        moved = np.array([0.0, shift, 0.0])
        if not _overlapping(boxes, low + moved, high + moved):
            return (Matrix.Translation(moved) @ camera_world,
                    f"placed {shift:.3g} m along +Y (its view) from the 3D cursor, so that {_listed(overlapping)} "
                    f"{'is' if len(overlapping) == 1 else 'are'} behind its source camera: move "
                    f"{'it' if len(overlapping) == 1 else 'them'} forward (+Y) into the picture")
    margin = 0.1 * float(high[0] - low[0])
    shift = max(float(b[1][0]) for b in boxes.values()) + margin - float(low[0])
    return (Matrix.Translation((shift, 0.0, 0.0)) @ camera_world,
            f"placed {shift:.3g} m along +X from the 3D cursor, out of the view of {_listed(overlapping)}")


def set_up_for_cinemagraph(scene, settings, output: bool = True) -> None:
    """Render the cinemagraph as imported: its engine, the source camera, and the Standard view
    transform (so the photo's colours come out unchanged); with ``output`` also the photo's
    size and one loop as the frame range."""
    render = scene.render
    render.engine = "CINEMAGRAPH"
    if output:
        render.resolution_x, render.resolution_y = settings.width, settings.height
        render.resolution_percentage = 100
        render.pixel_aspect_x = render.pixel_aspect_y = 1.0
        scene.frame_start = settings.loop_start
        scene.frame_end = settings.loop_start + settings.loop_frames - 1
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0
    scene.camera = settings.source_camera
    # Cycles and EEVEE see the surface: a pixel filter narrower than a pixel keeps the photo as
    # sharp as it is (the default 1.5 px filter blurs it to about 29 dB).
    render.filter_size = PHOTO_FILTER_PIXELS
    if hasattr(scene, "cycles"):
        scene.cycles.filter_width = PHOTO_FILTER_PIXELS
    if not render.filepath or render.filepath in {"/tmp/", "/tmp\\", "//"}:
        render.filepath = DEFAULT_OUTPUT


class CINEMAGRAPH_OT_import_image(JobOperator, bpy.types.Operator, ImportHelper):
    """Import a photo as a cinemagraph: its depth, a layered surface and the camera that took it"""

    bl_idname = "cinemagraph.import_image"
    bl_label = "Import Photo as Cinemagraph"
    bl_options = {"REGISTER", "UNDO"}
    job_title = "Importing photo"

    filter_glob: StringProperty(default=PHOTO_GLOB, options={"HIDDEN"})
    size_limit: IntProperty(
        name="Size Limit", default=1024, min=0, soft_min=128, soft_max=4096, subtype="PIXEL",
        description="Shrink the photo so its long side has at most this many pixels (0: full size). "
                    "Larger is sharper; preparing, playback and rendering take longer")
    annotation_file: StringProperty(
        name="Motion File", subtype="FILE_PATH", options=RELATIVE_PATH,
        description="A labelme annotation or a JSON of arrows: the moving region and hint arrows. "
                    "Empty: the <photo name>.json beside the photo, if there is one")
    depth_source: EnumProperty(
        name="Depth", default="ESTIMATE",
        items=[("ESTIMATE", "Estimate", "Estimate the depth from the photo (landscapes: ground, haze and sky)"),
               ("FILE", "Depth Map", "Read a depth or disparity map (PFM, 16-bit PNG, NPY, EXR)"),
               ("MESHES", "Scene Meshes", "The depth of the scene's meshes seen from a camera: model rough "
                                          "proxy geometry over the photo, then import it through that camera")])
    depth_file: StringProperty(name="Depth Map", subtype="FILE_PATH", options=RELATIVE_PATH,
                               description="The depth or disparity map of the photo")
    depth_kind: EnumProperty(
        name="Values", default="DISPARITY",
        items=[("DISPARITY", "Disparity", "Larger values are nearer (most estimators' output)"),
               ("DEPTH", "Depth", "Larger values are farther (distances)")])
    depth_camera: StringProperty(
        name="Camera", description="The camera whose view the photo shows (default: the scene camera)")
    layers: IntProperty(name="Layers", default=3, min=1, max=MAX_LAYERS,
                        description="At most this many depth layers; hidden background is filled in behind each")
    focal_length: FloatProperty(
        name="Focal Length", default=FULL_FRAME_MM, min=1.0, soft_max=300.0, subtype="DISTANCE_CAMERA", unit="CAMERA",
        description="The photo's focal length as on a 36 mm wide sensor (36 mm: about 53 degrees across)")
    scale: FloatProperty(
        name="Nearest Distance", default=NEAREST_DISTANCE, min=1e-4, soft_max=100.0, subtype="DISTANCE", unit="LENGTH",
        description="Distance from the camera to the nearest point of the photo: the size of the cinemagraph")
    loop_frames: IntProperty(name="Loop Length", default=60, min=2, soft_max=600,
                             description="Frames in one loop of the motion")
    set_up_scene: BoolProperty(
        name="Set Up Scene", default=True,
        description="Render with the Cinemagraph engine at the photo's size over one loop through the source "
                    "camera, with the Standard view transform so colours match the photo")

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        layout.prop(self, "size_limit")
        layout.prop(self, "annotation_file")
        box = layout.box()
        box.prop(self, "depth_source")
        if self.depth_source == "FILE":
            box.prop(self, "depth_file")
            box.prop(self, "depth_kind")
        elif self.depth_source == "MESHES":
            box.prop_search(self, "depth_camera", context.scene, "objects", icon="CAMERA_DATA")
        box.prop(self, "layers")
        if self.depth_source != "MESHES":
            box.prop(self, "focal_length")
            box.prop(self, "scale")
        layout.prop(self, "loop_frames")
        layout.prop(self, "set_up_scene")

    def invoke(self, context, event):
        self.in_background = True
        return ImportHelper.invoke(self, context, event)

    def start_job(self, context):
        cine_core = runtime.core()
        photo = os.path.normpath(bpy.path.abspath(self.filepath))
        if not os.path.isfile(photo):
            raise AddonError(f"Choose a photo to import ({self.filepath or 'no file chosen'} is not a file)")
        annotation = bpy.path.abspath(self.annotation_file) if self.annotation_file else sidecar_annotation(photo)
        if annotation and not os.path.isfile(annotation):
            raise AddonError(f"The motion file {self.annotation_file} does not exist")
        inputs = cine_core.SceneInputs(photo=photo, annotation=annotation)
        preferences = addon_preferences()
        options = cine_core.PrepareOptions(max_side=self.size_limit or None, max_layers=self.layers,
                                           require_motion=False, ckpts_dir=weights_folder(preferences),
                                           device=compute_device(preferences))
        # Refuse before any work; the import animates the loop for the viewport (every step kept).
        cine_core.check_photo_memory(photo, options.max_side, self.loop_frames, playback=True)
        name = os.path.splitext(os.path.basename(photo))[0]
        if name.lower() == "image":  # a scene folder holding image.png + image.json: use its name
            name = os.path.basename(os.path.dirname(photo)) or name
        geometry = placement = None
        if self.depth_source == "FILE":
            options.depth_kind = self.depth_kind.lower()
            if not self.depth_file or not os.path.isfile(bpy.path.abspath(self.depth_file)):
                raise AddonError("Choose the depth map file of the photo")
            inputs.depth = bpy.path.abspath(self.depth_file)
        elif self.depth_source == "MESHES":
            geometry, placement = self._scene_geometry(context, cine_core, photo, options.max_side)
        cache_path = cache.new_file(name)
        loop_frames, lens_mm, nearest = self.loop_frames, self.focal_length, self.scale
        # Detected motion comes back as the annotation, which becomes editable objects.
        detect = preferences.detect_motion_on_import

        def work(progress, cancel):
            imported = cine_core.import_photo(
                inputs, options, loop_frames, lens_mm=lens_mm, nearest=nearest, geometry=geometry,
                detect_motion=detect, progress=cine_core.scaled_progress(progress, 0.0, 0.9), cancel=cancel)
            surface = cine_core.surface_vertices(imported.scene, imported.cloud)
            progress("save", 0.9)
            imported.scene.save(cache_path)  # last: nothing after it can fail and leave the file behind
            return ImportResult(name, cache_path, imported, surface, placement)

        return work

    def _scene_geometry(self, context, cine_core, photo, max_side):
        """Main thread part of depth from meshes: the scene's triangles seen by the chosen camera,
        and that camera's world matrix (where the cinemagraph is placed)."""
        name = self.depth_camera
        camera = context.scene.objects.get(name) if name else context.scene.camera
        if camera is None or camera.type != "CAMERA":
            raise AddonError("Depth from scene meshes needs a camera: choose the camera whose view matches the photo")
        if abs(camera.data.shift_x) > 1e-6 or abs(camera.data.shift_y) > 1e-6:
            raise AddonError(f"Set the lens shift of {camera.name} to 0: the photo's camera looks through "
                             f"the image centre")
        # The header gives the working size: the photo itself is decoded once, in the job.
        header = cine_core.read_photo_header(photo)
        width, height = cine_core.working_size(*header.upright_size, max_side)
        depsgraph = context.evaluated_depsgraph_get()
        evaluated = camera.evaluated_get(depsgraph)
        k = conversion.intrinsics_from_projection(
            evaluated.calc_matrix_camera(depsgraph, x=width, y=height), width, height)
        excluded = {c.cinemagraph.points.name for c in playback.cinemagraphs_in(context.scene)}
        camera_world = evaluated.matrix_world.copy()
        return scene_depth.scene_geometry(depsgraph, excluded, camera_world, k), camera_world

    def finish_job(self, context, result: ImportResult):
        _, notes = build_cinemagraph(context, result, self.loop_frames,
                                     cache.stored(bpy.path.abspath(self.filepath)), self.set_up_scene)
        runtime.remember(runtime.scene_key(result.cache_path), result.scene)
        runtime.remember(runtime.cloud_key(result.cache_path, self.loop_frames), result.cloud)
        playback.refresh(context.scene, wait=True)
        show_point_colours(context)
        width, height = result.scene.size
        self.report({"INFO"}, f"Imported {result.name}: {width}x{height} pixels, {result.points.num_surface:,} "
                              f"points in {len(result.scene.layered.layers)} layer(s), "
                              f"depth: {result.scene.info['stages']['depth']}"
                              + (f"; motion: {result.found_motion}" if result.found_motion else "")
                              + "".join(f"; {note}" for note in notes))
        return {"FINISHED"}

    def discard_job(self, result: ImportResult) -> None:
        if os.path.isfile(result.cache_path):
            os.remove(result.cache_path)


def show_point_colours(context) -> None:
    """Solid shading draws the surface in one grey: switch this screen's 3D viewports that use
    it to Material Preview, which shows the photo's colours."""
    if bpy.app.background or context.screen is None:
        return
    for area in context.screen.areas:
        if area.type == "VIEW_3D" and area.spaces.active.shading.type == "SOLID":
            area.spaces.active.shading.type = "MATERIAL"


def menu_import(self, context):
    self.layout.operator(CINEMAGRAPH_OT_import_image.bl_idname, text="Photo as Cinemagraph")


classes = (CINEMAGRAPH_OT_import_image,)
