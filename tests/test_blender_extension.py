"""The Blender extension with the real ``bpy`` module (headless Blender), end to end.

The zip is built with Blender's own extension builder, installed with
``bpy.ops.extensions.package_install_files`` into a throw-away Blender user folder and enabled,
exactly as a user installs it. ``bpy`` can be imported only once per process and keeps global
state, so every scenario runs in a fresh process: this file, run as a script with the
scenario's name. The scenario prints its measurements as JSON; the tests here assert on them.
"""
from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADDON = "bl_ext.user_default.cinemagraph"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="needs the bpy module")


# --------------------------------------------------------------------------------------------
# The pytest side
# --------------------------------------------------------------------------------------------

def build_extension():
    """The ``tools/build_extension.py`` module."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import build_extension
    finally:
        sys.path.pop(0)
    return build_extension


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory) -> str:
    return build_extension().build(str(tmp_path_factory.mktemp("dist")))


@pytest.fixture
def photo_dir(tmp_path) -> str:
    from conftest import write_scene

    return write_scene(str(tmp_path / "scene"))


def run_scenario(name: str, tmp_path, extension_zip: str, timeout: float = 240, script: str = __file__,
                 **arguments) -> dict:
    """Run ``scenario_<name>`` of ``script`` (a test file run as a script) in a new process
    with its own Blender user folder."""
    arguments = dict(arguments, zip=extension_zip, tmp=str(tmp_path))
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender-user"), OMP_WAIT_POLICY="PASSIVE",
               PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, os.path.abspath(script), name, json.dumps(arguments)],
                            capture_output=True, text=True, timeout=timeout, env=env, cwd=str(tmp_path))
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, f"scenario {name} failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return dict(json.loads(lines[-1][len("RESULT "):]), stdout=result.stdout)


#: What the extension runs: these root files and every module of these packages (the manifest
#: goes in by Blender's rule; install_deps.py is what Install Dependencies runs).
SHIPPED_FILES = {"blender_manifest.toml", "__init__.py", "install_deps.py"}
SHIPPED_PACKAGES = ("blender_addon", "cine_core")
#: Where the code the zip holds starts running: the add-on (Blender imports the root package) and
#: the core's command line (``python -m cine_core``).
ENTRY_POINTS = ("__init__.py", "cine_core/__main__.py")


def package_files(root: str) -> set[str]:
    """Files of :data:`SHIPPED_PACKAGES` under ``root`` ("/"-separated), without caches and
    hidden files."""
    found = set()
    for package in SHIPPED_PACKAGES:
        for folder, folders, files in os.walk(os.path.join(root, package)):
            folders[:] = [f for f in folders if f != "__pycache__" and not f.startswith(".")]
            relative = os.path.relpath(folder, root).replace(os.sep, "/")
            found |= {f"{relative}/{f}" for f in files if not f.startswith(".") and not f.endswith(".pyc")}
    return found


def imported_files(root: str, entry_points) -> set[str]:
    """The ``.py`` files under ``root`` that ``entry_points`` import, directly or not, through
    relative imports (the only kind the add-on and the core use for their own modules) or the
    core's table of public names (``cine_core._API``, imported on first use)."""
    def module_file(module: str) -> str | None:
        path = module.replace(".", "/")
        for candidate in (path + ".py", path + "/__init__.py"):
            if os.path.isfile(os.path.join(root, candidate)):
                return candidate
        return None

    # Module names: "" is the root package (the extension), "cine_core.__main__" a module in it.
    todo = [path.removesuffix(".py").removesuffix("__init__").rstrip("/").replace("/", ".") for path in entry_points]
    found: dict[str, str] = {}
    while todo:
        module = todo.pop()
        path = "__init__.py" if module == "" else module_file(module)
        if path is None or module in found:
            continue
        found[module] = path
        package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
        with open(os.path.join(root, path)) as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                parts = package.split(".") if package else []
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
                # ``from . import x`` may name a module; so may each package on the way to ``base``.
                todo += [".".join(base.split(".")[:i]) for i in range(1, base.count(".") + 2) if base]
                todo += [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
            elif isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["_API"]:
                # The core's public names, each imported on first use from the module it names.
                todo += [package + value.partition(":")[0] for value in ast.literal_eval(node.value).values()]
    return set(found.values())


def test_zip_holds_exactly_what_the_extension_runs(extension_zip):
    with zipfile.ZipFile(extension_zip) as archive:
        names = set(archive.namelist())
        manifest = archive.read("blender_manifest.toml").decode()
    assert names == SHIPPED_FILES | package_files(ROOT)
    assert "blender_addon/engine.py" in names and "cine_core/pipeline/run.py" in names
    # No module that nothing runs (test helpers, leftovers): each is imported from an entry point,
    # or is the table of weight files install_deps.py reads by path.
    assert {n for n in names if n.endswith(".py")} - {"install_deps.py"} == \
        imported_files(ROOT, ENTRY_POINTS) | {"cine_core/nets/weight_files.py"}
    assert 'id = "cinemagraph"' in manifest and 'blender_version_min = "4.2.0"' in manifest


def test_the_manifest_rule_keeps_the_rest_of_a_checkout_out(tmp_path):
    """A checkout full of other things (tests, docs, weights, videos, caches, a virtual
    environment, editor files) gives the same zip: the manifest's rule alone decides."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in SHIPPED_FILES:
        shutil.copy2(os.path.join(ROOT, name), checkout / name)
    for package in SHIPPED_PACKAGES:
        shutil.copytree(os.path.join(ROOT, package), checkout / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
    expected = SHIPPED_FILES | package_files(str(checkout))
    junk = ["README.md", "lake-falls.mp4", "tests/test_x.py", "tests/synthetic_weights.py", "docs/models.md",
            "eval/run.py", "bench/run.py", "tools/build_extension.py", "samples/lake-falls/image.png",
            "ckpts/model_150000.pth", "dist/cinemagraph-0.1.0.zip", ".venv/lib/site.py", ".gitignore",
            "cine_core/__pycache__/pipeline.cpython-311.pyc", "cine_core/nets/__pycache__/dpt.cpython-311.pyc",
            "blender_addon/.engine.py.swp", "cine_core/.pytest_cache/v"]
    for name in junk:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_bytes(b"not shipped")
    with zipfile.ZipFile(build_extension().build(str(tmp_path / "dist"), str(checkout))) as archive:
        assert set(archive.namelist()) == expected


def test_import_render_save_reopen_and_render_elsewhere(tmp_path, extension_zip, photo_dir):
    r = run_scenario("end_to_end", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"))
    assert r["enabled"] and r["import"] == ["FINISHED"]
    assert {"cinemagraph.import_image", "cinemagraph.update_motion", "cinemagraph.draw_hints",
            "cinemagraph.paint_mask", "cinemagraph.render_animation"} <= set(r["panel_operators"])
    # The panels say which method prepared each stage and which renderer F12 will use.
    labels = r["panel_labels"]
    for stage in ("Depth: ", "Layers: classical", "Flow: hint interpolation"):
        assert any(text.startswith(stage) for text in labels), (stage, labels)
    assert "Renderer: classical (splatting + soft blend)" in labels
    # Objects: one collection with the layered surface (a vertex per layer pixel, triangles
    # between neighbours, an emission material of the vertex colours), the source camera as its
    # child, the labelme motion as a mask image and one hint arrow.
    assert r["points"] >= 96 * 64 and set(r["attributes"]) >= {"Color", "photo_pixel"}
    assert r["triangles"] > 2 * 90 * 60
    assert r["material_uses_color"]
    assert r["camera"]["lens"] == pytest.approx(36.0) and r["camera"]["sensor_fit"] == "HORIZONTAL"
    assert r["camera"]["parent_is_points"] and r["camera"]["looks_along_y"]
    assert r["camera"]["intrinsics"] == pytest.approx([96.0, 96.0, 47.5, 31.5], abs=1e-3)
    assert r["hint_pixels"] == pytest.approx([20, 40, 50, 40], abs=1e-3)
    assert r["mask_fraction"] == pytest.approx((70 * 30) / (96 * 64), rel=0.15)
    # The source camera at time 0 reproduces the photo; later frames move inside the region.
    assert r["psnr_source_frame0"] >= 35.0
    assert r["moving_change"] > 10 * max(r["still_change"], 0.5)
    # The camera path: keyframes that loop, starting at the source camera's pose.
    assert r["path"]["keys"] >= 3 and r["path"]["cyclic"] and r["path"]["is_scene_camera"]
    assert r["path"]["start_offset"] < 1e-4 and r["path"]["mid_offset"] > 0.01
    assert r["path_frames_differ"]
    # Playback moves the points of the moving region only.
    assert r["playback"]["moved"] > 0 and r["playback"]["static_moved"] == 0
    assert r["playback"]["depth_change"] > 1e-3 and r["playback"]["depth_error"] < 1e-4
    # Saved beside the .blend, found again after reopening, same pixels; another "machine"
    # (a fresh process on a copied folder) renders the animation with the same pixels.
    assert r["cache_path"].startswith("//cinemagraph_scene/") and r["cache_exists"]
    assert r["reopened_max_level"] <= 1 and r["reopened_share_differing"] <= 0.01, r
    assert r["elsewhere"]["frames_equal"] and r["elsewhere"]["video_bytes"] > 0


def test_motion_editing(tmp_path, extension_zip, photo_dir):
    r = run_scenario("motion_editing", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"))
    # Update Motion writes a new prepared scene (the old one stays for undo) and moves other points.
    assert r["new_cache"] and r["old_cache_kept"]
    assert r["update_changed_render"] and r["undo_renders_as_before"]
    assert r["moving_after_selection"] < r["moving_before"]
    assert r["mask_from_selection_fraction"] == pytest.approx(r["selected_pixel_fraction"], abs=0.01)
    assert r["moving_pixels_shown"] and r["pending_exact"] == ["Exact Region on"] and r["exact_keeps_region"]
    assert r["loaded"] == {"hints": 1, "mask": True}
    assert r["save_copy_keeps_session_path"]
    assert r["replaced"] == {"saved_kept": True, "older_deleted": True, "files": 3}
    assert r["cleaned"]["after_save"] == r["cleaned"]["after"] == [r["cleaned"]["current"]]
    assert r["no_motion_error"].startswith("Nothing moves yet")


def test_detect_motion_on_import_and_by_button(tmp_path, extension_zip):
    import cv2
    from test_motion_detect import landscape

    photo = str(tmp_path / "landscape.png")
    cv2.imwrite(photo, landscape()[:, :, ::-1])
    r = run_scenario("detect_motion", tmp_path, extension_zip, photo=photo)
    # Import without a motion file: the detection fills in the region and the arrows as objects.
    imported = r["imported"]
    assert imported["hints"] >= 4
    assert imported["sky_masked"] > 0.9 and imported["water_masked"] > 0.8 and imported["ground_masked"] == 0
    assert imported["flow"] == "hint interpolation" and imported["moving"] > 0.5
    assert imported["arrows_sideways_in_sky"] and imported["arrows_down_in_water"]
    # The button is a background job: cancelled, it changes nothing.
    assert r["cancelled"] == {"result": ["CANCELLED"], "hints": 0, "mask": False}
    # The button after clearing everything: the same region and arrows again, then Update Motion.
    assert r["button"]["result"] == ["FINISHED"] and r["button"]["hints"] == imported["hints"]
    assert r["button"]["same_mask"] and r["button"]["updated_moving"] == pytest.approx(imported["moving"], abs=0.02)
    # Finding the same region and arrows again is no edit.
    assert r["button"]["pending_after_same"] == []
    # With the preference off a photo alone imports as a still.
    assert r["preference_off"] == {"hints": 0, "mask": False, "moving": 0.0}


def test_failed_and_cancelled_imports_leave_the_file_unchanged(tmp_path, extension_zip, photo_dir):
    r = run_scenario("failures", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"))
    assert "not a file" in r["missing_file"]
    assert "damaged or not an image" in r["damaged_file"]
    assert r["cancelled"] == ["CANCELLED"] and r["cancelled_after_save"] == ["CANCELLED"]
    assert "Out of memory; import the photo with a smaller Size Limit" in r["out_of_memory"]
    assert r["datablocks_before"] == r["datablocks_after"]
    assert r["cache_files_left"] == []
    assert "perspective" in r["ortho_render"]


def test_without_dependencies_the_addon_offers_to_install_them(tmp_path, extension_zip, photo_dir):
    r = run_scenario("missing_dependencies", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"))
    assert r["enabled"] and r["missing"] == ["PyTorch"]
    assert "cinemagraph.install_dependencies" in r["preferences_operators"]
    assert "cinemagraph.install_dependencies" in r["panel_operators"]
    assert "Install Dependencies" in r["import_error"]
    assert r["install_command"][1].endswith("install_deps.py") and r["install_command"][2] == "--target"
    assert "site-packages" in r["install_command"][3]
    assert "no matching distribution" in r["failed_install"].lower()
    assert r["weights"] == ["FINISHED"] and r["weights_progress"] > 0.4


def test_work_off_the_main_thread(tmp_path, extension_zip, photo_dir):
    r = run_scenario("threads", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"))
    # A job cancelled from the UI thread stops at the core's next progress call.
    assert r["job_cancelled"] and r["job_stopped_early"]
    # Playback in the UI computes a new loop's motion in a thread, and shows it once it is ready.
    assert r["rest_when_off"]
    assert r["first_request"] is None and r["timer_registered"]
    assert r["moved_after_poll"] > 0
    first, reported, retried = r["damaged_requests"]
    assert first is None and "not a readable prepared scene" in reported and retried is None
    assert r["loads_before_report"] == 1  # the failed load was reported, not silently retried
    assert r["drag_requests"] == [None, None]
    assert r["integrations_while_dragging"] == [12] and r["integrations_after"] == [12, 13]


def test_depth_from_scene_meshes(tmp_path, extension_zip, photo_dir):
    r = run_scenario("depth_from_meshes", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"))
    assert r["import"] == ["FINISHED"] and r["same_camera"]
    # The near box is nearer than the far wall, and both points lie near the real surfaces.
    assert r["box_distance"] == pytest.approx(4.0, rel=0.1)
    assert r["wall_distance"] == pytest.approx(10.0, rel=0.1)


def test_an_import_decodes_the_photo_once_and_the_core_prepares_and_animates(tmp_path, extension_zip, photo_dir):
    r = run_scenario("decoded_once", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"))
    assert r["imports"] == [["FINISHED"], ["FINISHED"]] and r["update"] == ["FINISHED"]
    # Estimated depth and depth from meshes (which needs the working size before the job): one
    # decoding of the photo each.
    assert r["decodings"] == {"estimate": 1, "meshes": 1}
    # The import is one call of the core's public API (photo, annotation, detection, depth, scene,
    # animated points, scale, safe radius), and so is Update Motion.
    assert r["core_calls"] == ["import_photo", "import_photo", "with_motion_animated"]


def test_depth_from_scene_meshes_matches_blenders_ray_cast(tmp_path, extension_zip):
    r = run_scenario("mesh_depth_against_ray_cast", tmp_path, extension_zip)
    # Every pixel centre away from silhouettes sees the first surface Blender's own ray cast
    # hits: the subdivided sphere as its modifier shapes it, the floor reaching behind the
    # camera, nothing of the hidden object; the sky stays 0.
    assert r["hidden_seen_by_ray_cast"] is False
    assert r["interior_pixels"] > 0.8 * r["pixels"] and r["sky_pixels"] > 100
    assert r["interior_hit_mismatches"] == 0
    assert r["interior_max_relative_error"] < 1e-5
    assert r["silhouette_hit_mismatches"] <= 0.01 * r["pixels"]
    assert r["errors"]["looking_up"].startswith("no triangle of the geometry is in view of the camera")
    assert r["errors"]["all_excluded"].startswith("Depth from scene meshes needs visible meshes")


def test_published_decoder_renders_frames(tmp_path, extension_zip, photo_dir):
    from test_neural_backend import write_official_files

    downloaded = str(tmp_path / "downloaded")
    write_official_files(downloaded, ("model_150000.pth",))  # random weights, the published layout
    r = run_scenario("published_decoder", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"),
                     weights=str(tmp_path / "weights"), downloaded=downloaded)
    assert r["import"] == ["FINISHED"]
    # Before the weights arrive: splatting, which reproduces the photo at t = 0.
    assert "Renderer: classical (splatting + soft blend)" in r["labels_before"] and r["psnr_before"] > 40
    # Once the file is in the weights folder, the panel and the very next render use the decoder:
    # a full frame (random weights, so any picture), far from the photo.
    assert "Renderer: neural: feature net + image decoder (model_150000.pth)" in r["labels_after"]
    assert r["shape"] == [64, 96, 3] and r["spread"] > 0
    assert r["psnr_after"] < 30


def test_cycles_shows_the_surface_and_composites_by_depth(tmp_path, extension_zip, photo_dir):
    r = run_scenario("blender_renderers", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"),
                     depth=os.path.join(photo_dir, "depth.npy"))
    # From the source camera at loop time 0, Cycles reproduces the photo (Set Up Scene's filter).
    assert r["cycles_source_psnr"] >= 35.0
    # Render Animation shows the motion, frame for frame as the timeline shows it.
    assert r["animation_equals_still"] and r["animation_moves"] > 1.0
    # From a camera moved within the safe zone: no pixel of the world shows through, and Cycles
    # agrees with the Cinemagraph engine.
    assert r["moved_world_pixels"] == 0 and r["moved_psnr_vs_engine"] >= 25.0
    # An object between the far and the near layer: hidden behind the near one, in front of the far one.
    assert r["object_far_rows_red"] > 0.95 and r["object_near_rows_red"] < 0.02
    assert r["object_near_rows_psnr"] >= 30.0


def test_cycles_cross_fades_the_two_clouds_without_a_jump(tmp_path, extension_zip, photo_dir):
    r = run_scenario("crossfade", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"),
                     depth=os.path.join(photo_dir, "depth.npy"))
    steps, mid = r["steps"], r["mid"]
    # Mean change between consecutive loop frames (the last step is frame N - 1 to frame N, which
    # shows frame 0 again): the step into mid-loop, where the render hands over from the forward
    # to the backward cloud, is no larger than the steps elsewhere.
    assert min(steps) > 0.1 and max(steps) > 1.0, steps  # every frame moves
    assert steps[mid] <= max(steps[:mid] + steps[mid + 1:]), steps
    # t = 0 is the photo; t = 1 (frame N) is exactly frame 0.
    assert r["psnr_t0"] >= 35.0
    assert r["frame_n_equals_frame_0"]
    # Cycles composites the two clouds with the render's weights, (1 - t) forward + t backward.
    assert r["blend_psnr"] >= 35.0 and r["blend_psnr"] > r["forward_alone_psnr"] + 3.0
    # Seen from within the safe zone mid-loop, the half-transparent moving part shows no world.
    assert r["moved_mid_world_pixels"] == 0


def test_surfaces_saved_before_the_crossfade_get_it_when_played(tmp_path, extension_zip, photo_dir):
    r = run_scenario("old_surface", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"),
                     depth=os.path.join(photo_dir, "depth.npy"))
    # A .blend whose surface has no cross-fade copy (as imported before it existed) opens with
    # that surface, which the handler rebuilds with the copy: it renders as a new import does.
    assert r["old_has_copy"] is False and r["old_vertices"] < r["new_vertices"]
    assert r["reopened_has_copy"] and r["reopened_vertices"] == r["new_vertices"]
    assert r["reopened_materials"] == ["Cinemagraph Surface", "Cinemagraph Cross-fade"]
    assert r["renders_as_new"]


def test_engine_writes_depth_and_alpha(tmp_path, extension_zip, photo_dir):
    r = run_scenario("render_passes", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"),
                     depth=os.path.join(photo_dir, "depth.npy"))
    assert {"Combined.A", "Depth.Z"} <= set(r["channels"])
    # The Depth pass holds the camera distance in Blender units of the near and the far layer.
    assert r["near_depth"] == pytest.approx(r["expected_near"], rel=0.03)
    assert r["far_depth"] == pytest.approx(r["expected_far"], rel=0.03)
    # Alpha (transparent film): the photo covers the source view; a camera turned away from it
    # sees nothing where the photo ends, and keeps the photo opaque where it does not.
    assert r["source_alpha_mean"] > 0.99
    assert r["turned_empty_fraction"] > 0.2 and r["turned_opaque_fraction"] > 0.3


def test_scale_placement_feedback_and_hygiene(tmp_path, extension_zip, photo_dir):
    r = run_scenario("scale_feedback_hygiene", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"))
    # Imported clear of the default cube, not inside it, at 1.5 m; the panel says so.
    assert not r["camera_in_cube"] and not r["boxes_overlap"]
    assert r["nearest_distance"] == pytest.approx(1.5, rel=1e-3)
    assert any(text.startswith("Nearest point 1.5 m") for text in r["import_labels"]), r["import_labels"]
    assert r["zone"]["radius"] > 0 and r["zone"]["hide_render"] and r["zone"]["parent_is_surface"]
    assert any(text.startswith("Moves up to") and "safe zone" in text for text in r["camera_labels"])
    assert {"frame_start", "frame_end", "path_preset", "path_strength"} <= set(r["panel_props"])
    assert r["output_path"] == "//render/"
    # Motion edits are listed until Update Motion applies them; an arrow outside the region is warned.
    assert r["pending_after_import"] == []
    assert "Speed 1 -> 2" in r["pending_after_edits"] and "Hint arrows: 1 -> 2" in r["pending_after_edits"]
    assert r["pending_after_update"] == []
    assert "Hint arrow 2 starts outside the moving region" in r["stdout"]
    assert r["direction_without_region"].startswith("A direction in words moves the moving region")
    # Reports speak Blender and keep file names as they are.
    assert r["small_size"].startswith("Size Limit: 8 is too small") and "--" not in r["small_size"]
    assert r["damaged_locate"].startswith("notes.txt is not a readable prepared scene")
    assert "Error" not in r["damaged_locate"].split(":", 1)[0]
    assert r["missing_label_lines"] >= 2 and r["missing_label_longest"] <= 45
    # A deleted surface stops rendering; the panel offers to restore or remove it; Purge cleans up.
    assert "no cinemagraph to render" in r["render_after_delete"]
    assert {"cinemagraph.restore_surface", "cinemagraph.remove_cinemagraph"} <= set(r["deleted_operators"])
    assert r["renders_after_restore"]
    assert r["left_after_remove_and_purge"] == {"collections": [], "objects": [], "meshes": [], "cameras": []}


def test_farm_chunks_equal_one_render(tmp_path, extension_zip, photo_dir):
    r = run_scenario("farm", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"))
    assert r["same_frames"] and r["frames"] == 8, r
    # Pixel for pixel, but for the one-level rounding that a reopened .blend still shows (issue
    # 21; the reopen test allows the same): at most 1 % of a frame, by one level. A mismatch was
    # seen once in a full run under load and not recorded; the differences are reported now.
    assert all(count <= 0.01 * r["frame_pixels"] and level <= 1 for count, level in r["differences"].values()), r
    assert "Cinemagraph render engine is not available" in r["check_without_engine"]
    assert r["check_with_engine"] == "ok"


def test_a_camera_seeing_past_the_photo_is_warned_about(tmp_path, extension_zip, photo_dir):
    r = run_scenario("camera_warning", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"))
    preset, keyed = r["stdout"].split("RENDER keyed", 1)
    assert "sees past" not in preset  # a preset path zooms just enough to stay inside the photo
    # Render Cinemagraph checks every frame first; the engine warns at each frame concerned.
    warnings = [line for line in keyed.splitlines() if "the camera sees past the photo's edge" in line]
    assert warnings and all(line.startswith("Warning: ") for line in warnings), keyed[-3000:]
    assert r["frames_written"] == 8


def test_camera_conversions_round_trip(tmp_path, extension_zip):
    r = run_scenario("conversions", tmp_path, extension_zip)
    assert r["intrinsics_error"] < 1e-3
    assert r["pose_error"] < 1e-5
    assert r["presets_match_core"]


def test_saving_keeps_the_computed_motion_and_the_handler_does_only_needed_work(tmp_path, extension_zip, photo_dir):
    r = run_scenario("runtime_caches", tmp_path, extension_zip, photo=os.path.join(photo_dir, "image.png"))
    # The engine converts its frame with the core's function (once), to the levels render_frames gives.
    assert r["engine_frame"]["conversions"] == [[3, 64, 96]], r["engine_frame"]
    assert r["engine_frame"]["largest_difference"] <= 1, r["engine_frame"]
    # Playing frames the surface already has a state for looks nothing up on disk.
    assert r["playing"]["resolve"] == 0 and r["playing"]["writes"] == 8
    # The first save copies the prepared scene beside the .blend (a new absolute path) and Save
    # As makes the path relative to another folder: neither loads nor animates anything again,
    # and playback keeps its state.
    assert r["first_save"]["cache_path"].startswith("//cinemagraph_first/")
    assert r["first_save"]["load"] == 0 and r["first_save"]["animate"] == 0 and r["first_save"]["same_state"]
    assert r["save_as"]["cache_path"].startswith("//../saved/cinemagraph_first/"), r["save_as"]
    assert r["save_as"]["load"] == 0 and r["save_as"]["animate"] == 0 and r["save_as"]["same_state"]
    # The Cinemagraph engine renders from the core: the surface is not written during its
    # animation render, and follows the frame again afterwards, also after a render that
    # failed to start.
    assert r["engine_animation"]["writes"] == 0 and r["engine_animation"]["frames"] == 3
    assert r["after_engine"]["writes"] == 1
    assert r["after_failed_render"]["writes"] == 1
    # Cycles draws the surface: each frame it renders has that frame's positions.
    assert r["cycles_animation"]["frames"] == [2, 3, 4]
    assert r["cycles_animation"]["positions_match"] == [True, True, True]
    assert r["cycles_animation"]["moved_between_frames"]
    # The core's weights of the two clouds decide what the surface shows (no copy of the rule).
    assert r["reversed_rule"]["state"] == [True, pytest.approx(1 / 9)]
    assert r["reversed_rule"]["see_through"] == pytest.approx(1 / 9)


def test_motion_from_video(tmp_path, extension_zip):
    import cv2
    from conftest import shaken_clip_frames, write_clip

    frames, first = shaken_clip_frames(160, 96, 30, (1.2, 0.4), (50, 20, 130, 75), shake_px=2.0, shake_deg=0.2)
    clip = write_clip(str(tmp_path / "clip.mp4"), frames, fps=30.0)
    photo = str(tmp_path / "photo.png")
    cv2.imwrite(photo, cv2.resize(first, (240, 144), interpolation=cv2.INTER_CUBIC)[:, :, ::-1])
    damaged = tmp_path / "damaged.mov"
    damaged.write_bytes(b"not a video" * 100)
    r = run_scenario("motion_from_video", tmp_path, extension_zip, photo=photo, clip=clip, damaged=str(damaged))
    assert r["panel_offers_it"]
    # Cancelled while reading the clip (Esc), or a damaged clip: nothing changes.
    assert r["cancelled"] == ["CANCELLED"] and r["after_cancel"] == {"mask": False, "hints": 0, "video": ""}
    assert "Cannot read video damaged.mov" in r["damaged"]
    # The clip fills the moving region (the sliding box, x1.5 in the photo) and shows its field as
    # arrows along its motion; Update Motion then moves the picture at the clip's speed, in photo
    # pixels per frame of the scene's frame rate (24 fps: 30 / 24 clip frames).
    assert r["read"] == ["FINISHED"] and r["video"].endswith("clip.mp4")
    assert r["mask_iou"] > 0.8
    expected = [1.2 * 1.5 * 30 / 24, 0.4 * 1.5 * 30 / 24]
    assert r["arrows"] >= 4 and r["arrow_velocity"] == pytest.approx(expected, rel=0.15)
    assert "Motion video: clip.mp4" in r["pending"]
    assert r["update"] == ["FINISHED"] and r["flow_stage"].startswith("motion video")
    assert r["flow"] == pytest.approx(expected, rel=0.1)
    assert r["still_moving"] == 0
    # An arrow of the user's wins in the region it starts in: up, one pixel per frame.
    assert r["edited_flow"] == pytest.approx([0.0, -1.0], abs=0.1)


# --------------------------------------------------------------------------------------------
# The Blender side: scenarios run in their own process
# --------------------------------------------------------------------------------------------

def _start(arguments: dict, empty: bool = True):
    """An empty Blender (or, not ``empty``, its default scene: cube, camera and light) with the
    extension installed from the zip and enabled."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=empty)
    bpy.ops.extensions.package_install_files(filepath=arguments["zip"], repo="user_default",
                                             enable_on_install=True)
    return bpy


@contextlib.contextmanager
def _cancelled_at(stage: str, beyond: float = -1.0):
    """Background jobs cancel themselves (as Esc does in the UI) once their progress reaches
    ``stage`` past ``beyond``."""
    jobs = _addon_module("jobs")
    progress = jobs.Job.progress

    def cancelling(job, at: str, fraction: float) -> None:
        if at == stage and fraction > beyond:
            job.cancel()
        return progress(job, at, fraction)

    jobs.Job.progress = cancelling
    try:
        yield
    finally:
        jobs.Job.progress = progress


def _addon_module(name: str):
    return sys.modules[f"{ADDON}.blender_addon.{name}"]


def _render(bpy, path: str):
    import cv2

    bpy.context.scene.render.filepath = path
    bpy.ops.render.render(write_still=True)
    return cv2.imread(path)[:, :, ::-1]


def _psnr(a, b) -> float:
    import numpy as np

    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(error, 1e-12)))


