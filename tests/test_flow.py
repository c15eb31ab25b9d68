"""The Eulerian flow from annotations: per-region interpolation, words, speed, confinement."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cine_core.io.annotations import HintArrow, MotionAnnotation
from cine_core.errors import CineError
from cine_core.motion.flow import (ARROW_PIXELS_PER_FRAME_UNIT, dense_hint, eulerian_flow, extend_flow, feather_flow,
                            motion_regions)
from cine_core.motion.integrate import integrate_positions


#: The length of an arrow that means one pixel per frame.
UNIT = ARROW_PIXELS_PER_FRAME_UNIT


def two_regions() -> MotionAnnotation:
    """A 'waterfall' on top falling down, a 'lake' below flowing right, both at one pixel per
    frame; drawn as two shapes."""
    regions = np.zeros((60, 80), np.int32)
    regions[5:30, 30:50] = 1
    regions[30:55, 5:75] = 2
    hints = [HintArrow((40, 10), (40, 10 + UNIT)), HintArrow((20, 45), (20 + UNIT, 45))]
    return MotionAnnotation((80, 60), regions > 0, hints, regions)


def test_an_arrow_of_200_pixels_means_one_pixel_per_frame():
    """The documented speed convention (calibrated against real footage, see the constant's
    comment), in the photo's pixels at any working size."""
    arrow = HintArrow((10.0, 20.0), (10.0, 220.0))  # 200 photo pixels, downwards
    full = eulerian_flow(MotionAnnotation((400, 300), np.ones((300, 400), bool), [arrow]))
    assert torch.allclose(full[1], torch.ones(300, 400)) and float(full[0].abs().max()) == 0.0
    half = MotionAnnotation((400, 300), np.ones((300, 400), bool), [arrow]).at_size(200, 150)
    assert torch.allclose(eulerian_flow(half)[1], torch.full((150, 200), 0.5))  # half-size pixels


def test_dense_hint_is_deterministic_and_exact_at_a_single_arrow():
    arrows = torch.tensor([[10.0, 10.0, 10.0 + UNIT, 10.0]])
    field = dense_hint(arrows, 64, 32)
    assert torch.allclose(field[0], torch.ones(32, 64)) and torch.allclose(field[1], torch.zeros(32, 64))
    two = torch.tensor([[5.0, 5.0, 5.0 + UNIT, 5.0], [60.0, 28.0, 60.0, 28.0 + UNIT]])
    assert torch.equal(dense_hint(two, 64, 32), dense_hint(two, 64, 32))
    far = dense_hint(two, 64, 32)
    assert float(far[0, 0, 0]) > 0.98 and float(far[1, 31, 63]) > 0.98  # nearest arrow wins at its end


def test_each_region_follows_its_own_arrows():
    flow = eulerian_flow(two_regions())
    fall, lake = flow[:, 15, 40], flow[:, 45, 40]
    assert float(fall[1]) == pytest.approx(1.0, abs=0.02) and abs(float(fall[0])) < 0.02
    assert float(lake[0]) == pytest.approx(1.0, abs=0.02) and abs(float(lake[1])) < 0.02
    assert float(flow[:, 2, 2].abs().sum()) == 0.0  # still outside the mask
    assert torch.allclose(eulerian_flow(two_regions(), flow_scale=2.0), 2 * flow)


def test_particles_stay_in_their_region():
    annotation = two_regions()
    flow = eulerian_flow(annotation)
    regions = torch.from_numpy(motion_regions(annotation))
    fall_only = flow * (regions == 1)
    final_y = float(integrate_positions(fall_only, torch.tensor([[40.0, 20.0]]), 40)[-1, 0, 1])
    assert 28.0 <= final_y <= 30.0  # stopped at the fall's lower edge, not carried along the lake


