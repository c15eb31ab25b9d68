"""Known-answer tests of integration, splatting, cameras and the symmetric animation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cine_core.motion.animation import animate_points
from cine_core.cameras.paths import PRESETS, Camera, CropWindow, Intrinsics, camera_path
from cine_core.depth.conditioning import DepthMap
from cine_core.errors import CineError
from cine_core.filters import fill_holes
from cine_core.motion.integrate import ParticleField, integrate_loop, integrate_positions
from cine_core.layers.ldi import BEHIND_FACTOR, DepthLayer, LayeredScene, build_layers, choose_depth_edges
from cine_core.cameras.paths import lift_to_world
from cine_core.rendering.frames import FrameRenderer
from cine_core.scene import PreparedScene
from cine_core.rendering.splat import splat_points

from conftest import textured_image


def make_scene(rgb: np.ndarray, depth: np.ndarray, flow: torch.Tensor, focal: float | None = None) -> PreparedScene:
    """A one-layer scene straight from arrays (no estimation involved)."""
    photo = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
    height, width = depth.shape
    depth_t = torch.from_numpy(depth.astype(np.float32))
    layer = DepthLayer(photo.clone(), depth_t.clone(), torch.ones(height, width, dtype=torch.bool),
                       torch.zeros(height, width, dtype=torch.bool))
    return PreparedScene(photo, Intrinsics.for_photo(width, height, focal), depth_t, LayeredScene([layer], []),
                         flow, flow.clone())


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_constant_flow_moves_points_by_the_integrated_distance(method):
    flow = torch.zeros(2, 40, 60)
    flow[0], flow[1] = 1.25, -0.5
    start = torch.tensor([[10.0, 30.0], [20.5, 25.25]])
    positions = integrate_positions(flow, start, 8, method)
    for m in range(9):
        assert torch.allclose(positions[m], start + m * torch.tensor([1.25, -0.5]), atol=1e-4)


def test_euler_and_rk4_agree_on_uniform_field_and_rk4_follows_curves():
    flow = torch.zeros(2, 50, 50)
    flow[0] = 0.7
    start = torch.rand(100, 2) * 20 + 5
    assert torch.allclose(integrate_positions(flow, start, 20, "euler"),
                          integrate_positions(flow, start, 20, "rk4"), atol=1e-4)
    # A rotation about the centre keeps the radius; Euler spirals outwards, RK4 does not.
    ys, xs = torch.meshgrid(torch.arange(101.0), torch.arange(101.0), indexing="ij")
    rotation = torch.stack([-(ys - 50), xs - 50]) * 0.05
    point = torch.tensor([[80.0, 50.0]])
    radius = lambda p: float((p[-1] - torch.tensor([50.0, 50.0])).norm())
    assert abs(radius(integrate_positions(rotation, point, 60, "rk4")) - 30) < 0.05
    assert radius(integrate_positions(rotation, point, 60, "euler")) > 31
    with pytest.raises(CineError, match="integrator"):
        integrate_positions(flow, start, 2, "midpoint")


def loop_of(flow: torch.Tensor, start: torch.Tensor, num_frames: int, every: int | None = None,
            region: torch.Tensor | None = None):
    """The trajectories of ``start`` (M, 2) over a loop, all moved by ``flow``."""
    return integrate_loop([ParticleField(flow, region)], torch.zeros(len(start)), start, num_frames, every=every)


def test_loop_displacements_are_symmetric():
    flow = torch.zeros(2, 30, 30)
    flow[1] = 0.5
    loop = loop_of(flow, torch.tensor([[15.0, 10.0]]), 10)
    forward, backward = loop.displacements(0)[0], loop.displacements(10)[1]
    assert torch.allclose(forward, torch.zeros(1, 2)) and torch.allclose(backward, torch.zeros(1, 2))
    forward, backward = loop.displacements(4)
    assert torch.allclose(forward, torch.tensor([[0.0, 2.0]]))
    assert torch.allclose(backward, torch.tensor([[0.0, -3.0]]))  # 10 - 4 steps against the flow
    assert torch.equal(loop.low, torch.tensor([0.0, -5.0])) and torch.equal(loop.high, torch.tensor([0.0, 5.0]))


@pytest.mark.parametrize("every", [1, 3, 4, 7])
def test_kept_positions_give_the_positions_of_one_integration(every):
    """Integrated from positions kept every few frames, each frame's particles stand exactly
    where one integration from the start puts them (each particle is integrated on its own),
    in both directions and inside a region; a particle of no field stays."""
    ys, xs = torch.meshgrid(torch.arange(48.0), torch.arange(64.0), indexing="ij")
    swirl = torch.stack([-(ys - 24) * 0.09 + 0.6, (xs - 32) * 0.07])
    region = torch.zeros(1, 48, 64)
    region[:, 6:42, 8:58] = 1.0
    start = torch.rand(50, 2, generator=torch.Generator().manual_seed(3)) * torch.tensor([40.0, 26.0]) + 12.0
    field_of = torch.tensor([0, 1] * 24 + [-1, -1])
    fields = [ParticleField(swirl), ParticleField(swirl * region, region)]
    loop = integrate_loop(fields, field_of, start, 13, every=every)
    forward, backward = loop.positions_by_step()
    for which, particle_field in enumerate(fields):
        members = field_of == which
        for reverse, moved in ((False, forward), (True, backward)):
            whole = integrate_positions(particle_field.flow, start[members], 13, "rk4", particle_field.region, reverse)
            assert torch.equal(moved[:, members], whole)
    assert torch.equal(forward[:, 48:], start[48:].expand(14, 2, 2)) and torch.equal(backward[:, 48:], forward[:, 48:])
    if every == 1:  # the kept positions themselves
        assert forward is loop.forward and backward is loop.backward
    forward, backward = forward - start, (backward - start).flip(0)  # displacements per frame
    for frame in range(14):
        assert all(torch.equal(got, expected[frame]) for got, expected in zip(loop.displacements(frame),
                                                                               (forward, backward)))
    assert torch.equal(loop.low, torch.minimum(forward.amin((0, 1)), backward.amin((0, 1))))
    assert torch.equal(loop.high, torch.maximum(forward.amax((0, 1)), backward.amax((0, 1))))


def test_reverse_steps_are_steps_along_the_negated_flow():
    ys, xs = torch.meshgrid(torch.arange(40.0), torch.arange(50.0), indexing="ij")
    flow = torch.stack([torch.sin(ys / 5.0) * 1.3, torch.cos(xs / 7.0) * 0.8])
    start = torch.rand(30, 2, generator=torch.Generator().manual_seed(1)) * 30 + 5
    assert torch.equal(integrate_positions(flow, start, 9, "rk4", reverse=True), integrate_positions(-flow, start, 9))


def test_constant_flow_translates_a_textured_stripe_in_the_render():
    rgb = textured_image(64, 40)
    depth = np.full((40, 64), 2.0, np.float32)
    flow = torch.zeros(2, 40, 64)
    flow[0, 10:30] = 2.0  # a horizontal stripe moving right by 2 px per frame
    scene = make_scene(rgb, depth, flow)
    cloud = animate_points(scene, 10, "rk4")
    renderer = FrameRenderer(cloud, scene.intrinsics)
    frame = 3
    forward = renderer.splat_clouds(frame, Camera.source(scene.intrinsics)).values[0, :3]
    photo = scene.photo
    # Inside the stripe (away from its upstream edge and the rows next to static pixels) the
    # forward cloud shows the photo shifted right by exactly 2 * 3 pixels.
    shift = 2 * frame
    assert torch.allclose(forward[:, 12:28, shift + 2:60], photo[:, 12:28, 2:60 - shift], atol=1e-5)


def test_static_camera_without_motion_reproduces_the_photo_in_every_frame():
    rgb = textured_image(64, 40)
    depth = np.linspace(1.0, 5.0, 40 * 64, dtype=np.float32).reshape(40, 64)
    scene = make_scene(rgb, depth, torch.zeros(2, 40, 64))
    renderer = FrameRenderer(animate_points(scene, 6), scene.intrinsics)
    for frame in range(7):
        image = renderer.render(frame, Camera.source(scene.intrinsics))
        assert psnr(image, scene.photo) >= 40.0
        assert torch.equal((image * 255 + 0.5).to(torch.uint8), (scene.photo * 255 + 0.5).to(torch.uint8))


def test_frame_n_equals_frame_0_and_only_the_fluid_moves():
    rgb = textured_image(64, 40)
    depth = np.full((40, 64), 3.0, np.float32)
    depth[:, :20] = 1.5
    flow = torch.zeros(2, 40, 64)
    flow[1, 5:35, 30:55] = 0.8
    scene = make_scene(rgb, depth, flow)
    frames = 12
    renderer = FrameRenderer(animate_points(scene, frames), scene.intrinsics)
    path = camera_path("circle", scene.intrinsics, frames, focus_depth=2.0)
    first = renderer.render(0, path[0])
    last = renderer.render(frames, path[0])  # t = 1, and the looped path is back at its start
    assert torch.allclose(first, last, atol=1e-5)
    source = Camera.source(scene.intrinsics)
    still = renderer.render(0, source)
    middle = renderer.render(frames // 2, source)
    moving = torch.zeros(40, 64, dtype=torch.bool)
    moving[3:37, 28:57] = True  # the moving box grown by 2 px
    assert float((middle - still).abs()[:, moving].mean()) > 0.02
    assert torch.equal(middle[:, ~moving], still[:, ~moving])


def test_fronto_parallel_plane_shifts_by_f_t_over_z():
    rgb = textured_image(80, 48)
    z, focal, tx = 2.0, 100.0, 0.08  # shift f * t / z = 4 px
    scene = make_scene(rgb, np.full((48, 80), z, np.float32), torch.zeros(2, 48, 80), focal=focal)
    renderer = FrameRenderer(animate_points(scene, 4), scene.intrinsics)
    pose = torch.eye(4)
    pose[0, 3] = tx  # camera moves right: the picture moves left
    image = renderer.render(0, Camera(scene.intrinsics, pose))
    assert torch.allclose(image[:, :, :70], scene.photo[:, :, 4:74], atol=1e-4)


def test_splatting_is_exact_depth_aware_and_closes_magnified_surfaces():
    values = torch.tensor([[1.0], [0.0]])
    uv = torch.tensor([[2.0, 1.0], [2.0, 1.0]])
    near_wins = splat_points(uv, torch.tensor([1.0, 2.0]), values, (3, 5))
    assert float(near_wins.values[0, 0, 1, 2]) == 1.0 and float(near_wins.coverage[0, 0, 1, 2]) == 1.0
    assert float(near_wins.coverage[0, 0, 0, 0]) == 0.0
    # A 10x10 grid of points magnified 3x (footprint 3) still covers its 30x30 projection.
    grid = torch.stack(torch.meshgrid(torch.arange(10.0), torch.arange(10.0), indexing="xy"), -1).reshape(-1, 2)
    splatted = splat_points(grid * 3 + 1, torch.ones(100), torch.ones(100, 1), (32, 32),
                            footprint=torch.full((100,), 3.0))
    assert bool((splatted.coverage[0, 0, 1:29, 1:29] > 0.5).all())


def test_moving_points_show_through_the_still_silhouette_by_the_part_it_leaves_open():
    """A still surface in front of moving points, seen half a pixel off: the pixel its edge
    covers by half shows half of each (the photo's anti-aliased edge), where it used to hide
    what moves behind entirely (a stair-stepped horizon before a moving sky). Inside the still
    surface, points drawn 1.5 pixels apart cover pixels in part too, and nothing shows through."""
    from cine_core.rendering.splat import PointSet, splat_groups

    def plane(xs, ys, z, value):
        uv = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
        return PointSet(uv, torch.full((len(uv),), z), torch.full((len(uv), 1), value))

    rows = torch.arange(8.0)
    behind = plane(torch.arange(20.0), rows, 10.0, 0.0)  # moving, far
    edge = plane(torch.arange(11.0) + 0.5, rows, 1.0, 1.0)  # still, near: its last column at u = 10.5
    image = splat_groups([behind], (8, 20), shared=edge).values[0, 0]
    assert torch.allclose(image[2:6, 5], torch.ones(4))  # covered: the still surface
    assert torch.allclose(image[2:6, 11], torch.full((4,), 0.5))  # its edge covers half of the pixel
    assert torch.allclose(image[2:6, 13], torch.zeros(4))  # open: what moves behind
    stretched = plane(torch.arange(0.0, 19.0, 1.5), torch.arange(0.0, 8.0, 1.5), 1.0, 1.0)
    inside = splat_groups([behind], (8, 20), shared=stretched).values[0, 0]
    assert torch.equal(inside[1:6, 1:17], torch.ones(5, 16))


def _moving_scene() -> PreparedScene:
    rgb = textured_image(64, 48)
    depth = np.full((48, 64), 4.0, np.float32)
    depth[:, :24] = 1.0
    flow = torch.zeros(2, 48, 64)
    flow[0, 10:30, 30:60] = -0.9  # fluid flows out of the frame on the far side
    return make_scene(rgb, depth, flow)


@pytest.mark.parametrize("preset", PRESETS)
def test_footprint_bound_holds_for_every_preset(preset):
    scene = _moving_scene()
    cloud = animate_points(scene, 8)
    renderer = FrameRenderer(cloud, scene.intrinsics)
    for magnitude in (None, 0.6):  # 0.6: the near layer at depth 1 comes very close
        for frame, camera in enumerate(camera_path(preset, scene.intrinsics, 8, magnitude=magnitude)):
            world_to_cam = camera.world_to_cam().float()
            forward_uv, forward_depth, backward_uv, backward_depth = cloud.positions(frame)
            for uv, depth in ((forward_uv, forward_depth), (backward_uv, backward_depth)):
                world = lift_to_world(uv, depth, scene.intrinsics)
                z = world @ world_to_cam[2, :3] + world_to_cam[2, 3]
                zoom = camera.intrinsics.fx / scene.intrinsics.fx
                bound = renderer.max_footprint(camera)
                if bool((z > 1e-6).all()):
                    assert float((depth / z * zoom).max()) <= bound * (1 + 1e-5)
                else:
                    assert bound == float("inf")


def test_render_loop_reads_nothing_back_from_the_device():
    # Tensors on the meta device have no data: any host read-back (.item(), bool(), nonzero,
    # boolean indexing) raises. A loop that runs there queues its GPU work without waiting.
    scene = _moving_scene()
    cloud = animate_points(scene, 6)
    renderer = FrameRenderer(cloud.to("meta"), scene.intrinsics)
    for preset in ("circle", "swing", "up-down", "side"):
        for frame, camera in enumerate(camera_path(preset, scene.intrinsics, 6)):
            assert renderer.render(frame, camera).shape == (3, 48, 64)
    # A camera pushed up to the near layer magnifies points: the exact footprint check runs.
    close = camera_path("zoom-in", scene.intrinsics, 6, magnitude=0.6)[3]
    assert FrameRenderer(cloud, scene.intrinsics).max_footprint(close) >= 2.0
    with pytest.raises(RuntimeError, match="meta"):
        renderer.render(3, close)


def test_fill_holes_keeps_covered_pixels_and_fills_the_rest():
    image = torch.rand(3, 16, 16)
    coverage = torch.ones(1, 16, 16)
    coverage[:, 5:9, 5:9] = 0
    filled = fill_holes(image * coverage, coverage)
    assert torch.allclose(filled[:, coverage[0] == 1], image[:, coverage[0] == 1], atol=1e-6)
    hole = filled[:, 5:9, 5:9]
    assert bool((hole >= image.min() - 1e-6).all()) and bool((hole <= image.max() + 1e-6).all())
    assert float(hole.std()) > 0  # a smooth interpolation, not a constant


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_starts_at_the_photo_and_loops_smoothly(preset):
    intrinsics = Intrinsics.for_photo(64, 40)
    path = camera_path(preset, intrinsics, 24, focus_depth=3.0)
    assert len(path) == 24
    assert torch.allclose(path[0].cam_to_world, torch.eye(4), atol=1e-6)

    def state(camera):  # pose and focal length, comparable across frames
        return torch.cat([camera.cam_to_world[:3].flatten(), torch.tensor([camera.intrinsics.fx / 100])])

    steps = [float((state(path[m + 1]) - state(path[m])).norm()) for m in range(23)]
    closing = float((state(path[0]) - state(path[23])).norm())
    assert closing <= 1.5 * max(steps) + 1e-9  # the last frame leads back to the first
    travel = max(float((state(path[m]) - state(path[0])).norm()) for m in range(24))
    assert (travel > 0.01) == (preset != "static")


def test_dolly_zoom_keeps_the_subject_size():
    intrinsics = Intrinsics.for_photo(64, 40)
    focus = 3.0
    path = camera_path("dolly-zoom", intrinsics, 20, focus_depth=focus, magnitude=1.0)
    subject = torch.tensor([[-0.3, 0.1, focus, 1.0], [0.3, 0.1, focus, 1.0]])
    background = torch.tensor([[-0.3, 0.1, 3 * focus, 1.0], [0.3, 0.1, 3 * focus, 1.0]])

    def width(camera, points):
        cam = (camera.world_to_cam() @ points.T).T
        return float(camera.intrinsics.fx * (cam[1, 0] / cam[1, 2] - cam[0, 0] / cam[0, 2]))

    sizes = [width(path[m], subject) for m in range(20)]
    assert max(sizes) - min(sizes) < 1e-3 * sizes[0]
    assert width(path[10], background) < 0.9 * width(path[0], background)  # the background shrinks


def test_ken_burns_end_crop_fills_the_frame():
    intrinsics = Intrinsics.for_photo(80, 48)
    end = CropWindow(30.0, 20.0, 40.0, 24.0)
    path = camera_path("ken-burns", intrinsics, 10, focus_depth=2.0, loop=False, overscan=0.0, end_crop=end)
    camera = path[9]
    corner_uv = torch.tensor([end.cx - end.width / 2, end.cy - end.height / 2])
    # The crop's corner, at the focus depth, projects to the image corner at the end.
    world = torch.tensor([(corner_uv[0] - intrinsics.cx) / intrinsics.fx * 2.0,
                          (corner_uv[1] - intrinsics.cy) / intrinsics.fy * 2.0, 2.0, 1.0])
    cam = camera.world_to_cam() @ world
    u = intrinsics.fx * cam[0] / cam[2] + intrinsics.cx
    v = intrinsics.fy * cam[1] / cam[2] + intrinsics.cy
    assert abs(float(u) - (intrinsics.cx - (end.width / 2) * 2)) < 0.6
    assert abs(float(v) - (intrinsics.cy - (end.height / 2) * 2)) < 0.6


def test_layers_split_at_the_depth_edge_and_hidden_parts_lie_behind():
    rgb = torch.rand(3, 48, 64)
    disparity = np.full((48, 64), 0.2, np.float32)
    disparity[20:40, 10:40] = 0.9  # a near box in front of a far wall
    assert len(choose_depth_edges(disparity)) == 1
    layered = build_layers(rgb, DepthMap(torch.from_numpy(1.0 / disparity)), band=6)
    assert len(layered.layers) == 2
    front, back = layered.layers
    assert bool(front.alpha[30, 20]) and not bool(front.alpha[5, 5])
    assert bool(back.hidden[30, 12]) and not bool(back.hidden[30, 25])  # only a band is inpainted
    hidden = back.hidden
    assert bool((back.depth[hidden] >= BEHIND_FACTOR / 0.9 - 1e-4).all())
    visible = back.alpha & ~back.hidden
    assert torch.equal(back.rgb[:, visible], rgb[:, visible])


def test_prepared_scene_round_trip(tmp_path):
    scene = make_scene(textured_image(32, 24), np.full((24, 32), 2.0, np.float32), torch.ones(2, 24, 32))
    path = str(tmp_path / "scene.cine")
    scene.save(path)
    loaded = PreparedScene.load(path)
    assert torch.equal(loaded.photo, scene.photo) and loaded.intrinsics == scene.intrinsics
    assert torch.equal(loaded.flow, scene.flow) and len(loaded.layered.layers) == 1
    (tmp_path / "bad.cine").write_bytes(b"garbage")
    with pytest.raises(CineError, match="not a readable prepared scene") as info:
        PreparedScene.load(str(tmp_path / "bad.cine"))
    assert "\n" not in str(info.value) and len(str(info.value)) < 160  # one line, not PyTorch's essay


def test_presets_at_strength_one_stay_within_half_the_nearest_distance():
    from cine_core.cameras.paths import path_reach, preset_path
    from cine_core.cameras.presets import CAMERA_PRESETS, MAX_REACH

    k = Intrinsics.for_photo(96, 64)
    for focus in (1.5, 50.0):  # a near subject, and a far one (Ken Burns' push-in grows with it)
        for preset in CAMERA_PRESETS:
            published = path_reach(camera_path(preset.key, k, 24, magnitude=preset.magnitude, focus_depth=focus))
            path = preset_path(preset.key, k, 24, strength=1.0, nearest=2.0, focus_depth=focus)
            reach = path_reach(path)
            assert reach <= MAX_REACH * 2.0 + 1e-6, (preset.key, focus, reach)
            # The published size where it fits, shrunk to the limit where it does not.
            assert reach == pytest.approx(min(published, MAX_REACH * 2.0), rel=1e-5, abs=1e-9), (preset.key, focus)
            # Strength scales the whole path.
            doubled = path_reach(preset_path(preset.key, k, 24, strength=2.0, nearest=2.0, focus_depth=focus))
            if preset.key != "dolly-zoom":  # stops short of the subject
                assert doubled == pytest.approx(2.0 * reach, rel=1e-5, abs=1e-9)
    ken_burns = path_reach(camera_path("ken-burns", k, 24, focus_depth=50.0))
    assert ken_burns > 5.0  # what the published size would do on a far subject: 10 of the nearest distances


def test_a_box_is_in_view_unless_behind_or_beside_the_camera():
    from cine_core.cameras.paths import box_in_view

    camera = Camera.source(Intrinsics.for_photo(96, 64))

    def box(low, high):
        return torch.tensor([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                             for z in (low[2], high[2])], dtype=torch.float64)

    assert box_in_view(camera, box((-1, -1, 5), (1, 1, 6)))  # ahead
    assert box_in_view(camera, box((-50, -50, -1), (50, 50, 1)))  # around the camera
    assert not box_in_view(camera, box((-1, -1, -6), (1, 1, -5)))  # behind
    assert not box_in_view(camera, box((20, -1, 5), (30, 1, 6)))  # right of the frame (half width 2.6 at z 5)
    assert not box_in_view(camera, box((-1, 10, 5), (1, 20, 6)))  # below it
    assert box_in_view(camera, box((2.4, -1, 5), (30, 1, 6)))  # reaches into the frame's right edge


def test_focus_depth_is_a_surface_never_the_sky():
    depth = np.full((12, 20), 50.0, np.float32)  # sky, at the conditioning's farthest depth
    depth[6:] = np.linspace(4.0, 1.0, 6, dtype=np.float32)[:, None]  # ground
    flow = torch.zeros(2, 12, 20)
    flow[0, :8] = 1.0  # the moving region is mostly sky, with two rows of ground
    scene = make_scene(textured_image(20, 12), depth, flow)
    assert scene.focus_depth() == pytest.approx(float(torch.from_numpy(depth[6:8]).median()), rel=1e-6)
    flow[0] = 0.0
    flow[0, :5] = 1.0  # sky alone moves: the subject is the photo's surface
    assert scene.focus_depth() == pytest.approx(float(torch.from_numpy(depth[6:]).median()), rel=1e-6)