def _positions(mesh):
    import numpy as np

    values = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.attributes["position"].data.foreach_get("vector", values)
    return values.reshape(-1, 3)


def scenario_end_to_end(arguments: dict) -> dict:
    import cv2
    import numpy as np

    bpy = _start(arguments)
    from mathutils import Vector

    result = {"enabled": ADDON in bpy.context.preferences.addons}
    tmp = arguments["tmp"]
    photo = cv2.imread(arguments["photo"])[:, :, ::-1]
    scene = bpy.context.scene
    result["import"] = sorted(bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=12,
                                                               size_limit=0))
    settings = scene.cinemagraph.active.cinemagraph
    points, camera = settings.points, settings.source_camera
    result["points"] = len(points.data.vertices)
    result["attributes"] = sorted(a.name for a in points.data.attributes if not a.name.startswith((".", "pos")))
    result["triangles"] = len(points.data.polygons)
    material = points.data.materials[0]
    result["material_uses_color"] = any(n.bl_idname == "ShaderNodeAttribute" and n.attribute_name == "Color"
                                        for n in material.node_tree.nodes)
    conversion = _addon_module("conversion")
    depsgraph = bpy.context.evaluated_depsgraph_get()
    k = conversion.intrinsics_from_projection(camera.evaluated_get(depsgraph).calc_matrix_camera(
        depsgraph, x=96, y=64), 96, 64)
    forward = camera.matrix_world.to_3x3() @ Vector((0, 0, -1))
    result["camera"] = {"lens": camera.data.lens, "sensor_fit": camera.data.sensor_fit,
                        "parent_is_points": camera.parent == points, "intrinsics": [k.fx, k.fy, k.cx, k.cy],
                        "looks_along_y": forward.y > 0.9999}
    scene_objects, motion_edits = _addon_module("scene_objects"), _addon_module("motion_edits")
    arrows = motion_edits.hint_objects(settings)
    (u0, v0), (u1, v1) = scene_objects.hint_pixels(arrows[0], points, settings.intrinsics())
    result["hint_pixels"] = [u0, v0, u1, v1]
    result["mask_fraction"] = float(scene_objects.read_mask(settings.mask).mean())

    # The sidebar draws (into a stand-in layout: headless Blender has no UI) and offers the work.
    panels = _addon_module("panels")
    operators: list[str] = []
    labels: list[str] = []
    for panel in panels.classes:
        if not hasattr(panel, "poll") or panel.poll(bpy.context):
            panel.draw(type("Panel", (), {"layout": _RecordingLayout(operators, labels)})(), bpy.context)
    result["panel_operators"] = sorted(set(operators))
    result["panel_labels"] = labels

    # The Cinemagraph engine through the source camera: frame 1 is time 0.
    frames = {}
    for frame in (1, 4, 7):
        scene.frame_set(frame)
        frames[frame] = _render(bpy, os.path.join(tmp, f"source_{frame}.png"))
    result["psnr_source_frame0"] = _psnr(frames[1], photo)
    change = np.abs(frames[4].astype(int) - frames[1]).sum(axis=2)
    region = np.zeros(change.shape, bool)
    region[32:58, 12:78] = True  # inside the labelme motion box (10..80, 30..60)
    result["moving_change"] = float(change[region].mean())
    result["still_change"] = float(change[:24].mean())

    # Playback: the points of the moving region move, the others stay.
    scene.frame_set(1)
    rest = _positions(points.data)
    scene.frame_set(4)
    moved = np.abs(_positions(points.data) - rest).max(axis=1) > 1e-6
    pixels = np.empty(len(points.data.vertices) * 2, np.float32)
    points.data.attributes["photo_pixel"].data.foreach_get("vector", pixels)
    pixels = pixels.reshape(-1, 2)
    far_from_motion = pixels[:, 1] < 20
    result["playback"] = {"moved": int(moved.sum()), "static_moved": int((moved & far_from_motion).sum())}
    # The moving points are where the render puts them at loop frame 3: displaced, and at the
    # depth of their surface where they arrive (not the depth they started at).
    runtime = _addon_module("runtime")
    cloud = runtime.animated_cloud(bpy.path.abspath(settings.cache_path), settings.loop_frames)
    depth_now = _positions(points.data)[cloud.num_static:cloud.depth.shape[0], 2]  # the skirt follows
    forward_depth = cloud.moving_positions(3)[1]
    result["playback"]["depth_error"] = float(np.abs(depth_now - forward_depth.numpy()).max())
    result["playback"]["depth_change"] = float(np.abs(forward_depth - cloud.depth[cloud.num_static:]).max())

    # A camera path: a new keyframed camera that starts at the source camera.
    bpy.ops.cinemagraph.add_camera_path(preset="circle")
    path_camera = scene.camera
    ops_camera = _addon_module("ops_camera")
    curves = list(ops_camera.fcurves_of(path_camera))
    scene.frame_set(1)
    start_offset = (path_camera.matrix_world.translation - camera.matrix_world.translation).length
    scene.frame_set(7)
    mid_offset = (path_camera.matrix_world.translation - camera.matrix_world.translation).length
    result["path"] = {"keys": len(curves[0].keyframe_points), "is_scene_camera": path_camera != camera,
                      "cyclic": all(any(m.type == "CYCLES" for m in c.modifiers) for c in curves),
                      "start_offset": start_offset, "mid_offset": mid_offset}
    rendered = {}
    for frame in (1, 4, 7):
        scene.frame_set(frame)
        rendered[frame] = _render(bpy, os.path.join(tmp, f"path_{frame}.png"))
    result["path_frames_differ"] = bool(np.abs(rendered[7].astype(int) - rendered[1]).mean() > 1.0)

    # Save beside the .blend, reopen, render again.
    project = os.path.join(tmp, "project")
    os.makedirs(project)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(project, "scene.blend"))
    result["cache_path"] = settings.cache_path
    result["cache_exists"] = os.path.isfile(bpy.path.abspath(settings.cache_path))
    bpy.ops.wm.open_mainfile(filepath=os.path.join(project, "scene.blend"))
    scene = bpy.context.scene
    again = {}
    for frame in (1, 4, 7):
        scene.frame_set(frame)
        again[frame] = _render(bpy, os.path.join(tmp, f"again_{frame}.png"))
    # The same picture: a few pixels may round one level apart (issue 21's open reopen
    # difference: 289 pixels of a frame were one level off in one run; not yet explained).
    levels = [np.abs(again[f].astype(np.int16) - rendered[f]).max(-1) for f in rendered]
    result["reopened_max_level"] = int(max(level.max() for level in levels))
    result["reopened_share_differing"] = float(max((level > 0).mean() for level in levels))

    # Another machine: the .blend and its cache folder copied elsewhere, rendered from scratch.
    elsewhere = os.path.join(tmp, "elsewhere")
    shutil.copytree(project, elsewhere)
    shutil.rmtree(project)
    np.save(os.path.join(tmp, "expected.npy"), np.stack([rendered[f] for f in (1, 4, 7)]))
    command = [sys.executable, os.path.abspath(__file__), "render_elsewhere",
               json.dumps(dict(arguments, blend=os.path.join(elsewhere, "scene.blend")))]
    output = subprocess.run(command, capture_output=True, text=True, timeout=180)
    lines = [line for line in output.stdout.splitlines() if line.startswith("RESULT ")]
    if output.returncode != 0 or not lines:
        raise RuntimeError(f"render elsewhere failed:\n{output.stdout[-4000:]}\n{output.stderr[-4000:]}")
    result["elsewhere"] = json.loads(lines[-1][len("RESULT "):])
    return result


