"""Cameras and camera paths.

Axes, units and pixel centres follow the conventions of :mod:`cine_core.cameras.intrinsics`: a
:class:`Camera` holds intrinsics and a 4x4 camera-to-world matrix, the source camera the identity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import CineError
from .intrinsics import Intrinsics, lift
from .presets import DEFAULT_MAGNITUDE, MAX_REACH, PRESETS


@dataclass(frozen=True)
class Camera:
    """A camera: intrinsics and a (4, 4) camera-to-world matrix (conventions: :mod:`cine_core.cameras.intrinsics`)."""

    intrinsics: Intrinsics
    cam_to_world: torch.Tensor

    @classmethod
    def source(cls, intrinsics: Intrinsics) -> "Camera":
        return cls(intrinsics, torch.eye(4))

    def world_to_cam(self) -> torch.Tensor:
        """The (4, 4) inverse pose."""
        rotation, position = self.cam_to_world[:3, :3], self.cam_to_world[:3, 3]
        inverse = torch.eye(4, dtype=self.cam_to_world.dtype)
        inverse[:3, :3] = rotation.T
        inverse[:3, 3] = -rotation.T @ position
        return inverse


def lift_to_world(uv: torch.Tensor, depth: torch.Tensor, source: Intrinsics) -> torch.Tensor:
    """(N, 3) world points of the source camera's pixels ``uv`` (N, 2) at ``depth`` (N,):
    :func:`~cine_core.cameras.intrinsics.lift` stacked."""
    return torch.stack(lift(uv[:, 0], uv[:, 1], depth, source), dim=1)


def look_at(position: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Camera-to-world matrix at ``position`` looking at ``target`` with world -y as up."""
    forward = target - position
    forward = forward / forward.norm()
    right = torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0]), forward)  # y is down in world space
    right = right / right.norm()
    down = torch.linalg.cross(forward, right)
    pose = torch.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, forward, position
    return pose


@dataclass(frozen=True)
class CropWindow:
    """A crop of the photo as the 3D Ken Burns seed gives it: centre and size in pixels."""

    cx: float
    cy: float
    width: float
    height: float

    @classmethod
    def parse(cls, text: str, option: str = "crop window") -> "CropWindow":
        """``"cx,cy,width,height"`` in pixels; ``option`` names it in errors."""
        shown = repr(text[:60])
        try:
            cx, cy, w, h = (float(v) for v in text.split(","))
        except ValueError:
            raise CineError(f"{option} {shown}: expected four numbers cx,cy,width,height") from None
        if not all(math.isfinite(v) for v in (cx, cy, w, h)):
            raise CineError(f"{option} {shown}: the numbers must be finite")
        if w <= 0 or h <= 0:
            raise CineError(f"{option} {shown}: width and height must be positive")
        return cls(cx, cy, w, h)

    def check_inside(self, width: int, height: int, option: str = "crop window") -> "CropWindow":
        """This window, refused unless it lies within a ``width`` x ``height`` photo (half a
        pixel of slack for rounding)."""
        left, right = self.cx - self.width / 2, self.cx + self.width / 2
        top, bottom = self.cy - self.height / 2, self.cy + self.height / 2
        if left < -0.5 or top < -0.5 or right > width + 0.5 or bottom > height + 0.5:
            raise CineError(f"{option} {self.cx:g},{self.cy:g},{self.width:g},{self.height:g} reaches outside "
                            f"the {width}x{height} photo; give centre and size in the photo's pixels")
        return self

    def scaled(self, factor: float) -> "CropWindow":
        """The same window in an image ``factor`` times the size."""
        return CropWindow(self.cx * factor, self.cy * factor, self.width * factor, self.height * factor)


def content_outline(depth: torch.Tensor, intrinsics: Intrinsics) -> tuple[torch.Tensor, ...]:
    """The edge of what the scene can show: world points of the photo's outermost pixel centres
    at their depths (a splatted pixel is complete only inside them).

    Args:
        depth: (H, W) depth of the visible surface.
        intrinsics: the source camera.

    Returns:
        Four (N, 3) tensors: the left, right, top and bottom edge.
    """
    height, width = depth.shape
    rows = torch.arange(height, dtype=torch.float32)
    cols = torch.arange(width, dtype=torch.float32)
    edges = ((torch.zeros_like(rows), rows, depth[:, 0]), (torch.full_like(rows, width - 1.0), rows, depth[:, -1]),
             (cols, torch.zeros_like(cols), depth[0]), (cols, torch.full_like(cols, height - 1.0), depth[-1]))
    return tuple(torch.stack(lift(u, v, z.float(), intrinsics), 1) for u, v, z in edges)