def test_worded_direction_and_its_errors():
    mask = np.zeros((40, 60), bool)
    mask[10:30, 10:50] = True
    flow = eulerian_flow(MotionAnnotation((60, 40), mask), direction=(0.0, -1.0, 2.0))
    assert float(flow[1, 20, 30]) == pytest.approx(-2.0 * 60 / 1280, rel=1e-4)
    with pytest.raises(CineError, match="no hint arrows"):
        eulerian_flow(MotionAnnotation((60, 40), mask))
    with pytest.raises(CineError, match="empty"):
        eulerian_flow(MotionAnnotation((60, 40), np.zeros((40, 60), bool)), direction=(1.0, 0.0, 1.0))
    with pytest.raises(CineError, match="nothing moves"):
        eulerian_flow(MotionAnnotation((60, 40)))


def test_extended_flow_reaches_neighbours_with_full_speed():
    flow = torch.zeros(2, 40, 40)
    flow[0, 10:30, 10:20] = 1.5
    extended = extend_flow(flow, 4)
    assert torch.equal(extended[:, 10:30, 10:20], flow[:, 10:30, 10:20])
    assert float(extended[0, 20, 22]) == pytest.approx(1.5, abs=1e-4)  # beside: same velocity
    assert float(extended[0, 20, 30]) == 0.0  # beyond the reach: still


def test_a_region_drawn_just_short_of_the_frame_reaches_it():
    """A mask 3 px short of the left and top edges (as annotators draw) moves at full speed up to
    the frame, not feathered towards a sliver of still pixels; a still bank 40 px wide at the
    right edge keeps its border."""
    mask = np.zeros((300, 400), bool)
    mask[3:, 3:360] = True
    annotation = MotionAnnotation((400, 300), mask, [HintArrow((200, 150), (200 + UNIT, 150))])
    regions = torch.from_numpy(motion_regions(annotation))
    flow = feather_flow(eulerian_flow(annotation), regions)
    assert bool((regions[:, :3] > 0).all()) and bool((regions[:3, :360] > 0).all())
    assert float(flow[0, 150, 0]) == pytest.approx(1.0, abs=0.02)
    assert float(flow[0, 0, 200]) == pytest.approx(1.0, abs=0.02)
    assert float(flow[:, :, 360:].abs().max()) == 0.0 and float(flow[0, 150, 359]) < 0.05


def test_a_narrow_region_still_reaches_its_speed():
    """A fall 16 px wide in a 400 px photo (the ramp would be 12 px from each side) moves at the
    arrows' speed along its middle; the ramp shrinks to half its inradius."""
    mask = np.zeros((300, 400), bool)
    mask[20:280, 192:208] = True
    annotation = MotionAnnotation((400, 300), mask, [HintArrow((200, 30), (200, 30 + UNIT))])
    flow = feather_flow(eulerian_flow(annotation), torch.from_numpy(motion_regions(annotation)))
    assert float(flow[1, 150, 199:201].min()) == pytest.approx(1.0, abs=0.02)
    assert float(flow[1, 150, 192]) < 0.5  # still feathered at its edge


def _three_arrows(spacing: float, width: int = 640, height: int = 360) -> list[HintArrow]:
    """Three arrows ``spacing`` of the width apart along the middle row, the middle one reversed."""
    xs = [width / 2 - spacing * width, width / 2, width / 2 + spacing * width]
    return [HintArrow((x, height / 2), (x, height / 2 + (-60.0 if i == 1 else 60.0))) for i, x in enumerate(xs)]


@pytest.mark.parametrize("spacing", [0.05, 0.1, 0.25])
def test_each_arrow_rules_its_neighbourhood_and_a_reversed_one_reverses_it(spacing):
    arrows = _three_arrows(spacing)
    flow = eulerian_flow(MotionAnnotation((640, 360), np.ones((360, 640), bool), arrows))
    for arrow in arrows:
        x, y = (int(round(v)) for v in arrow.start)
        wanted = np.subtract(arrow.end, arrow.start) / UNIT
        got = flow[:, y, x].numpy()
        ratio = np.linalg.norm(got) / np.linalg.norm(wanted)
        angle = np.degrees(np.arccos(np.clip(got @ wanted / (np.linalg.norm(got) * np.linalg.norm(wanted)), -1, 1)))
        assert angle <= 20 and 0.75 <= ratio <= 1.3, (arrow, angle, ratio)
    # Between the reversed arrow and its neighbours the field shears smoothly through zero.
    row = flow[1, 180, 100:540].numpy()
    assert np.abs(np.diff(row)).max() < 0.1 * np.abs(row).max() / max(spacing, 0.05)