def scenario_render_elsewhere(arguments: dict) -> dict:
    """``blender -b scene.blend -a`` on a machine that has the extension, the .blend and its cache."""
    import cv2
    import numpy as np

    bpy = _start(arguments)
    bpy.ops.wm.open_mainfile(filepath=arguments["blend"])
    scene = bpy.context.scene
    tmp = arguments["tmp"]
    scene.frame_start, scene.frame_end, scene.frame_step = 1, 7, 3
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = os.path.join(tmp, "sequence", "frame_")
    bpy.ops.render.render(animation=True)
    frames = [cv2.imread(os.path.join(tmp, "sequence", f"frame_{f:04d}.png"))[:, :, ::-1] for f in (1, 4, 7)]
    expected = np.load(os.path.join(tmp, "expected.npy"))
    video = os.path.join(tmp, "loop.mp4")
    image_settings = scene.render.image_settings
    if hasattr(image_settings, "media_type"):
        image_settings.media_type = "VIDEO"
    image_settings.file_format = "FFMPEG"
    scene.render.ffmpeg.format = "MPEG4"
    scene.render.ffmpeg.codec = "H264"
    scene.frame_step = 1
    scene.render.filepath = video
    bpy.ops.render.render(animation=True)
    produced = [name for name in os.listdir(tmp) if name.startswith("loop")]
    return {"frames_equal": bool(np.array_equal(np.stack(frames), expected)),
            "video_bytes": os.path.getsize(os.path.join(tmp, produced[0])) if produced else 0}