def content_zoom(camera: Camera, outline: tuple[torch.Tensor, ...]) -> float:
    """The zoom (focal length factor, >= 1) ``camera`` needs to see nothing past the content.

    Each edge of the projected :func:`content_outline` must lie on or beyond its side of the
    image (the left edge at or left of the first pixel centre, and so on); a zoom s about the
    principal point moves a projection u to cx + s (u - cx). Every point of an edge is checked,
    also those outside the frame, so a rotated view gets a little more zoom than it needs.
    inf when the outline passes behind the camera or across the principal point.
    """
    k = camera.intrinsics
    world_to_cam = camera.world_to_cam().double()
    sides = ((0, k.cx, 0.0), (0, k.cx, k.width - 1.0), (1, k.cy, 0.0), (1, k.cy, k.height - 1.0))
    need = 1.0
    for edge, (axis, centre, target) in zip(outline, sides):
        points = edge.double() @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
        z = points[:, 2]
        if bool((z <= 1e-6).any()):
            return float("inf")
        focal = k.fx if axis == 0 else k.fy
        offset = focal * points[:, axis] / z
        reach = target - centre
        # s * offset must reach ``reach``: impossible when the offset points the other way.
        if bool((offset * reach <= 0).any()):
            return float("inf")
        need = max(need, float((reach / offset).max()))
    return need


def content_warning(cameras, outline: tuple[torch.Tensor, ...], first_frame: int = 0) -> str | None:
    """A one-line warning when a (keyframed) camera sees past the photo's edge, else None.

    Beyond the content there is only the smeared colour of its border. ``cameras``: a sequence
    of :class:`Camera` (a :class:`CameraPath`), the first one showing ``first_frame``.
    """
    needs = [content_zoom(camera, outline) for camera in cameras]
    frames = [first_frame + index for index, need in enumerate(needs) if need > 1.0 + 1e-3]
    if not frames:
        return None
    worst = max(needs)
    fix = ("it turns too far for any zoom" if not math.isfinite(worst)
           else f"zoom in by {100.0 * (worst - 1.0):.0f} %")
    return (f"the camera sees past the photo's edge at {len(frames)} frame(s) ({frames[0]}-{frames[-1]}): "
            f"{fix} or move it less")


@dataclass(frozen=True)
class CameraPath:
    """One camera per output frame."""

    cameras: tuple[Camera, ...]

    def __len__(self) -> int:
        return len(self.cameras)

    def __getitem__(self, index: int) -> Camera:
        return self.cameras[index]


def path_reach(path: CameraPath) -> float:
    """The largest distance of the path's cameras from the source camera, in scene units."""
    return max(float(camera.cam_to_world[:3, 3].norm()) for camera in path.cameras)


def preset_path(preset: str, intrinsics: Intrinsics, num_frames: int, *, strength: float, nearest: float,
                focus_depth: float, outline: tuple[torch.Tensor, ...] | None = None,
                loop: bool = True) -> CameraPath:
    """A preset path sized for the scene: at ``strength`` 1 the published magnitude, made smaller
    where it would take the camera farther than :data:`~.presets.MAX_REACH` times the
    ``nearest`` depth from the source camera (Ken Burns, whose push-in grows with the focus
    depth, on a far subject); ``strength`` multiplies that.

    Every preset's camera offset grows linearly with its magnitude (dolly-zoom's stops short
    of the subject), so one rescale fits it. Other arguments as :func:`camera_path`.
    """
    magnitude = DEFAULT_MAGNITUDE.get(preset, 0.0)
    published = camera_path(preset, intrinsics, num_frames, magnitude=magnitude, focus_depth=focus_depth,
                            loop=loop)
    reach, limit = path_reach(published), MAX_REACH * nearest
    if reach > limit:
        magnitude *= limit / reach
    return camera_path(preset, intrinsics, num_frames, magnitude=magnitude * strength, focus_depth=focus_depth,
                       loop=loop, outline=outline)


def box_in_view(camera: Camera, corners: torch.Tensor) -> bool:
    """Whether any part of the box with these (8, 3) world ``corners`` may lie in ``camera``'s
    view: False only when all corners lie behind the camera or beyond one side of its frame
    (each side is a plane through the camera's centre, so the test is exact for the box's
    corners and conservative for the box)."""
    k = camera.intrinsics
    world_to_cam = camera.world_to_cam().double()
    points = corners.double() @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
    x, y, z = points.unbind(1)
    # u >= -0.5, u <= W - 0.5 and the same for v, multiplied by z so points behind count too.
    outside = (z <= 0, k.fx * x + (k.cx + 0.5) * z < 0, k.fx * x + (k.cx + 0.5 - k.width) * z > 0,
               k.fy * y + (k.cy + 0.5) * z < 0, k.fy * y + (k.cy + 0.5 - k.height) * z > 0)
    return not any(bool(side.all()) for side in outside)


def _phase(frame: int, num_frames: int, loop: bool) -> float:
    """Path parameter in [0, 1]: 0 -> 1 -> 0 smoothly over a loop, 0 -> 1 eased otherwise."""
    if loop:
        return 0.5 - 0.5 * math.cos(2.0 * math.pi * frame / num_frames)
    s = frame / max(1, num_frames - 1)
    return 0.5 - 0.5 * math.cos(math.pi * s)


def _translation(position: tuple[float, float, float]) -> torch.Tensor:
    pose = torch.eye(4)
    pose[:3, 3] = torch.tensor(position)
    return pose