def test_one_arrow_alone_drives_its_whole_region():
    arrow = HintArrow((100.0, 100.0), (100.0 + UNIT, 100.0))
    flow = eulerian_flow(MotionAnnotation((400, 300), np.ones((300, 400), bool), [arrow]))
    assert torch.allclose(flow[0], torch.ones(300, 400)) and float(flow[1].abs().max()) == 0.0


def _streaked(width: int = 240, height: int = 180, degrees: float = 30.0) -> torch.Tensor:
    """(3, H, W) a photo of straight streaks running ``degrees`` off the vertical (a slanting fall)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = np.radians(degrees)
    across = xs * np.cos(angle) + ys * np.sin(angle)  # constant along (-sin, cos): the streaks
    grey = 0.6 + 0.25 * np.sin(across * 0.9)
    return torch.from_numpy(np.repeat(grey[None], 3, axis=0).astype(np.float32))


def test_worded_direction_follows_the_streaks_and_an_arrow_wins_at_its_start():
    photo = _streaked()
    mask = np.ones((180, 240), bool)
    annotation = MotionAnnotation((240, 180), mask, [])
    flow = eulerian_flow(annotation, direction=(0.0, 1.0, 1.0), photo=photo)
    streak = np.array([-np.sin(np.radians(30.0)), np.cos(np.radians(30.0))])
    centre = flow[:, 90, 120].numpy()
    assert centre @ streak / np.linalg.norm(centre) > 0.97  # along the streaks, downwards
    assert np.linalg.norm(centre) == pytest.approx(240 / 1280, rel=0.02)  # the words' speed
    arrow = HintArrow((120.0, 90.0), (120.0, 90.0 + UNIT))
    steered = eulerian_flow(MotionAnnotation((240, 180), mask, [arrow]), photo=photo)
    at_start = steered[:, 90, 120].numpy()
    assert at_start[1] / np.linalg.norm(at_start) > 0.99  # the arrow rules where it starts
    far = steered[:, 10, 10].numpy()
    assert far @ streak / np.linalg.norm(far) > far[1] / np.linalg.norm(far)  # away from it, the streaks


@pytest.mark.parametrize("second", ["agrees", "disagrees"])
def test_arrows_that_agree_rule_the_ground_between_them(second):
    # Two arrows far apart on streaked water (streaks 30 degrees off vertical): both straight
    # down, or the second 60 degrees off to the right.
    photo = _streaked()
    mask = np.ones((180, 240), bool)
    turn = 0.0 if second == "agrees" else np.radians(60.0)
    arrows = [HintArrow((30.0, 90.0), (30.0, 90.0 + UNIT)),
              HintArrow((210.0, 90.0), (210.0 + np.sin(turn) * UNIT, 90.0 + np.cos(turn) * UNIT))]
    annotation = MotionAnnotation((240, 180), mask, arrows)
    steered = eulerian_flow(annotation, photo=photo)[:, 90, 120].numpy()
    interpolated = eulerian_flow(annotation)[:, 90, 120].numpy()  # no photo: the arrows alone
    cosine = steered @ interpolated / np.linalg.norm(steered) / np.linalg.norm(interpolated)
    if second == "agrees":
        assert cosine > 0.9998  # within about 1 degree: the artist's direction, not the streaks'
    else:
        assert cosine < np.cos(np.radians(5.0))  # no agreement to keep: the streaks steer