def scenario_motion_editing(arguments: dict) -> dict:
    import numpy as np

    bpy = _start(arguments)
    scene = bpy.context.scene
    bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=8, size_limit=0)
    settings = scene.cinemagraph.active.cinemagraph
    runtime, cache = _addon_module("runtime"), _addon_module("cache")
    old_path, old_stored = cache.resolve(settings.cache_path), settings.cache_path
    moving_before = int(runtime.prepared_scene(old_path).motion_mask.sum())
    scene.frame_set(4)
    before_update = _render(bpy, os.path.join(arguments["tmp"], "before_update.png"))

    # Select the points of the left half of the moving box in Edit Mode: the new moving region.
    points = settings.points
    pixels = np.empty(len(points.data.vertices) * 2, np.float32)
    points.data.attributes["photo_pixel"].data.foreach_get("vector", pixels)
    pixels = pixels.reshape(-1, 2)
    chosen = (pixels[:, 0] >= 0) & (pixels[:, 0] < 45) & (pixels[:, 1] >= 30) & (pixels[:, 1] < 64)  # not the skirt
    bpy.context.view_layer.objects.active = points
    bpy.ops.object.mode_set(mode="EDIT")
    import bmesh

    edited = bmesh.from_edit_mesh(points.data)
    for face in edited.faces:
        face.select = False
    for edge in edited.edges:
        edge.select = False
    for vertex, select in zip(edited.verts, chosen):
        vertex.select = bool(select)
    bmesh.update_edit_mesh(points.data)
    with bpy.context.temp_override(object=points, active_object=points):
        bpy.ops.cinemagraph.mask_from_selection(mode="SET")
    bpy.ops.object.mode_set(mode="OBJECT")
    selected_pixels = np.zeros((64, 96), bool)
    selected_pixels[np.rint(pixels[chosen, 1]).astype(int), np.rint(pixels[chosen, 0]).astype(int)] = True
    scene_objects = _addon_module("scene_objects")
    mask = scene_objects.read_mask(settings.mask)

    bpy.ops.cinemagraph.update_motion()
    new_path = cache.resolve(settings.cache_path)
    result = {
        "new_cache": new_path != old_path and os.path.isfile(new_path),
        "old_cache_kept": os.path.isfile(old_path),
        "moving_before": moving_before,
        "moving_after_selection": int(runtime.prepared_scene(new_path).motion_mask.sum()),
        "mask_from_selection_fraction": float(mask.mean()),
        "selected_pixel_fraction": float(selected_pixels.mean()),
    }
    # Undo brings back the previous path (headless Blender has no undo stack to drive): that
    # file is untouched, so the cinemagraph renders exactly as before the update.
    after_update = _render(bpy, os.path.join(arguments["tmp"], "after_update.png"))
    settings.cache_path = old_stored
    result["undo_renders_as_before"] = bool(np.array_equal(
        _render(bpy, os.path.join(arguments["tmp"], "undone.png")), before_update))
    result["update_changed_render"] = bool(not np.array_equal(after_update, before_update))

    # Update Motion shows what moves (the region less what is held still) as an image; the
    # Exact Region switch is a pending edit until applied, and then keeps the region as drawn.
    moving_image = bpy.data.images.get(f"{settings.id_data.name} Moving Pixels")
    moved = runtime.prepared_scene(new_path).motion_mask.numpy()
    result["moving_pixels_shown"] = moving_image is not None and bool(np.array_equal(
        scene_objects.read_mask(moving_image), moved))
    settings.exact_region = True
    result["pending_exact"] = _addon_module("motion_edits").pending_motion_changes(settings)
    bpy.ops.cinemagraph.update_motion()
    exact = runtime.prepared_scene(cache.resolve(settings.cache_path))
    result["exact_keeps_region"] = bool(np.array_equal(exact.motion_regions().numpy() > 0, mask))
    settings.exact_region = False

    # Load a labelme file: its region and arrows replace the current ones.
    labelme = os.path.join(arguments["tmp"], "other.json")
    with open(labelme, "w") as handle:
        json.dump({"shapes": [{"label": "motion", "shape_type": "rectangle", "points": [[0, 0], [40, 20]]},
                              {"label": "hint", "shape_type": "line", "points": [[5, 10], [30, 10]]}],
                   "imageWidth": 96, "imageHeight": 64}, handle)
    bpy.ops.cinemagraph.load_motion(filepath=labelme)
    result["loaded"] = {"hints": len(_addon_module("motion_edits").hint_objects(settings)),
                        "mask": bool(scene_objects.read_mask(settings.mask)[5, 5])}

    # Save, then Save Copy elsewhere: both files find the prepared scene, the session keeps its own.
    project, elsewhere = os.path.join(arguments["tmp"], "project"), os.path.join(arguments["tmp"], "copy")
    os.makedirs(project)
    os.makedirs(elsewhere)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(project, "motion.blend"))
    saved_path = settings.cache_path
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(elsewhere, "motion-copy.blend"), copy=True)
    result["save_copy_keeps_session_path"] = settings.cache_path == saved_path
    # A replaced motion stays while the saved .blend refers to it (and for one undo step), and
    # goes when the .blend is saved; one replaced before it goes at once.
    saved_file = cache.resolve(settings.cache_path)
    bpy.ops.cinemagraph.update_motion()
    second = cache.resolve(settings.cache_path)
    bpy.ops.cinemagraph.update_motion()
    bpy.ops.cinemagraph.update_motion()
    folder = os.path.dirname(cache.resolve(settings.cache_path))
    result["replaced"] = {"saved_kept": os.path.isfile(saved_file), "older_deleted": not os.path.isfile(second),
                          "files": len(os.listdir(folder))}
    bpy.ops.wm.save_mainfile()
    after_save = sorted(os.listdir(folder))
    bpy.ops.cinemagraph.clean_cache()
    result["cleaned"] = {"after_save": after_save, "after": sorted(os.listdir(folder)),
                         "current": os.path.basename(cache.resolve(settings.cache_path))}

    bpy.ops.cinemagraph.clear_hints()
    bpy.ops.cinemagraph.clear_mask()
    try:
        bpy.ops.cinemagraph.update_motion()
        result["no_motion_error"] = ""
    except RuntimeError as exc:
        result["no_motion_error"] = str(exc).split("Error: ", 1)[-1].strip()
    return result


def _datablocks(bpy) -> dict:
    return {kind: sorted(block.name for block in getattr(bpy.data, kind))
            for kind in ("collections", "objects", "meshes", "cameras", "images", "materials", "node_groups")}


def scenario_failures(arguments: dict) -> dict:
    bpy = _start(arguments)
    tmp = arguments["tmp"]
    result = {}
    before = _datablocks(bpy)
    for key, path in (("missing_file", os.path.join(tmp, "nothing.png")), ("damaged_file", os.path.join(tmp, "bad.png"))):
        if key == "damaged_file":
            with open(path, "wb") as handle:
                handle.write(b"\x89PNG not really")
        try:
            bpy.ops.cinemagraph.import_image(filepath=path)
            result[key] = "no error"
        except RuntimeError as exc:
            result[key] = str(exc)

    # Cancel while the core builds the layers (as Esc does in the UI) ...
    with _cancelled_at("layers"):
        result["cancelled"] = sorted(bpy.ops.cinemagraph.import_image(filepath=arguments["photo"]))
    jobs = _addon_module("jobs")
    progress = jobs.Job.progress

    # ... and cancel just as the prepared scene is being saved: the import is cancelled after the
    # file was written, which must not leave it behind (checked with cache_files_left below).
    def cancel_while_saving(job, stage, fraction):
        progress(job, stage, fraction)
        if stage == "save":
            job.cancel()

    jobs.Job.progress = cancel_while_saving
    result["cancelled_after_save"] = sorted(bpy.ops.cinemagraph.import_image(filepath=arguments["photo"]))

    # ... and run out of memory there (a real 40 TB request to PyTorch's allocator).
    def exhaust_at_layers(job, stage, fraction):
        if stage == "layers":
            import torch

            torch.empty(10**13)
        return progress(job, stage, fraction)

    jobs.Job.progress = exhaust_at_layers
    try:
        bpy.ops.cinemagraph.import_image(filepath=arguments["photo"])
        result["out_of_memory"] = "no error"
    except RuntimeError as exc:
        result["out_of_memory"] = str(exc)
    jobs.Job.progress = progress

    # ... and fail while building the objects: everything made so far is removed again.
    scene_objects = _addon_module("scene_objects")
    create_camera = scene_objects.create_source_camera

    def broken_camera(*args, **kwargs):
        create_camera(*args, **kwargs)
        raise _addon_module("errors").AddonError("simulated failure")

    scene_objects.create_source_camera = broken_camera
    try:
        bpy.ops.cinemagraph.import_image(filepath=arguments["photo"])
    except RuntimeError:
        pass
    scene_objects.create_source_camera = create_camera
    result["datablocks_before"], result["datablocks_after"] = before, _datablocks(bpy)
    folder = os.path.join(bpy.app.tempdir, "cinemagraph")
    result["cache_files_left"] = os.listdir(folder) if os.path.isdir(folder) else []

    # An orthographic camera cannot render a cinemagraph: an error report, not a crash.
    bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=4)
    scene = bpy.context.scene
    camera = bpy.data.objects.new("Ortho", bpy.data.cameras.new("Ortho"))
    camera.data.type = "ORTHO"
    scene.collection.objects.link(camera)
    scene.camera = camera
    try:
        _render(bpy, os.path.join(tmp, "ortho.png"))
        result["ortho_render"] = "no error"
    except RuntimeError as exc:
        result["ortho_render"] = str(exc)
    return result


def scenario_published_decoder(arguments: dict) -> dict:
    import cv2

    bpy = _start(arguments)
    preferences = bpy.context.preferences.addons[ADDON].preferences
    os.makedirs(arguments["weights"])
    preferences.weights_folder, preferences.device = arguments["weights"], "CPU"
    result = {"import": sorted(bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=4))}
    scene = bpy.context.scene
    scene.frame_set(scene.frame_start)
    photo = cv2.imread(arguments["photo"])[:, :, ::-1]

    def labels() -> list[str]:
        drawn: list[str] = []
        _addon_module("panels").VIEW3D_PT_cinemagraph_render.draw(
            type("Panel", (), {"layout": _RecordingLayout([], drawn)})(), bpy.context)
        return drawn

    result["labels_before"] = labels()
    result["psnr_before"] = _psnr(_render(bpy, os.path.join(arguments["tmp"], "splatted.png")), photo)
    # The weights arrive while the file is open (what Download Model Weights does).
    shutil.copy(os.path.join(arguments["downloaded"], "model_150000.pth"), arguments["weights"])
    result["labels_after"] = labels()
    image = _render(bpy, os.path.join(arguments["tmp"], "decoded.png"))
    result.update(shape=list(image.shape), spread=float(image.std()), psnr_after=_psnr(image, photo))
    return result


def _use_cycles(scene) -> None:
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 4
    scene.cycles.use_denoising = False


def _layer_depths(bpy, settings) -> tuple[float, float]:
    """Blender distances of the near (bottom) and far (top) band of the test photo's depth."""
    import numpy as np

    depth = _addon_module("runtime").prepared_scene(bpy.path.abspath(settings.cache_path)).depth.numpy()
    scale = settings.points.matrix_world.to_scale()[0]
    return float(np.median(depth[-16:]) * scale), float(np.median(depth[:16]) * scale)


def _import_with_depth(bpy, arguments: dict):
    bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=8, size_limit=0,
                                     depth_source="FILE", depth_file=arguments["depth"])
    return bpy.context.scene.cinemagraph.active.cinemagraph


