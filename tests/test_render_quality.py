"""Known-answer tests of frame quality: synthetic scenes whose right picture is known,
one per defect a user sees in the clip."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cine_core.motion.animation import animate_points
from cine_core.cameras.paths import PRESETS, Camera, Intrinsics, camera_path, content_outline, content_warning
from cine_core.depth.conditioning import DepthMap
from cine_core.motion.flow import feather_flow
from cine_core.layers.ldi import DepthLayer, LayeredScene, build_layers
from cine_core.rendering.frames import FrameRenderer
from cine_core.scene import PreparedScene

from conftest import textured_image, write_scene


def scene_from(photo: torch.Tensor, depth: torch.Tensor, flow: torch.Tensor,
               layers: list[DepthLayer] | None = None) -> PreparedScene:
    """A scene straight from tensors: (3, H, W) photo, (H, W) depth, (2, H, W) flow; one layer
    (the photo) unless ``layers`` are given."""
    height, width = depth.shape
    if layers is None:
        layers = [DepthLayer(photo.clone(), depth.clone(), torch.ones(height, width, dtype=torch.bool),
                             torch.zeros(height, width, dtype=torch.bool))]
    return PreparedScene(photo, Intrinsics.for_photo(width, height), depth, LayeredScene(layers, []), flow,
                         flow.clone())


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    return (image * 255.0 + 0.5).to(torch.uint8)


def stripes(width: int, height: int, seed: int = 0) -> torch.Tensor:
    """(W,) grey levels of vertical stripes 2-6 px wide with random levels in [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    levels = []
    while len(levels) < width:
        levels += [rng.uniform(0.1, 0.9)] * int(rng.integers(2, 7))
    return torch.tensor(levels[:width], dtype=torch.float32)


def test_fluid_never_shows_the_surface_inpainted_under_it():
    # A green textured stripe flows right across the frame, over a red surface inpainted 1 %
    # behind it: too close for any depth test. Where the fluid has flowed away in one cloud
    # (at the left edge early in the loop, the right edge late) the other cloud has fluid.
    height, width, frames = 48, 96, 12
    rng = np.random.default_rng(1)
    photo = torch.zeros(3, height, width)
    photo[1] = torch.from_numpy(rng.uniform(0.4, 1.0, (height, width)).astype(np.float32))
    depth = torch.full((height, width), 2.0)
    stripe = torch.zeros(height, width, dtype=torch.bool)
    stripe[16:32] = True
    red = torch.zeros(3, height, width)
    red[0] = 1.0
    layers = [DepthLayer(photo.clone(), depth.clone(), torch.ones(height, width, dtype=torch.bool),
                         torch.zeros(height, width, dtype=torch.bool)),
              DepthLayer(red, depth * 1.01, stripe.clone(), stripe.clone())]
    flow = torch.zeros(2, height, width)
    flow[0, stripe] = 1.5
    scene = scene_from(photo, depth, flow, layers)
    renderer = FrameRenderer(animate_points(scene, frames), scene.intrinsics)
    source = Camera.source(scene.intrinsics)
    for frame in range(frames + 1):
        image = renderer.render(frame, source)
        assert float(image[0, stripe].max()) < 0.02, frame  # no red inside the fluid
        assert float(image[1, stripe].min()) > 0.2, frame


def test_no_pixel_outside_the_moving_region_changes():
    # A disc of fluid flowing diagonally out of its border, static camera: every pixel outside
    # the disc keeps the photo's value in every frame, and the velocity falls to zero at the
    # disc's border (its outline does not travel with the fluid).
    height, width, frames = 64, 96, 16
    photo = torch.from_numpy(textured_image(width, height)).permute(2, 0, 1).float() / 255.0
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    disc = (xs - 48) ** 2 + (ys - 32) ** 2 <= 22 ** 2
    flow = torch.zeros(2, height, width)
    flow[0, disc], flow[1, disc] = 1.3, 0.8
    flow = feather_flow(flow, disc.to(torch.int32))
    speed = flow.norm(dim=0)
    outside = torch.nn.functional.pad(~disc, (1, 1, 1, 1))
    rim = disc & (outside[:-2, 1:-1] | outside[2:, 1:-1] | outside[1:-1, :-2] | outside[1:-1, 2:])
    assert float(speed[rim].max()) < 0.3 * float(speed.max())
    assert float(speed[32, 48]) == pytest.approx(float(np.hypot(1.3, 0.8)), rel=1e-5)
    scene = scene_from(photo, torch.full((height, width), 2.0), flow)
    cloud = animate_points(scene, frames)
    renderer = FrameRenderer(cloud, scene.intrinsics)
    source = Camera.source(scene.intrinsics)
    still = to_uint8(photo)
    for frame in range(frames + 1):
        image = to_uint8(renderer.render(frame, source))
        assert torch.equal(image[:, ~disc], still[:, ~disc]), frame
    assert float((to_uint8(renderer.render(frames // 2, source)).float() - still.float())[:, disc].abs().mean()) > 10


def test_hidden_surface_moving_under_still_content_never_shows():
    # Water (rows 0-19) flows up past a still blade (column 24, rows 10 and below) standing on
    # still ground (rows 20 and below). The blade's tip fades into the water's depth (2.0)
    # while its stem is nearer (1.9); red surface inpainted behind the stem lies 6 % behind
    # it (2.014) and moves with the water (hidden flow). Where it passes behind the tip it is
    # within 1 % of the tip's depth: it must stay hidden there, as behind the stem, so every
    # still pixel keeps the photo's value in every frame.
    height, width, frames = 32, 48, 8
    rng = np.random.default_rng(3)
    photo = torch.from_numpy(rng.uniform(0.2, 0.6, (3, height, width)).astype(np.float32))
    blade = torch.zeros(height, width, dtype=torch.bool)
    blade[10:, 24] = True
    water = torch.zeros(height, width, dtype=torch.bool)
    water[:20] = True
    water &= ~blade
    depth = torch.full((height, width), 2.0)
    depth[20:] = 1.9
    depth[11:, 24] = 1.9
    behind = blade.clone()
    behind[:11] = False
    behind[20:] = False
    red = torch.zeros(3, height, width)
    red[0] = 1.0
    layers = [DepthLayer(photo.clone(), depth.clone(), torch.ones(height, width, dtype=torch.bool),
                         torch.zeros(height, width, dtype=torch.bool)),
              DepthLayer(red, depth * 1.06, behind.clone(), behind.clone())]
    flow = torch.zeros(2, height, width)
    flow[1, water] = -1.0
    hidden_flow = torch.zeros(2, height, width)
    hidden_flow[1, :20] = -1.0
    scene = PreparedScene(photo, Intrinsics.for_photo(width, height), depth, LayeredScene(layers, []), flow,
                          hidden_flow)
    renderer = FrameRenderer(animate_points(scene, frames), scene.intrinsics)
    source = Camera.source(scene.intrinsics)
    still = to_uint8(photo)
    for frame in range(frames + 1):
        image = to_uint8(renderer.render(frame, source))
        assert torch.equal(image[:, ~water], still[:, ~water]), frame


def test_mid_loop_fluid_keeps_the_photos_gradient_energy():
    # Random stripes across the flow, sub-pixel speed: bilinear splatting and averaging two
    # clouds used to halve the texture's gradient energy at mid-loop.
    height, width, frames = 48, 160, 20
    photo = stripes(width, height).expand(3, height, width).contiguous()
    flow = torch.zeros(2, height, width)
    flow[0] = 1.3
    scene = scene_from(photo, torch.full((height, width), 2.0), flow)
    renderer = FrameRenderer(animate_points(scene, frames), scene.intrinsics)
    middle = renderer.render(frames // 2, Camera.source(scene.intrinsics))

    def energy(image: torch.Tensor) -> float:
        inner = image[:, 4:-4, 30:-30]  # away from where fluid enters and leaves the frame
        return float((inner[:, :, 1:] - inner[:, :, :-1]).square().mean())

    assert energy(middle) == pytest.approx(energy(photo), rel=0.2)


def test_frame_n_equals_frame_0_exactly_for_both_renderers(tmp_path):
    from cine_core.nets.feature_net import FeatureNet
    from cine_core.nets.img_decoder import ImageDecoder
    from cine_core.rendering.decoder import NeuralFrameRenderer
    from cine_core.pipeline.run import PrepareOptions, SceneInputs, prepare_scene

    scene = prepare_scene(SceneInputs.find(write_scene(str(tmp_path / "scene"))), PrepareOptions(backend="classical"))
    frames = 6
    torch.manual_seed(0)
    renderers = [FrameRenderer(animate_points(scene, frames), scene.intrinsics),
                 NeuralFrameRenderer(scene, frames, FeatureNet().eval(), ImageDecoder().eval())]
    for renderer in renderers:
        for preset in ("static", "circle"):
            camera = camera_path(preset, scene.intrinsics, frames, outline=scene.content_outline())[0]
            first, last = renderer.render(0, camera), renderer.render(frames, camera)
            assert torch.equal(first, last), (type(renderer).__name__, preset)
            assert not torch.equal(first, renderer.render(frames // 2, camera))
    # Loop time 0 from the source camera is the photo itself, to the last 8-bit level.
    still = renderers[0].render(0, Camera.source(scene.intrinsics))
    assert torch.equal(to_uint8(still), to_uint8(scene.photo))


def test_render_frames_past_the_loop_repeats_the_loop(tmp_path):
    """The loop the CLI runs, given a path longer than the loop (as the evaluation renders frame
    N): its first N frames are the CLI's clip and frame N is frame 0 again."""
    from cine_core.pipeline.run import PrepareOptions, SceneInputs, prepare_scene, render_frames

    scene = prepare_scene(SceneInputs.find(write_scene(str(tmp_path / "scene"))), PrepareOptions(backend="classical"))
    frames = 4
    clip = list(render_frames(scene, camera_path("static", scene.intrinsics, frames), backend="classical"))
    longer = list(render_frames(scene, camera_path("static", scene.intrinsics, frames + 1), backend="classical",
                                loop_frames=frames))
    assert len(longer) == frames + 1
    assert all(np.array_equal(a, b) for a, b in zip(clip, longer))
    assert np.array_equal(longer[frames], longer[0]) and not np.array_equal(longer[frames // 2], longer[0])


def test_fine_stripes_flowing_under_a_push_in_show_no_moire():
    # Vertical stripes of 3.3 px period flow diagonally while the camera magnifies 1.5x: moved
    # points no longer lie on the pixel grid, and 1-2 px footprints used to print a cross-hatch
    # over the fluid. The magnified photo varies along x only, so its spectrum lies on the row
    # k_y = 0 (give or take the window's main lobe): any peak off that row is moire.
    height, width, frames, zoom = 96, 128, 16, 1.5
    xs = torch.arange(width, dtype=torch.float32)
    photo = (0.5 + 0.35 * torch.sin(2 * np.pi * xs / 3.3)).expand(3, height, width).contiguous()
    flow = torch.zeros(2, height, width)
    flow[0], flow[1] = 0.37, 0.61
    scene = scene_from(photo, torch.full((height, width), 2.0), flow)
    renderer = FrameRenderer(animate_points(scene, frames), scene.intrinsics)
    camera = Camera(scene.intrinsics.zoomed(zoom), torch.eye(4))
    for frame in (0, frames // 4, frames // 2):
        image = renderer.render(frame, camera)[0, 16:-16, 16:-16]  # away from the frame's edges
        window = torch.outer(torch.hann_window(image.shape[0]), torch.hann_window(image.shape[1]))
        magnitude = torch.fft.fft2((image - image.mean()) * window).abs()
        assert float(image.std()) > 0.15  # the stripes are there
        off_row = torch.fft.fftfreq(image.shape[0]).abs() * image.shape[0] > 2
        assert float(magnitude[off_row].max()) < 0.01 * float(magnitude.max()), frame


@pytest.mark.parametrize("slope", [0.0, 0.4])
def test_depth_step_gives_layers_and_the_revealed_band_comes_from_behind(slope, tmp_path):
    # A near red box in front of a far blue wall; the camera moves right, so the wall is
    # revealed right of the box. Those pixels must be wall (inpainted in the back layer), not
    # the box's colour stretched over them. With a slope (the wall's disparity rising towards
    # the bottom, as a landscape's ground does) no global cut follows the box's outline, and
    # the local depth edge still gets its layer.
    height, width = 48, 96
    rng = np.random.default_rng(2)
    photo = torch.zeros(3, height, width)
    photo[2] = torch.from_numpy(rng.uniform(0.5, 1.0, (height, width)).astype(np.float32))
    wall = 0.3 + slope * torch.linspace(0.0, 1.0, height)[:, None].expand(height, width)
    box = torch.zeros(height, width, dtype=torch.bool)
    box[:, 40:70] = True
    photo[:, box] = torch.tensor([0.9, 0.1, 0.1])[:, None]
    disparity = torch.where(box, (wall + 0.3).clamp(max=1.0), wall)
    depth = 1.0 / disparity
    layered = build_layers(photo, DepthMap(depth), band=12)
    assert len(layered.layers) >= 2
    behind = torch.stack([layer.hidden for layer in layered.layers[1:]]).any(0)
    assert bool(behind[:, 60:70].all())  # there is surface behind the box's right side
    scene = PreparedScene(photo, Intrinsics.for_photo(width, height), depth, layered,
                          torch.zeros(2, height, width), torch.zeros(2, height, width))
    # The scene file keeps every layer, the one of hidden surface included.
    scene.save(str(tmp_path / "step.cine"))
    scene = PreparedScene.load(str(tmp_path / "step.cine"))
    assert len(scene.layered.layers) == len(layered.layers)
    renderer = FrameRenderer(animate_points(scene, 2), scene.intrinsics)
    pose = torch.eye(4)
    pose[0, 3] = 0.1  # the box (depth <= 1.7) moves >= 5.6 px left, the wall (>= 2.5) <= 3.8 px
    image = renderer.render(0, Camera(scene.intrinsics, pose))
    shift = 96 * 0.1 / depth[:, 69]  # where the box's right edge goes, row by row
    for row in range(8, height - 8):
        edge = 69 - float(shift[row])
        revealed = image[:, row, int(edge) + 2:int(edge) + 4]
        assert float(revealed[2].min()) > 0.3 and float(revealed[0].max()) < 0.2, row


@pytest.mark.parametrize("preset", [p for p in PRESETS if p != "static"])
def test_preset_paths_never_look_past_the_content(preset):
    height, width, frames = 48, 80, 8
    photo = torch.from_numpy(textured_image(width, height)).permute(2, 0, 1).float() / 255.0
    depth = torch.linspace(2.5, 2.0, height)[:, None].expand(height, width).contiguous()  # a floor
    scene = scene_from(photo, depth, torch.zeros(2, height, width))
    renderer = FrameRenderer(animate_points(scene, frames), scene.intrinsics)
    outline = scene.content_outline()
    for magnitude in (None, 0.3):
        path = camera_path(preset, scene.intrinsics, frames, magnitude=magnitude, focus_depth=2.0,
                           outline=outline)
        assert content_warning(path, outline) is None
        for frame, camera in enumerate(path):
            # Inside the content even magnified points (spacing < 2 px) cover a quarter of every
            # pixel; a pixel past the content's edge gets nothing.
            coverage = renderer.splat_clouds(frame, camera).coverage.amax(0)
            assert float(coverage.min()) >= 0.25, (magnitude, frame)


def test_a_camera_beyond_the_content_gets_a_warning():
    intrinsics = Intrinsics.for_photo(80, 48)
    outline = content_outline(torch.full((48, 80), 2.0), intrinsics)
    pose = torch.eye(4)
    pose[1, 3] = -0.1  # up by 0.1 at depth 2 with f = 80: the top shows 4 px past the photo
    cameras = [Camera(intrinsics, torch.eye(4)), Camera(intrinsics, pose)]
    warning = content_warning(cameras, outline, first_frame=10)
    assert warning is not None and "at 1 frame(s) (11-11)" in warning and "zoom in by 21 %" in warning
    assert content_warning([Camera(intrinsics.zoomed(1.25), pose)], outline) is None


def test_a_surface_seen_closer_hides_the_one_behind_it_at_every_pixel():
    # Points of a near surface 1.3 px apart (the camera came closer) over a farther surface
    # with a point at every pixel: some pixels get only weak taps from the near points, and
    # the far surface must not show there (a regular pattern of dots on the near surface).
    from cine_core.rendering.splat import splat_points

    size = 40
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    far_uv = torch.stack([xs, ys], -1).reshape(-1, 2)
    near_uv = (far_uv[(far_uv < 30).all(1)] * 1.3 + 0.37)
    uv = torch.cat([near_uv, far_uv])
    z = torch.cat([torch.ones(len(near_uv)), torch.full((len(far_uv),), 2.0)])
    values = torch.cat([torch.ones(len(near_uv), 1), torch.zeros(len(far_uv), 1)])
    splatted = splat_points(uv, z, values, (size, size))
    inside = splatted.values[0, 0, 2:37, 2:37]  # the near surface spans 0.37 .. 38.07
    assert float(inside.min()) == 1.0


def test_fluid_flowing_in_front_of_farther_fluid_loops_without_a_jump():
    # Smoke rising from a near layer past smoke of a farther layer above it: the near points
    # keep their layer's depth, in front of the far smoke. The step from the last frame back to
    # the first must look like any other step (the depth test once handed that band to the
    # forward cloud until its time weight reached 0, and it vanished as the loop restarted).
    height, width, frames = 64, 48, 12
    # Smooth content, so a step of the flow changes little and a band from elsewhere in the loop shows.
    coarse = torch.from_numpy(np.random.default_rng(3).uniform(0.1, 0.9, (1, 3, 8, 6)).astype(np.float32))
    photo = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)[0]
    near = torch.zeros(height, width, dtype=torch.bool)
    near[32:] = True
    depth = torch.where(near, 1.0, 1.5)
    none = torch.zeros(height, width, dtype=torch.bool)
    layers = [DepthLayer(photo * near, torch.full_like(depth, 1.0), near.clone(), none.clone()),
              DepthLayer(photo * ~near, torch.full_like(depth, 1.5), ~near, none.clone())]
    flow = torch.zeros(2, height, width)
    flow[1, 8:56] = -1.5
    scene = scene_from(photo, depth, flow, layers)
    renderer = FrameRenderer(animate_points(scene, frames), scene.intrinsics)
    source = Camera.source(scene.intrinsics)
    clip = [renderer.render(frame, source) for frame in range(frames + 1)]
    steps = [float((clip[m + 1] - clip[m]).abs().mean()) for m in range(frames)]
    assert torch.equal(clip[frames], clip[0])
    assert steps[-1] <= 2.0 * float(np.median(steps[:-1])), steps