def camera_path(preset: str, intrinsics: Intrinsics, num_frames: int, *,
                magnitude: float | None = None, focus_depth: float = 2.0, loop: bool = True,
                overscan: float = 0.05, outline: tuple[torch.Tensor, ...] | None = None,
                start_crop: CropWindow | None = None, end_crop: CropWindow | None = None) -> CameraPath:
    """Build one of the preset paths.

    With ``loop`` every path starts at the source camera and returns to it, so the rendered
    video loops seamlessly (frame ``num_frames`` would equal frame 0). Without it the camera goes
    once from the start to the end pose.

    Args:
        preset: one of :data:`PRESETS`.
        intrinsics: the source camera's intrinsics (the output has the same image size).
        num_frames: number of output frames.
        magnitude: largest camera offset in scene units (ken-burns: fraction of the crop change);
            defaults to :data:`DEFAULT_MAGNITUDE`.
        focus_depth: depth of the subject: the point swing orbits, the depth whose size
            dolly-zoom keeps, and the depth at which ken-burns crops are matched.
        overscan: without ``outline``, moving paths zoom in by this fraction so the image
            borders, which no point covers once the camera moves, stay out of frame (the
            published method crops 32 px).
        outline: the scene's :func:`content_outline`: moving paths other than ken-burns then
            zoom in by the least factor (:func:`content_zoom`, the same for every frame) that
            keeps every frame inside the content.
        start_crop, end_crop: ken-burns crop windows in source pixels (default: whole photo to a
            centred crop of 80%).
    """
    if preset not in PRESETS:
        raise CineError(f"unknown camera path {preset!r}; choose one of {', '.join(PRESETS)}")
    if num_frames < 1:
        raise CineError("the clip needs at least one frame")
    if focus_depth <= 0:
        raise CineError("focus depth must be positive")
    mag = DEFAULT_MAGNITUDE[preset] if magnitude is None else float(magnitude)
    # Ken Burns windows are what the user asked to see, so they keep the plain overscan.
    fit_content = outline is not None and preset not in ("static", "ken-burns")
    view = intrinsics if preset == "static" or fit_content else intrinsics.zoomed(1.0 + overscan)
    width, height = intrinsics.width, intrinsics.height
    if preset == "ken-burns":
        start_crop = start_crop or CropWindow(intrinsics.cx, intrinsics.cy, width, height)
        end_crop = end_crop or CropWindow(intrinsics.cx, intrinsics.cy, 0.8 * width, 0.8 * height)
    cameras = []
    for frame in range(num_frames):
        s = _phase(frame, num_frames, loop)
        angle = 2.0 * math.pi * frame / num_frames if loop else math.pi * s
        current = view
        if preset == "static":
            pose = torch.eye(4)
        elif preset == "up-down":
            pose = _translation((0.0, -mag * math.sin(angle), 0.0))
        elif preset == "side":
            pose = _translation((-mag * math.sin(angle), 0.0, 0.0))
        elif preset == "zoom-in":
            pose = _translation((0.0, 0.0, mag * s))
        elif preset == "circle":
            # A circle in the image plane through the source position, plus a gentle push in.
            pose = _translation((mag * 0.45 * math.sin(angle), mag * 0.45 * (1 - math.cos(angle)) / 2,
                                 mag * s))
        elif preset == "swing":
            # An arc around the subject: sideways with a push in, always aimed at the focus point.
            position = torch.tensor([-mag * math.sin(angle), 0.0, mag * 0.5 * (1 - math.cos(angle))])
            pose = look_at(position, torch.tensor([0.0, 0.0, focus_depth]))
        elif preset == "dolly-zoom":
            # Move in by d and widen the lens by (Z - d) / Z: the subject at depth Z keeps its
            # size while the background stretches (Hitchcock's vertigo effect).
            dolly = min(mag * s, 0.9 * focus_depth)
            pose = _translation((0.0, 0.0, dolly))
            current = view.zoomed((focus_depth - dolly) / focus_depth)
        else:  # ken-burns
            # A crop of width w around (u, v) seen at the focus depth equals a camera moved to
            # put (u, v) at the centre and pushed in until the subject fills w pixels.
            def crop_position(crop: CropWindow) -> tuple[float, float, float]:
                zoom = min(width / crop.width, height / crop.height)
                push = focus_depth * (1.0 - 1.0 / zoom)
                return ((crop.cx - intrinsics.cx) * focus_depth / intrinsics.fx,
                        (crop.cy - intrinsics.cy) * focus_depth / intrinsics.fy, push)

            start, end = crop_position(start_crop), crop_position(end_crop)
            amount = mag * s
            pose = _translation(tuple(a + (b - a) * amount for a, b in zip(start, end)))
        cameras.append(Camera(current, pose))
    if fit_content:
        zoom = max(content_zoom(camera, outline) for camera in cameras)
        if not math.isfinite(zoom):
            raise CineError(f"the {preset} path turns the camera away from the photo; "
                            "make it move less (a smaller magnitude)")
        cameras = [Camera(camera.intrinsics.zoomed(zoom), camera.cam_to_world) for camera in cameras]
    return CameraPath(tuple(cameras))