def scenario_blender_renderers(arguments: dict) -> dict:
    import cv2
    import numpy as np

    bpy = _start(arguments)
    from mathutils import Matrix, Vector

    tmp = arguments["tmp"]
    photo = cv2.imread(arguments["photo"])[:, :, ::-1]
    scene = bpy.context.scene
    settings = _import_with_depth(bpy, arguments)
    scene.frame_set(1)
    _use_cycles(scene)
    result = {"cycles_source_psnr": _psnr(_render(bpy, os.path.join(tmp, "cycles_source.png")), photo)}

    # Render Animation moves the surface as the timeline does (the frame-change handler).
    scene.frame_start, scene.frame_end, scene.frame_step = 1, 4, 3
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = os.path.join(tmp, "animation", "frame_")
    bpy.ops.render.render(animation=True)
    scene.frame_set(4)
    still = _render(bpy, os.path.join(tmp, "cycles_still_4.png"))
    animated = [cv2.imread(os.path.join(tmp, "animation", f"frame_{f:04d}.png"))[:, :, ::-1] for f in (1, 4)]
    result.update(animation_equals_still=bool(np.array_equal(animated[1], still)),
                  animation_moves=float(np.abs(animated[1].astype(int) - animated[0]).mean()))
    scene.frame_set(1)

    # A camera moved diagonally to 80 % of the safe zone's radius.
    source = settings.source_camera
    radius = settings.safe_zone.empty_display_size * settings.points.matrix_world.to_scale()[0]
    offset = source.matrix_world.to_3x3() @ Vector((1.0, 1.0, 0.0)).normalized() * 0.8 * radius
    moved = bpy.data.objects.new("Moved", source.data)
    moved.matrix_world = Matrix.Translation(offset) @ source.matrix_world
    scene.collection.objects.link(moved)
    scene.camera = moved
    scene.render.film_transparent = True  # the world leaves alpha below 1
    scene.render.image_settings.color_mode = "RGBA"
    cycles = _render(bpy, os.path.join(tmp, "cycles_moved.png"))
    alpha = cv2.imread(os.path.join(tmp, "cycles_moved.png"), cv2.IMREAD_UNCHANGED)[:, :, 3]
    scene.render.film_transparent = False
    scene.render.image_settings.color_mode = "RGB"
    scene.render.engine = "CINEMAGRAPH"
    engine = _render(bpy, os.path.join(tmp, "engine_moved.png"))
    result.update(moved_world_pixels=int((alpha < 255).sum()), moved_psnr_vs_engine=_psnr(cycles, engine))

    # A red emitting plane facing the source camera between the near and the far layer.
    near, far = _layer_depths(bpy, settings)
    _use_cycles(scene)
    scene.camera = source
    bpy.ops.mesh.primitive_plane_add(size=10 * far)
    plane = bpy.context.object
    plane.matrix_world = source.matrix_world @ Matrix.Translation((0, 0, -(near * far) ** 0.5)) @ \
        Matrix.Scale(10 * far, 4)
    red = bpy.data.materials.new("Red")
    red.use_nodes = True
    nodes = red.node_tree.nodes
    nodes.clear()
    emission, output = nodes.new("ShaderNodeEmission"), nodes.new("ShaderNodeOutputMaterial")
    emission.inputs["Color"].default_value = (1.0, 0.0, 0.0, 1.0)
    red.node_tree.links.new(emission.outputs[0], output.inputs["Surface"])
    plane.data.materials.append(red)
    image = _render(bpy, os.path.join(tmp, "cycles_object.png")).astype(int)
    is_red = (image[..., 0] > 200) & (image[..., 1] < 40) & (image[..., 2] < 40)
    result.update(object_far_rows_red=float(is_red[4:24].mean()), object_near_rows_red=float(is_red[40:60].mean()),
                  object_near_rows_psnr=_psnr(image[40:60], photo[40:60]))
    return result


def scenario_crossfade(arguments: dict) -> dict:
    """Cycles from the source camera over one loop: frame to frame changes, t = 0 and t = 1, and
    one frame against the blend of the two clouds rendered alone."""
    import cv2
    import numpy as np

    bpy = _start(arguments)
    tmp = arguments["tmp"]
    photo = cv2.imread(arguments["photo"])[:, :, ::-1]
    scene = bpy.context.scene
    settings = _import_with_depth(bpy, arguments)
    _use_cycles(scene)
    if arguments.get("eevee"):  # measured by hand: EEVEE renders in software here, slowly
        scene.render.engine = "BLENDER_EEVEE"
        scene.eevee.taa_render_samples = arguments["eevee"]
    num_frames = settings.loop_frames
    frames = []
    for frame in range(num_frames + 1):  # loop frames 0 .. N - 1, then frame 0 again
        scene.frame_set(settings.loop_start + frame)
        frames.append(_render(bpy, os.path.join(tmp, f"loop_{frame}.png")).astype(np.float64))
    steps = [float(np.abs(b - a).mean()) for a, b in zip(frames[:-1], frames[1:])]
    result = {"steps": steps, "mid": num_frames // 2 - 1, "psnr_t0": _psnr(frames[0], photo)}

    playback = _addon_module("playback")
    state, points = playback._states[settings.id_data.name], settings.points

    def render_loop_frame(frame: int, name: str):
        # Rendering runs the frame-change handler, which would show the scene frame's moment.
        bpy.app.handlers.frame_change_post.remove(playback.on_frame_change)
        try:
            state.frame_written = -1
            playback.show_frame(points, state, frame)
            return _render(bpy, os.path.join(tmp, name)).astype(np.float64)
        finally:
            bpy.app.handlers.frame_change_post.append(playback.on_frame_change)

    result["frame_n_equals_frame_0"] = bool(np.array_equal(render_loop_frame(num_frames, "frame_n.png"), frames[0]))
    # Frame 3 of 8 (t = 3/8) against each cloud rendered alone (opaque, on the surface).
    frame, time = 3, 3 / num_frames
    blended = render_loop_frame(frame, "blend.png")
    rule = state.motion.crossfade
    alone = []
    for shows_backward in (False, True):
        state.motion.crossfade = [(shows_backward, 0.0)] * (num_frames + 1)
        alone.append(render_loop_frame(frame, f"alone_{int(shows_backward)}.png"))
    state.motion.crossfade = rule
    expected = (1 - time) * alone[0] + time * alone[1]
    result.update(blend_psnr=_psnr(blended, expected), forward_alone_psnr=_psnr(blended, alone[0]))

    # Mid-loop from a camera moved diagonally to 80 % of the safe zone's radius: the world shows
    # through nowhere (behind the half-transparent moving part there is always the copy).
    from mathutils import Matrix, Vector

    source = settings.source_camera
    radius = settings.safe_zone.empty_display_size * points.matrix_world.to_scale()[0]
    offset = source.matrix_world.to_3x3() @ Vector((1.0, 1.0, 0.0)).normalized() * 0.8 * radius
    moved = bpy.data.objects.new("Moved", source.data)
    moved.matrix_world = Matrix.Translation(offset) @ source.matrix_world
    scene.collection.objects.link(moved)
    scene.camera = moved
    scene.render.film_transparent = True
    scene.render.image_settings.color_mode = "RGBA"
    scene.frame_set(settings.loop_start + num_frames // 2)
    scene.render.filepath = os.path.join(tmp, "moved_mid.png")
    bpy.ops.render.render(write_still=True)
    alpha = cv2.imread(os.path.join(tmp, "moved_mid.png"), cv2.IMREAD_UNCHANGED)[:, :, 3]
    result["moved_mid_world_pixels"] = int((alpha < 255).sum())
    return result


def scenario_old_surface(arguments: dict) -> dict:
    import numpy as np

    bpy = _start(arguments)
    tmp = arguments["tmp"]
    scene = bpy.context.scene
    settings = _import_with_depth(bpy, arguments)
    _use_cycles(scene)
    scene.frame_set(settings.loop_start + 3)
    points = settings.points
    fresh = _render(bpy, os.path.join(tmp, "fresh.png"))
    result = {"new_vertices": len(points.data.vertices)}

    # The surface as the add-on built it before the cross-fade copy: the same vertices and
    # triangles without the copy, one material, no see-through property.
    scene_objects, runtime = _addon_module("scene_objects"), _addon_module("runtime")
    path = bpy.path.abspath(settings.cache_path)
    data = runtime.core().surface_vertices(runtime.prepared_scene(path),
                                           runtime.animated_cloud(path, settings.loop_frames))
    surface, faces = data.num_surface, int((data.triangles < data.num_surface).all(axis=1).sum())
    old = runtime.core().SurfaceVertices(data.positions[:surface], data.colors[:surface], data.pixels[:surface],
                                    data.triangles[:faces], data.copy_of[:surface], data.translucent[:faces] & False)
    scene_objects.replace_surface(points, settings.id_data.name, old)
    points.data.attributes.remove(points.data.attributes[scene_objects.COPY_ATTRIBUTE])
    points.data.materials.pop()
    bpy.data.materials.remove(scene_objects.crossfade_material())
    del points[scene_objects.SEE_THROUGH_PROPERTY]
    result.update(old_has_copy=scene_objects.COPY_ATTRIBUTE in points.data.attributes,
                  old_vertices=len(points.data.vertices))
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(tmp, "old.blend"))

    bpy.ops.wm.open_mainfile(filepath=os.path.join(tmp, "old.blend"))
    scene = bpy.context.scene
    settings = scene.cinemagraph.active.cinemagraph
    mesh = settings.points.data
    result.update(reopened_has_copy=scene_objects.COPY_ATTRIBUTE in mesh.attributes,
                  reopened_vertices=len(mesh.vertices), reopened_materials=[m.name for m in mesh.materials])
    scene.frame_set(settings.loop_start + 3)
    result["renders_as_new"] = bool(np.array_equal(_render(bpy, os.path.join(tmp, "reopened.png")), fresh))
    return result


def _read_exr(path: str) -> dict:
    """Channels of an uncompressed scanline OpenEXR file, single- or multi-part:
    name -> (H, W) float32, top row first."""
    import numpy as np

    data = open(path, "rb").read()
    assert data[:4] == b"\x76\x2f\x31\x01", "not an OpenEXR file"
    multipart = bool(int.from_bytes(data[4:8], "little") & 0x1000)
    position, headers = 8, []
    while True:  # one header per part, each ending with a null byte; multi-part ends with another
        attributes = {}
        while data[position] != 0:
            name_end = data.index(b"\0", position)
            type_end = data.index(b"\0", name_end + 1)
            size = int.from_bytes(data[type_end + 1:type_end + 5], "little")
            attributes[data[position:name_end].decode()] = data[type_end + 5:type_end + 5 + size]
            position = type_end + 5 + size
        position += 1
        headers.append(attributes)
        if not multipart or data[position] == 0:
            break
    position += 1 if multipart else 0
    planes = {}
    tables = []
    for attributes in headers:
        assert attributes["compression"][0] == 0, "compressed EXR"
        x0, y0, x1, y1 = np.frombuffer(attributes["dataWindow"], np.int32)
        tables.append(np.frombuffer(data, np.uint64, y1 - y0 + 1, position))
        position += 8 * (y1 - y0 + 1)
    for attributes, offsets in zip(headers, tables):
        channels, list_position, chlist = [], 0, attributes["channels"]
        while chlist[list_position] != 0:
            name_end = chlist.index(b"\0", list_position)
            pixel_type = int.from_bytes(chlist[name_end + 1:name_end + 5], "little")
            channels.append((chlist[list_position:name_end].decode(), {1: np.float16, 2: np.float32}[pixel_type]))
            list_position = name_end + 17
        x0, y0, x1, y1 = np.frombuffer(attributes["dataWindow"], np.int32)
        width = x1 - x0 + 1
        for name, _ in channels:
            planes[name] = np.empty((len(offsets), width), np.float32)
        for row, offset in enumerate(offsets):
            cursor = int(offset) + (12 if multipart else 8)  # [part,] y, size
            for name, dtype in channels:
                values = np.frombuffer(data, dtype, width, cursor)
                planes[name][row] = values
                cursor += values.nbytes
    return planes


def _render_exr(bpy, path: str) -> dict:
    settings = bpy.context.scene.render.image_settings
    if hasattr(settings, "media_type"):  # Blender 5.0 lists multilayer files apart
        settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.exr_codec = "NONE"
    settings.color_depth = "32"
    bpy.context.scene.render.filepath = path
    bpy.ops.render.render(write_still=True)
    return {name.split(".", 1)[1] if name.count(".") >= 2 else name: plane
            for name, plane in _read_exr(path).items()}


def scenario_render_passes(arguments: dict) -> dict:
    import numpy as np

    bpy = _start(arguments)
    from mathutils import Matrix

    tmp = arguments["tmp"]
    scene = bpy.context.scene
    settings = _import_with_depth(bpy, arguments)
    scene.view_layers[0].use_pass_z = True
    scene.render.film_transparent = True
    scene.frame_set(1)
    passes = _render_exr(bpy, os.path.join(tmp, "source.exr"))
    near, far = _layer_depths(bpy, settings)
    depth, alpha = passes["Depth.Z"], passes["Combined.A"]
    result = {"channels": sorted(passes), "expected_near": near, "expected_far": far,
              "near_depth": float(np.median(depth[-16:])), "far_depth": float(np.median(depth[:16])),
              "source_alpha_mean": float(alpha.mean())}
    # Turned 20 degrees to the left: the left part of the view lies beyond the photo.
    turned = bpy.data.objects.new("Turned", settings.source_camera.data)
    turned.matrix_world = settings.source_camera.matrix_world @ Matrix.Rotation(0.35, 4, "Y")
    scene.collection.objects.link(turned)
    scene.camera = turned
    alpha = _render_exr(bpy, os.path.join(tmp, "turned.exr"))["Combined.A"]
    result.update(turned_empty_fraction=float((alpha < 0.05).mean()), turned_opaque_fraction=float((alpha > 0.95).mean()))
    return result


def scenario_scale_feedback_hygiene(arguments: dict) -> dict:
    import numpy as np

    bpy = _start(arguments)
    from mathutils import Vector

    tmp = arguments["tmp"]
    scene = bpy.context.scene
    bpy.ops.mesh.primitive_cube_add(size=2.0)  # the default cube, at the 3D cursor
    bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=8, size_limit=0)
    settings = scene.cinemagraph.active.cinemagraph
    surface, camera = settings.points, settings.source_camera
    world = np.array(surface.matrix_world)
    positions = _positions(surface.data) @ world[:3, :3].T + world[:3, 3]
    inside = lambda p: all(-1.0 <= v <= 1.0 for v in p)  # noqa: E731 - the cube's box
    low, high = positions.min(axis=0), positions.max(axis=0)
    camera_position = np.array(camera.matrix_world.translation)
    result = {"camera_in_cube": inside(camera.matrix_world.translation),
              "boxes_overlap": bool(np.all(np.minimum(low, camera_position) <= 1.0)
                                    and np.all(np.maximum(high, camera_position) >= -1.0)),
              "output_path": scene.render.filepath}
    forward = np.array(camera.matrix_world.to_3x3() @ Vector((0, 0, -1)))
    result["nearest_distance"] = float(((positions - camera_position) @ forward).min())
    zone = settings.safe_zone
    result["zone"] = {"radius": zone.empty_display_size, "hide_render": zone.hide_render,
                      "parent_is_surface": zone.parent == surface}

    panels = _addon_module("panels")

    def draw(panel) -> tuple[list, list, list]:
        operators, labels, props = [], [], []
        panel.draw(type("Panel", (), {"layout": _RecordingLayout(operators, labels, props)})(), bpy.context)
        return operators, labels, props

    result["import_labels"] = draw(panels.VIEW3D_PT_cinemagraph_import)[1]
    _, result["camera_labels"], camera_props = draw(panels.VIEW3D_PT_cinemagraph_camera)
    result["panel_props"] = camera_props + draw(panels.VIEW3D_PT_cinemagraph_render)[2]

    motion_edits = _addon_module("motion_edits")
    result["pending_after_import"] = motion_edits.pending_motion_changes(settings)
    settings.speed = 2.0
    bpy.ops.cinemagraph.add_hint(start=(5.0, 5.0), end=(25.0, 5.0))  # above the moving box (10..80, 30..60)
    result["pending_after_edits"] = motion_edits.pending_motion_changes(settings)
    bpy.ops.cinemagraph.update_motion()
    result["pending_after_update"] = motion_edits.pending_motion_changes(settings)
    bpy.ops.cinemagraph.clear_hints()
    bpy.ops.cinemagraph.clear_mask()
    settings.direction = "left to right"

    def error_of(call) -> str:
        try:
            call()
            return "no error"
        except RuntimeError as exc:
            return str(exc).split("Error: ", 1)[-1].strip()

    result["direction_without_region"] = error_of(bpy.ops.cinemagraph.update_motion)
    result["small_size"] = error_of(lambda: bpy.ops.cinemagraph.import_image(filepath=arguments["photo"],
                                                                            size_limit=8))
    notes = os.path.join(tmp, "notes.txt")
    with open(notes, "wb") as handle:
        handle.write(b"not a prepared scene")
    result["damaged_locate"] = error_of(lambda: bpy.ops.cinemagraph.locate_prepared_scene(filepath=notes))

    # The prepared scene's folder lost: the Import panel says so in lines that fit the sidebar.
    stored = settings.cache_path
    settings.cache_path = os.path.join(tmp, "lost", "folder", "with", "a", "long", "name", "scene.cine")
    labels = draw(panels.VIEW3D_PT_cinemagraph_import)[1]
    start = next(i for i, text in enumerate(labels) if text.startswith("scene.cine is not in"))
    message = [text for text in labels[start:start + 8] if text and not text.startswith("Saving")]
    result["missing_label_lines"] = len(message)
    result["missing_label_longest"] = max(len(text) for text in message)
    settings.cache_path = stored

    # The user deletes the surface (X in the viewport: unlinked from its collections).
    for collection in surface.users_collection:
        collection.objects.unlink(surface)
    result["render_after_delete"] = error_of(lambda: _render(bpy, os.path.join(tmp, "deleted.png")))
    result["deleted_operators"] = draw(panels.VIEW3D_PT_cinemagraph)[0]
    bpy.ops.cinemagraph.restore_surface()
    scene.camera = camera
    result["renders_after_restore"] = _render(bpy, os.path.join(tmp, "restored.png")).shape == (64, 96, 3)
    name = settings.id_data.name
    bpy.ops.cinemagraph.remove_cinemagraph()
    bpy.data.orphans_purge(do_recursive=True)
    result["left_after_remove_and_purge"] = {
        kind: [block.name for block in getattr(bpy.data, kind) if block.name.startswith(name)]
        for kind in ("collections", "objects", "meshes", "cameras")}
    return result


FARM_CHECK_START = '--python-expr "'


def _farm_check_expression() -> str:
    """The engine check docs/farm.md tells farms to run before ``-a``."""
    with open(os.path.join(ROOT, "docs", "farm.md")) as handle:
        text = handle.read()
    start = text.index(FARM_CHECK_START) + len(FARM_CHECK_START)
    return text[start:text.index('"', start)]


def _imported_with_circle_path(arguments: dict):
    """The photo imported with an 8-frame loop and a circle camera path, PNG output."""
    bpy = _start(arguments)
    scene = bpy.context.scene
    bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=8, size_limit=0)
    bpy.ops.cinemagraph.add_camera_path(preset="circle")
    scene.render.image_settings.file_format = "PNG"
    return bpy, scene, arguments["tmp"]


def scenario_farm(arguments: dict) -> dict:
    import cv2
    import numpy as np

    bpy, scene, tmp = _imported_with_circle_path(arguments)
    project = os.path.join(tmp, "project")
    os.makedirs(project)
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(project, "farm.blend"))
    worker = os.path.join(tmp, "worker")
    shutil.copytree(project, worker)  # what a farm copies: the .blend and its cinemagraph folder

    def run(name: str, **extra) -> dict:
        command = [sys.executable, os.path.abspath(__file__), name,
                   json.dumps(dict(arguments, blend=os.path.join(worker, "farm.blend"), **extra))]
        output = subprocess.run(command, capture_output=True, text=True, timeout=180)
        lines = [line for line in output.stdout.splitlines() if line.startswith("RESULT ")]
        if output.returncode != 0 or not lines:
            raise RuntimeError(f"{name} failed:\n{output.stdout[-4000:]}\n{output.stderr[-4000:]}")
        return json.loads(lines[-1][len("RESULT "):])

    for start, end, folder in ((1, 4, "chunks"), (5, 8, "chunks"), (1, 8, "whole")):
        run("render_frames", start=start, end=end, out=os.path.join(tmp, folder, "frame_"))
    chunks = sorted(os.listdir(os.path.join(tmp, "chunks")))
    whole = sorted(os.listdir(os.path.join(tmp, "whole")))
    differences = {}  # frame file -> (pixels differing, largest difference in levels), when any
    for name in sorted(set(chunks) & set(whole)):
        apart, together = (cv2.imread(os.path.join(tmp, folder, name)).astype(int) for folder in ("chunks", "whole"))
        level = np.abs(apart - together).max(axis=2)
        if level.any():
            differences[name] = (int((level > 0).sum()), int(level.max()))
    return {"same_frames": chunks == whole, "frames": len(chunks), "chunk_names": chunks, "whole_names": whole,
            "differences": differences, "frame_pixels": int(np.prod(cv2.imread(os.path.join(tmp, "whole", whole[0])).shape[:2])),
            "check_without_engine": run("check_engine", enable=False)["message"],
            "check_with_engine": run("check_engine", enable=True)["message"]}


def scenario_camera_warning(arguments: dict) -> dict:
    bpy, scene, tmp = _imported_with_circle_path(arguments)
    scene.render.filepath = os.path.join(tmp, "preset", "frame_")
    bpy.ops.cinemagraph.render_animation()
    # Key the path camera far sideways at frame 5: the photo's edge comes into view there.
    camera = scene.camera
    scene.frame_set(5)
    camera.location.x += 2.0 * scene.cinemagraph.active.cinemagraph.safe_zone.empty_display_size + 1.0
    camera.keyframe_insert("location", frame=5)
    print("RENDER keyed", flush=True)  # Blender's reports go to the same stdout, unbuffered
    scene.render.filepath = os.path.join(tmp, "keyed", "frame_")
    bpy.ops.cinemagraph.render_animation()
    return {"frames_written": len(os.listdir(os.path.join(tmp, "keyed")))}


def scenario_render_frames(arguments: dict) -> dict:
    """``blender -b farm.blend -s START -e END -a`` in a fresh process (a farm worker's chunk)."""
    bpy = _start(arguments)
    bpy.ops.wm.open_mainfile(filepath=arguments["blend"])
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = arguments["start"], arguments["end"]
    scene.render.filepath = arguments["out"]
    bpy.ops.render.render(animation=True)
    return {"rendered": arguments["end"] - arguments["start"] + 1}


def scenario_check_engine(arguments: dict) -> dict:
    """The farm's engine check on a worker where the extension is enabled, or installed but not."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.extensions.package_install_files(filepath=arguments["zip"], repo="user_default",
                                             enable_on_install=arguments["enable"])
    bpy.ops.wm.open_mainfile(filepath=arguments["blend"])
    try:
        exec(_farm_check_expression(), {})
        return {"message": "ok"}
    except AssertionError as exc:
        return {"message": str(exc)}


class _RecordingLayout:
    """Stands in for ``UILayout`` in a headless draw: records the operators and the texts it is
    asked to show."""

    def __init__(self, operators: list[str], labels: list[str] | None = None, props: list[str] | None = None):
        self.operators = operators
        self.labels = [] if labels is None else labels
        self.props = [] if props is None else props

    def prop(self, _data, name, **_kwargs):
        self.props.append(name)

    def operator(self, idname, **_kwargs):
        self.operators.append(idname)
        return type("Properties", (), {})()

    def label(self, text="", **_kwargs):
        self.labels.append(text)

    def __getattr__(self, name):
        if name in ("row", "column", "box", "split", "grid_flow", "column_flow"):
            return lambda *args, **kwargs: self
        return lambda *args, **kwargs: None

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)


def scenario_missing_dependencies(arguments: dict) -> dict:
    sys.modules["torch"] = None  # as if PyTorch were not installed: "import torch" fails
    bpy = _start(arguments)
    result = {"enabled": ADDON in bpy.context.preferences.addons}
    dependencies, preferences = _addon_module("dependencies"), _addon_module("preferences")
    result["missing"] = dependencies.missing_required()
    operators: list[str] = []
    preferences.draw_preferences(bpy.context.preferences.addons[ADDON].preferences, _RecordingLayout(operators))
    result["preferences_operators"] = operators
    panel_operators: list[str] = []
    panel = _addon_module("panels").VIEW3D_PT_cinemagraph
    panel.draw(type("Panel", (), {"layout": _RecordingLayout(panel_operators)})(), bpy.context)
    result["panel_operators"] = panel_operators
    try:
        bpy.ops.cinemagraph.import_image(filepath=arguments["photo"])
        result["import_error"] = "no error"
    except RuntimeError as exc:
        result["import_error"] = str(exc)
    result["install_command"] = dependencies.install_command()
    # The install button's operator, with pip answering that nothing can be found.
    failing = [sys.executable, "-c", "import sys; print('Collecting torch'); "
               "print('ERROR: No matching distribution found for torch'); sys.exit(1)"]
    dependencies.install_command = lambda cuda=False: failing
    try:
        bpy.ops.cinemagraph.install_dependencies()
        result["failed_install"] = "no error"
    except RuntimeError as exc:
        result["failed_install"] = str(exc)
    # The weights download, with install_deps.py answering as it does when a file arrives.
    dependencies.weights_command = lambda folder: [
        sys.executable, "-c", "print('model_150000.pth: downloading'); print('model_150000.pth: ok')"]
    result["weights"] = sorted(bpy.ops.cinemagraph.download_weights())
    result["weights_progress"] = preferences.last_download().fraction
    return result


def scenario_threads(arguments: dict) -> dict:
    import time

    import numpy as np

    bpy = _start(arguments)
    jobs, playback, runtime, cache = (_addon_module(n) for n in ("jobs", "playback", "runtime", "cache"))
    steps = []

    def work(progress, cancel):
        for step in range(200):
            progress("flow", step / 200)
            steps.append(step)
            time.sleep(0.01)

    job = jobs.Job("Test job", work)
    job.start()
    time.sleep(0.1)
    job.cancel()
    job.wait(10)
    result = {"job_cancelled": job.cancelled, "job_stopped_early": len(steps) < 100}

    bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=8, size_limit=0)
    scene = bpy.context.scene
    settings = scene.cinemagraph.active.cinemagraph
    rest_positions = _positions(settings.points.data)
    scene.frame_set(3)
    settings.animate_viewport = False  # back to the photo's positions
    result["rest_when_off"] = bool(np.allclose(_positions(settings.points.data), rest_positions))
    # A new loop length, set without the update callback (which computes at once in background
    # mode), so the UI's path runs: compute in a thread, show when ready.
    settings["loop_frames"] = 10
    settings["animate_viewport"] = True
    path = cache.resolve(settings.cache_path)
    result["first_request"] = runtime.animated_cloud(path, 10, wait=False)
    playback.refresh(scene, wait=False)  # what the frame-change handler does in the UI
    result["timer_registered"] = bpy.app.timers.is_registered(playback.poll_pending)
    while runtime.animated_cloud(path, 10, wait=False) is None:
        time.sleep(0.05)
    playback.poll_pending()  # the timer's call (timers never fire in background mode)
    moved = np.abs(_positions(settings.points.data) - rest_positions).max(axis=1) > 1e-6
    result["moved_after_poll"] = int(moved.sum())

    # A damaged prepared scene loaded in a thread: the failure reaches the next request once
    # (as the playback's problem report), then the request after that tries again.
    damaged = os.path.join(arguments["tmp"], "damaged.cine")
    with open(damaged, "wb") as handle:
        handle.write(b"not a torch file")
    scene_class = runtime.core().PreparedScene
    load, loads = scene_class.load, []

    def counted_load(path):
        loads.append(path)
        return load(path)

    scene_class.load = counted_load
    requests = [runtime.prepared_scene(damaged, wait=False)]
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if runtime.prepared_scene(damaged, wait=False) is None:
                time.sleep(0.05)
                continue
            requests.append("loaded")
        except Exception as exc:  # noqa: BLE001 - what the playback reports
            requests.append(runtime.describe(exc))
        break
    result["loads_before_report"] = len(loads)
    requests.append(runtime.prepared_scene(damaged, wait=False))
    scene_class.load = load
    result["damaged_requests"] = requests

    # Dragging Loop Length asks for one length after another: one thread integrates at a time,
    # and a length asked for meanwhile is computed when asked again after it.
    animation = runtime.core()  # the add-on calls the core's public playback_points
    animate, integrations = animation.playback_points, []

    def counted_animate(*args, **kwargs):
        integrations.append(args[1])
        return animate(*args, **kwargs)

    animation.playback_points = counted_animate
    first = runtime.animated_cloud(path, 12, wait=False)
    second = runtime.animated_cloud(path, 13, wait=False)
    while runtime.animated_cloud(path, 12, wait=False) is None:
        time.sleep(0.05)
    result["integrations_while_dragging"] = list(integrations)
    while runtime.animated_cloud(path, 13, wait=False) is None:
        time.sleep(0.05)
    animation.playback_points = animate
    result["drag_requests"] = [first, second]
    result["integrations_after"] = integrations
    return result


def scenario_runtime_caches(arguments: dict) -> dict:
    import numpy as np

    bpy = _start(arguments)
    cache, playback, runtime, scene_objects = (_addon_module(n) for n in ("cache", "playback", "runtime",
                                                                          "scene_objects"))
    tmp = arguments["tmp"]
    result = {}
    bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=8, size_limit=0)
    scene = bpy.context.scene
    collection = scene.cinemagraph.active
    settings = collection.cinemagraph
    scene.render.engine = "CINEMAGRAPH"
    scene.render.dither_intensity = 0.0
    # The engine's frame is the core's, through the core's one tensor-to-array conversion: the
    # 8-bit file (Standard view transform) holds the levels render_frames gives.
    images, engine = runtime.core(), _addon_module("engine")  # the core's public to_numpy_image
    to_numpy_image, conversions = images.to_numpy_image, []
    images.to_numpy_image = lambda image: conversions.append(image.shape) or to_numpy_image(image)
    engine_png = _render(bpy, os.path.join(tmp, "before_save.png")).astype(int)  # the renderer is cached too
    images.to_numpy_image = to_numpy_image
    depsgraph = bpy.context.evaluated_depsgraph_get()
    view = engine.core_camera(depsgraph, scene.camera, engine_png.shape[1], engine_png.shape[0], settings)
    renderer = runtime.frame_renderer(cache.resolve(settings.cache_path), settings.loop_frames, "cpu", None)
    core_levels = images.to_uint8_image(renderer.render(playback.loop_frame(settings, scene.frame_current), view))
    result["engine_frame"] = {"conversions": [list(shape) for shape in conversions],
                              "largest_difference": int(np.abs(engine_png - core_levels).max())}

    # Count what costs time: loading and animating a prepared scene, looking up its file, writing
    # the surface.
    counts = {}
    cine_core = runtime.core()
    scene_class, animation = cine_core.PreparedScene, cine_core  # the core's public animate_points
    load, animate, resolve, write = (scene_class.load, animation.animate_points, cache.resolve,
                                     scene_objects.write_positions)

    def counted(name, function):
        def call(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)
        return call

    scene_class.load = counted("load", load)
    animation.animate_points = counted("animate", animate)
    cache.resolve = counted("resolve", resolve)
    scene_objects.write_positions = counted("writes", write)

    def measure(action) -> dict:
        counts.update(load=0, animate=0, resolve=0, writes=0)
        action()
        return dict(counts)

    result["playing"] = measure(lambda: [scene.frame_set(frame) for frame in range(2, 10)])
    state = playback._states[collection.name]

    def save_and_play(path: str) -> dict:
        def action():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            bpy.ops.wm.save_as_mainfile(filepath=path)
            scene.frame_set(3)
            _render(bpy, os.path.join(tmp, "after_save.png"))
        measured = measure(action)
        return dict(measured, cache_path=settings.cache_path, same_state=playback._states[collection.name] is state)

    result["first_save"] = save_and_play(os.path.join(tmp, "saved", "first.blend"))
    result["save_as"] = save_and_play(os.path.join(tmp, "other", "second.blend"))

    scene.frame_start, scene.frame_end = 2, 4
    scene.render.filepath = os.path.join(tmp, "engine", "frame_")
    rendered = []

    def on_render_post(rendered_scene, *_args):
        rendered.append((rendered_scene.frame_current, _positions(settings.points.data)))

    bpy.app.handlers.render_post.append(on_render_post)
    result["engine_animation"] = dict(measure(lambda: bpy.ops.render.render(animation=True)), frames=len(rendered))
    result["after_engine"] = measure(lambda: scene.frame_set(5))
    camera, scene.camera = scene.camera, None

    def failed_render():
        try:
            bpy.ops.render.render(animation=True)
        except RuntimeError:
            pass  # no camera: the render stops before its first frame
        scene.frame_set(6)

    result["after_failed_render"] = measure(failed_render)
    scene.camera = camera

    _use_cycles(scene)
    scene.cycles.samples = 1
    scene.render.resolution_percentage = 25
    scene.render.filepath = os.path.join(tmp, "cycles", "frame_")
    rendered.clear()
    bpy.ops.render.render(animation=True)
    expected = []
    for frame, _ in rendered:
        scene.frame_set(frame)
        expected.append(_positions(settings.points.data))
    result["cycles_animation"] = {
        "frames": [frame for frame, _ in rendered],
        "positions_match": [bool(np.array_equal(p, e)) for (_, p), e in zip(rendered, expected)],
        "moved_between_frames": bool(len(rendered) == 3 and not np.array_equal(rendered[0][1], rendered[1][1]))}

    # Which cloud weighs more is the core's rule alone: reversed there, the surface follows.
    surface_mesh = runtime.core().rendering.surface_mesh
    surface_mesh.cloud_weights = lambda time: (time, 1.0 - time)
    settings.loop_frames = 9  # a new playback state, made with the reversed rule
    scene.frame_set(settings.loop_start + 1)
    result["reversed_rule"] = {"state": list(playback._states[collection.name].motion.crossfade[1]),
                               "see_through": settings.points[scene_objects.SEE_THROUGH_PROPERTY]}
    return result


def scenario_depth_from_meshes(arguments: dict) -> dict:
    import numpy as np

    bpy = _start(arguments)
    from mathutils import Matrix

    scene = bpy.context.scene
    # A wall 10 m in front of a camera at the origin looking along +Y, and a box 4 m away in
    # the lower middle of the view: rough proxy geometry.
    camera = bpy.data.objects.new("Photo Camera", bpy.data.cameras.new("Photo Camera"))
    camera.matrix_world = Matrix.Rotation(np.pi / 2, 4, "X")
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.resolution_x, scene.render.resolution_y = 96, 64
    bpy.ops.mesh.primitive_plane_add(size=40, location=(0, 10, 0), rotation=(np.pi / 2, 0, 0))
    bpy.ops.mesh.primitive_cube_add(size=1, location=(0, 4.5, -0.5))
    result = {"import": sorted(bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], depth_source="MESHES",
                                                                size_limit=0, layers=2))}
    settings = scene.cinemagraph.active.cinemagraph
    result["same_camera"] = all(abs(a - b) < 1e-4 for row_a, row_b in zip(settings.source_camera.matrix_world,
                                                                          camera.matrix_world)
                                for a, b in zip(row_a, row_b))
    points = settings.points
    positions = _positions(points.data)
    pixels = np.empty(len(points.data.vertices) * 2, np.float32)
    points.data.attributes["photo_pixel"].data.foreach_get("vector", pixels)
    pixels = pixels.reshape(-1, 2)
    world = np.array(points.matrix_world)
    located = positions @ world[:3, :3].T + world[:3, 3]

    def distance_at(u, v):
        nearest = np.argmin(np.hypot(pixels[:, 0] - u, pixels[:, 1] - v) + 1e-3 * located[:, 1])
        return float(located[nearest, 1])  # along +Y: the distance from the camera plane

    # Pixel (47.5, 40) sees the box's front face (y = 4); pixel (10, 10) the wall (y = 10).
    result["box_distance"] = distance_at(47.5, 40)
    result["wall_distance"] = distance_at(10, 10)
    return result


def scenario_decoded_once(arguments: dict) -> dict:
    import cv2
    import numpy as np

    bpy = _start(arguments)
    from mathutils import Matrix

    decode, decodings = cv2.imdecode, []

    def counted_decode(*args, **kwargs):
        decodings.append(1)
        return decode(*args, **kwargs)

    core, core_calls = _addon_module("runtime").core(), []

    def counted(name: str):
        original = getattr(core, name)

        def call(*args, **kwargs):
            core_calls.append(name)
            return original(*args, **kwargs)
        return call

    cv2.imdecode = counted_decode
    core.import_photo, core.with_motion_animated = counted("import_photo"), counted("with_motion_animated")
    result = {"imports": [sorted(bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=4))],
              "decodings": {"estimate": len(decodings)}}
    scene = bpy.context.scene
    camera = bpy.data.objects.new("Photo Camera", bpy.data.cameras.new("Photo Camera"))
    camera.matrix_world = Matrix.Rotation(np.pi / 2, 4, "X")
    scene.collection.objects.link(camera)
    scene.camera = camera
    bpy.ops.mesh.primitive_plane_add(size=40, location=(0, 10, 0), rotation=(np.pi / 2, 0, 0))
    decodings.clear()
    result["imports"].append(sorted(bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=4,
                                                                      depth_source="MESHES")))
    result["decodings"]["meshes"] = len(decodings)
    cv2.imdecode = decode
    result["update"] = sorted(bpy.ops.cinemagraph.update_motion())
    result["core_calls"] = core_calls
    return result


def scenario_mesh_depth_against_ray_cast(arguments: dict) -> dict:
    import numpy as np

    bpy = _start(arguments)
    from mathutils import Euler, Matrix, Vector

    scene = bpy.context.scene
    width, height = 160, 90
    scene.render.resolution_x, scene.render.resolution_y = width, height
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    camera.location, camera.rotation_euler = (0.5, -8.0, 2.5), Euler((np.radians(78), 0.0, np.radians(4)))
    camera.data.lens, camera.data.shift_x = 30.0, 0.05
    scene.collection.objects.link(camera)
    bpy.ops.mesh.primitive_plane_add(size=40)  # the floor, reaching behind the camera
    bpy.ops.mesh.primitive_cube_add(size=2, location=(-1.5, 0, 1), rotation=(0, 0, 0.4))
    bpy.ops.mesh.primitive_uv_sphere_add(segments=12, ring_count=6, radius=1.2, location=(1.6, 1, 1.2))
    bpy.context.object.modifiers.new("Subdivision", "SUBSURF").levels = 2
    bpy.ops.mesh.primitive_cube_add(size=1, location=(0.5, -5, 2.5))  # right in front of the camera
    bpy.context.object.hide_set(True)
    depsgraph = bpy.context.evaluated_depsgraph_get()

    scene_depth, conversion = _addon_module("scene_depth"), _addon_module("conversion")
    k = conversion.intrinsics_from_projection(
        camera.evaluated_get(depsgraph).calc_matrix_camera(depsgraph, x=width, y=height), width, height)
    disparity = scene_depth.scene_geometry(depsgraph, set(), camera.matrix_world, k).disparity("cpu")

    # The reference: Blender's ray cast through every pixel centre of Blender's own camera frame.
    frame = camera.data.view_frame(scene=scene)  # corners in camera space: top right first
    right, top = frame[0].x, frame[0].y
    left, bottom, plane_z = frame[2].x, frame[2].y, frame[0].z
    rotation, origin = camera.matrix_world.to_3x3(), camera.matrix_world.translation
    expected = np.zeros((height, width))
    hit_object = np.full((height, width), "", dtype=object)
    for row in range(height):
        for column in range(width):
            local = Vector((left + (column + 0.5) / width * (right - left),
                            top - (row + 0.5) / height * (top - bottom), plane_z))
            hit, location, _, _, obj, _ = scene.ray_cast(depsgraph, origin, rotation @ local)
            if hit:
                expected[row, column] = -1.0 / (rotation.transposed() @ (location - origin)).z
                hit_object[row, column] = obj.name
    # Silhouettes: a pixel whose 3x3 neighbourhood sees more than one object or the sky.
    padded = np.pad(hit_object, 1, mode="edge")
    silhouette = np.zeros((height, width), bool)
    for dy in range(3):
        for dx in range(3):
            silhouette |= padded[dy:dy + height, dx:dx + width] != hit_object
    interior = ~silhouette
    hits, expected_hits = disparity > 0, expected > 0
    both = interior & hits & expected_hits
    error = np.abs(disparity[both] - expected[both]) / expected[both]

    def failure(call) -> str:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - the message is what is checked
            return str(exc)
        return ""

    up = Matrix.LocRotScale(camera.location, Euler((np.radians(170), 0, 0)), None)  # at the sky, over everything
    errors = {"looking_up": failure(lambda: scene_depth.scene_geometry(depsgraph, set(), up, k).disparity("cpu")),
              "all_excluded": failure(lambda: scene_depth.scene_geometry(
                  depsgraph, {o.name for o in scene.objects if o.type == "MESH"}, up, k))}
    return {"errors": errors, "pixels": width * height, "interior_pixels": int(interior.sum()),
            "sky_pixels": int((interior & ~expected_hits).sum()),
            "hidden_seen_by_ray_cast": bool((hit_object == "Cube.001").any()),
            "interior_hit_mismatches": int((interior & (hits != expected_hits)).sum()),
            "interior_max_relative_error": float(error.max()),
            "silhouette_hit_mismatches": int((silhouette & (hits != expected_hits)).sum())}


def scenario_conversions(arguments: dict) -> dict:
    import math
    import random

    import numpy as np

    bpy = _start(arguments)
    from mathutils import Euler, Matrix, Vector

    conversion = _addon_module("conversion")
    depsgraph = bpy.context.evaluated_depsgraph_get()
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    bpy.context.scene.collection.objects.link(camera)
    errors = []
    random.seed(3)
    for width, height in ((96, 64), (64, 96), (1280, 720), (500, 500)):
        focal = random.uniform(0.5, 2) * width
        k = conversion.Intrinsics(focal, focal, random.uniform(0.3, 0.7) * width,
                                  random.uniform(0.3, 0.7) * height, width, height)
        for key, value in conversion.camera_lens_settings(k).items():
            setattr(camera.data, key, value)
        back = conversion.intrinsics_from_projection(
            camera.evaluated_get(depsgraph).calc_matrix_camera(depsgraph, x=width, y=height), width, height)
        errors.append(max(abs(getattr(back, key) - getattr(k, key)) for key in ("fx", "fy", "cx", "cy")))
    points_world = Matrix.LocRotScale(Vector((1, 2, 3)), Euler((0.3, -0.2, 1.1)), Vector((2.5,) * 3))
    pose_errors = []
    for _ in range(5):
        pose = np.eye(4)
        pose[:3, :3] = np.array(Euler([random.uniform(-math.pi, math.pi) for _ in range(3)]).to_matrix())
        pose[:3, 3] = [random.uniform(-1, 1) for _ in range(3)]
        blender = conversion.camera_from_core(points_world, pose)
        pose_errors.append(float(np.abs(conversion.camera_to_core(points_world, blender) - pose).max()))
    # The source camera's place is the core's identity pose.
    source = points_world @ conversion.source_camera_local(2.5)
    pose_errors.append(float(np.abs(conversion.camera_to_core(points_world, source) - np.eye(4)).max()))
    core_presets = __import__(f"{ADDON}.cine_core.cameras.paths", fromlist=["PRESETS"]).PRESETS
    return {"intrinsics_error": max(errors), "pose_error": max(pose_errors),
            "presets_match_core": sorted(p[0] for p in _addon_module("ops_camera").CAMERA_PRESETS)
            == sorted(core_presets)}


def scenario_detect_motion(arguments: dict) -> dict:
    import numpy as np

    bpy = _start(arguments)
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from test_motion_detect import HORIZON, SHORE

    scene = bpy.context.scene
    scene_objects, motion_edits = _addon_module("scene_objects"), _addon_module("motion_edits")
    runtime, cache = _addon_module("runtime"), _addon_module("cache")

    def state(settings) -> dict:
        mask = scene_objects.read_mask(settings.mask) if settings.mask is not None else None
        prepared = runtime.prepared_scene(cache.resolve(settings.cache_path))
        return {"mask": mask, "hints": len(motion_edits.hint_objects(settings)),
                "moving": float(prepared.motion_mask.float().mean()), "stages": prepared.info["stages"]}

    bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=8, size_limit=0)
    settings = scene.cinemagraph.active.cinemagraph
    imported = state(settings)
    mask = imported["mask"]
    arrows = [scene_objects.hint_pixels(a, settings.points, settings.intrinsics())
              for a in motion_edits.hint_objects(settings)]
    sky_arrows = [(s, e) for s, e in arrows if s[1] < HORIZON]
    water_arrows = [(s, e) for s, e in arrows if HORIZON < s[1] < SHORE]
    result = {"imported": {
        "hints": imported["hints"], "flow": imported["stages"]["flow"], "moving": imported["moving"],
        "sky_masked": float(mask[5:HORIZON - 5].mean()), "water_masked": float(mask[HORIZON + 8:SHORE - 8].mean()),
        "ground_masked": float(mask[SHORE + 3:].mean()),
        "arrows_sideways_in_sky": bool(sky_arrows) and all(abs(e[1] - s[1]) < 0.5 < s[0] - e[0] for s, e in sky_arrows),
        "arrows_down_in_water": bool(water_arrows) and all(e[1] - s[1] > 0.5 for s, e in water_arrows),
    }}

    bpy.ops.cinemagraph.clear_hints()
    bpy.ops.cinemagraph.clear_mask()
    # Detect Motion is a background job like the others: Esc (here: a cancel once it runs) keeps
    # everything as it was.
    with _cancelled_at("detect"):
        cancelled = sorted(bpy.ops.cinemagraph.detect_motion())
    result["cancelled"] = {"result": cancelled, "hints": len(motion_edits.hint_objects(settings)),
                           "mask": settings.mask is not None}
    detected = bpy.ops.cinemagraph.detect_motion()
    after = state(settings)
    bpy.ops.cinemagraph.update_motion()
    result["button"] = {"result": sorted(detected), "hints": after["hints"],
                        "same_mask": bool(after["mask"] is not None and np.array_equal(after["mask"], mask)),
                        "updated_moving": state(settings)["moving"]}
    bpy.ops.cinemagraph.detect_motion()  # finds what the motion is already made from
    result["button"]["pending_after_same"] = _addon_module("motion_edits").pending_motion_changes(settings)

    bpy.context.preferences.addons[ADDON].preferences.detect_motion_on_import = False
    bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=8, size_limit=0)
    still = state(scene.cinemagraph.active.cinemagraph)
    result["preference_off"] = {"hints": still["hints"], "mask": still["mask"] is not None, "moving": still["moving"]}
    return result


def scenario_motion_from_video(arguments: dict) -> dict:
    import numpy as np

    bpy = _start(arguments)
    bpy.context.preferences.addons[ADDON].preferences.detect_motion_on_import = False
    scene = bpy.context.scene
    bpy.ops.cinemagraph.import_image(filepath=arguments["photo"], loop_frames=4, size_limit=0)
    settings = scene.cinemagraph.active.cinemagraph
    runtime, cache = _addon_module("runtime"), _addon_module("cache")
    motion_edits, scene_objects = _addon_module("motion_edits"), _addon_module("scene_objects")
    operators: list[str] = []
    _addon_module("panels").VIEW3D_PT_cinemagraph_motion.draw(
        type("Panel", (), {"layout": _RecordingLayout(operators)})(), bpy.context)
    result = {"panel_offers_it": "cinemagraph.motion_from_video" in operators}

    def state() -> dict:
        return {"mask": settings.mask is not None, "hints": len(motion_edits.hint_objects(settings)),
                "video": settings.motion_video}

    # Esc while the clip is read (the job framework's cancel, as Import's test drives it).
    with _cancelled_at("video", beyond=0.5):
        result["cancelled"] = sorted(bpy.ops.cinemagraph.motion_from_video(filepath=arguments["clip"]))
    result["after_cancel"] = state()
    try:
        bpy.ops.cinemagraph.motion_from_video(filepath=arguments["damaged"])
        result["damaged"] = "no error"
    except RuntimeError as exc:
        result["damaged"] = str(exc)

    result["read"] = sorted(bpy.ops.cinemagraph.motion_from_video(filepath=arguments["clip"]))
    result["video"] = settings.motion_video
    mask = scene_objects.read_mask(settings.mask)
    truth = np.zeros_like(mask)
    truth[30:112, 75:195] = True  # the clip's box (50, 20)-(130, 75), 1.5 times larger
    result["mask_iou"] = float((mask & truth).sum() / (mask | truth).sum())
    arrows = [scene_objects.hint_pixels(a, settings.points, settings.intrinsics())
              for a in motion_edits.hint_objects(settings)]
    result["arrows"] = len(arrows)
    result["arrow_velocity"] = (np.mean([np.subtract(end, start) for start, end in arrows], axis=0)
                                / runtime.core().motion.flow.ARROW_PIXELS_PER_FRAME_UNIT).tolist()
    result["pending"] = motion_edits.pending_motion_changes(settings)
    result["update"] = sorted(bpy.ops.cinemagraph.update_motion())
    prepared = runtime.prepared_scene(cache.resolve(settings.cache_path))
    flow = prepared.flow.numpy()
    result["flow"] = flow[:, 45:97, 90:180].mean(axis=(1, 2)).tolist()
    result["flow_stage"] = prepared.info["stages"]["flow"]
    outside = np.ones_like(truth)
    outside[20:122, 65:205] = False
    result["still_moving"] = int(prepared.motion_mask.numpy()[outside].sum())

    bpy.ops.cinemagraph.clear_hints()
    bpy.ops.cinemagraph.add_hint(start=(135.0, 71.0), end=(135.0, -129.0))
    bpy.ops.cinemagraph.update_motion()
    edited = runtime.prepared_scene(cache.resolve(settings.cache_path)).flow.numpy()
    result["edited_flow"] = edited[:, 45:97, 90:180].mean(axis=(1, 2)).tolist()
    return result


def run_as_script(scenarios: dict) -> None:
    """In the scenario's process: run ``scenario_<argv 1>`` of ``scenarios`` (a test file's
    globals) on the JSON arguments in argv 2 and print its result for :func:`run_scenario`."""
    measured = scenarios[f"scenario_{sys.argv[1]}"](json.loads(sys.argv[2]))
    print("RESULT " + json.dumps(measured), flush=True)
    sys.stdout.flush()
    os._exit(0)  # skip Blender's slow teardown at exit


if __name__ == "__main__":
    run_as_script(globals())
