"""Rendering with the official feature encoder and image decoder (``model_150000.pth``).

Per frame, as the published method (3D Cinemagraphy) renders with these two networks, with this
project's splatter in place of PyTorch3D:

1. once per clip, the feature net encodes every LDI layer (premultiplied RGBA, all layers in one
   batch: its BatchNorm uses the batch's statistics) into 32 channels at 1/4 size, upsampled
   bilinearly (``align_corners=True``) to full size; each point carries [r, g, b, 1, 32 features];
2. both clouds (forward- and backward-displaced) are projected with
   :meth:`~cine_core.rendering.frames.FrameRenderer.point_sets`, which appends the disparity, and splatted;
3. the 37-channel maps are assembled as PyTorch3D's compositor leaves them: every channel
   premultiplied by the rendered opacity (channel 3), the last channel the camera-space disparity
   1/z normalised to [0, 1] over every point at its place in the photo (the reference takes the
   range over both displaced clouds, which differ between frame N and frame 0, so its loop
   does not close exactly);
4. the decoder blends them with its learned ``alpha`` (``w = (1 - t) exp(alpha d) A`` and
   ``t exp(alpha d) A``) and decodes RGB; sizes it cannot take are padded and cropped back.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..cameras.paths import Camera, lift_to_world
from ..motion.animation import animate_points
from ..nets.img_decoder import MIN_SIZE as DECODER_MIN_SIDE
from ..scene import PreparedScene
from .frames import FrameRenderer, frame_time

FEATURE_CHANNELS = 32
#: Above this many pixels the feature net and the decoder work on a downscaled image (same field
#: of view) and the frame is upsampled. Measured on CPU in float32: the decoder needs ~2 GB at
#: 1280x720 and ~1.8 GB above baseline at 1920x1088 (channels_last), so 720p and 1080p photos run
#: at full size and anything larger stays within an 8 GB GPU.
MAX_NETWORK_PIXELS = 1920 * 1088
#: rendering channels before the appended disparity: r, g, b, opacity, 32 features
POINT_CHANNELS = 4 + FEATURE_CHANNELS


@torch.inference_mode()
def layer_values(feature_net: torch.nn.Module, scene: PreparedScene,
                 device: str | torch.device = "cpu", max_pixels: int = MAX_NETWORK_PIXELS) -> list[torch.Tensor]:
    """Per LDI layer the (36, H, W) values its points carry: [rgb, 1, 32 features].

    Args:
        feature_net: loaded :class:`~cine_core.nets.feature_net.FeatureNet` (eval mode; its
            BatchNorm uses batch statistics regardless).
        scene: the prepared scene.
        device: where to run the network.
        max_pixels: larger layers are encoded at a reduced size (area resampling); the features
            are upsampled to full size anyway.
    """
    layers = scene.layered.layers
    height, width = layers[0].alpha.shape
    rgba = torch.stack([torch.cat([layer.rgb * layer.alpha[None].float(), layer.alpha[None].float()])
                        for layer in layers]).to(device)
    factor = min(1.0, (max_pixels / (height * width)) ** 0.5)
    if factor < 1.0:
        rgba = F.interpolate(rgba, size=(max(16, round(height * factor)), max(16, round(width * factor))),
                             mode="area")
    features = feature_net(rgba)
    del rgba
    values = []
    for index, layer in enumerate(layers):
        upsampled = F.interpolate(features[index:index + 1], size=(height, width), mode="bilinear",
                                  align_corners=True)[0].float().cpu()
        values.append(torch.cat([layer.rgb.float(), torch.ones(1, height, width), upsampled]))
    return values


class NeuralFrameRenderer:
    """Frames of the loop rendered by the image decoder (the same interface as FrameRenderer).

    Args:
        scene: the prepared scene.
        num_frames: loop length N.
        feature_net, decoder: loaded networks (eval mode).
        integrator: ``"euler"`` or ``"rk4"``.
        device: where points are splatted and the decoder runs.
        half: run the decoder under float16 autocast (CUDA only).
        max_pixels: frames larger than this are decoded at a reduced size and upsampled
            (memory); see :data:`MAX_NETWORK_PIXELS`.
    """

    def __init__(self, scene: PreparedScene, num_frames: int, feature_net: torch.nn.Module,
                 decoder: torch.nn.Module, *, integrator: str = "rk4", device: str | torch.device = "cpu",
                 half: bool = False, max_pixels: int = MAX_NETWORK_PIXELS):
        self.max_pixels = int(max_pixels)
        values = layer_values(feature_net, scene, device, self.max_pixels)
        self.cloud = animate_points(scene, num_frames, integrator, values=values, device=device)
        del values
        self.base = FrameRenderer(self.cloud, scene.intrinsics)
        # channels_last: ~15% faster convolutions on CPU, same values (to float rounding).
        self.decoder = decoder.to(memory_format=torch.channels_last)
        self.half = bool(half) and torch.device(device).type == "cuda"

    @property
    def device(self) -> torch.device:
        return self.base.device

    def disparity_range(self, camera: Camera) -> tuple[torch.Tensor, torch.Tensor]:
        """Min and max of camera-space 1/z' over every point at rest seen from ``camera``.

        The range depends on the camera only, not on the loop time, so frame N (t = 1) equals
        frame 0 and the normalisation does not pulse over the loop.
        """
        rest = lift_to_world(self.cloud.rest_uv, self.cloud.depth, self.base.source)
        world_to_cam = camera.world_to_cam().to(self.device, rest.dtype)
        z = rest @ world_to_cam[2, :3] + world_to_cam[2, 3]
        # Points behind the camera would make 1/z explode (the reference clamps z at 1e-6);
        # they are left out by masking, not indexing, so nothing is read back to the host.
        front = z > 1e-6
        disparity = 1.0 / z.clamp(min=1e-6)
        low = torch.where(front, disparity, torch.full_like(disparity, float("inf"))).amin()
        high = torch.where(front, disparity, torch.full_like(disparity, -float("inf"))).amax()
        # No point in front of the camera: any range will do, nothing is splatted.
        none = torch.isinf(low)
        return torch.where(none, torch.ones_like(low), low), torch.where(none, torch.ones_like(high), high)

    def camera_disparity(self, camera: Camera, world_disparity: torch.Tensor, coverage: torch.Tensor,
                         disparity_range: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Turn the splatted world disparity (nearest depth / z_world) into the reference's
        channel: camera-space 1/z' normalised to [0, 1] over all points.

        Each pixel's surface point lies on the pixel's ray; its world depth fixes where, and so
        its camera depth: z' = (z_world - c_z) / (R_z . ray) for the camera-to-world [R | c].

        Args:
            world_disparity: (2, 1, H, W) splatted ``nearest_depth / z_world``.
            coverage: (2, 1, H, W) splat coverage.
            disparity_range: (low, high) of 1/z' (:meth:`disparity_range`).

        Returns:
            (2, 1, H, W) in [0, 1] (0 where nothing was splatted).
        """
        intrinsics = camera.intrinsics
        height, width = world_disparity.shape[-2:]
        pose = camera.cam_to_world.to(self.device, world_disparity.dtype)
        xs = torch.arange(width, device=self.device, dtype=world_disparity.dtype)
        ys = torch.arange(height, device=self.device, dtype=world_disparity.dtype)[:, None]
        ray_z = (pose[2, 0] * (xs - intrinsics.cx) / intrinsics.fx
                 + pose[2, 1] * (ys - intrinsics.cy) / intrinsics.fy + pose[2, 2])
        covered = (coverage > 0) & (world_disparity > 0)
        z_world = self.base.nearest_depth / world_disparity.clamp(min=1e-12)
        z_camera = (z_world - pose[2, 3]) / torch.where(ray_z.abs() > 1e-6, ray_z, torch.full_like(ray_z, 1e-6))
        disparity = 1.0 / z_camera.clamp(min=1e-6)
        low, high = disparity_range
        normalised = ((disparity - low) / (high - low).clamp(min=1e-8)).clamp(0.0, 1.0)
        return torch.where(covered, normalised, torch.zeros_like(normalised))

    def renderings(self, frame: int, camera: Camera) -> torch.Tensor:
        """The two 37-channel maps the decoder takes: (2, 37, H, W), forward then backward."""
        splatted = self.base.splat_clouds(frame, camera)
        coverage = splatted.coverage
        values = splatted.values[:, :POINT_CHANNELS]
        disparity = self.camera_disparity(camera, splatted.values[:, POINT_CHANNELS:POINT_CHANNELS + 1],
                                          coverage, self.disparity_range(camera))
        return torch.cat([values, disparity], dim=1) * coverage

    @torch.inference_mode()
    def render(self, frame: int, camera: Camera) -> torch.Tensor:
        """The colour image of ``frame`` in [0, N] from ``camera``: (3, H, W) in [0, 1]."""
        full = camera.intrinsics
        factor = min(1.0, (self.max_pixels / (full.width * full.height)) ** 0.5)
        if factor < 1.0:  # same view, fewer pixels; upsampled at the end
            small = full.resized(max(32, round(full.width * factor)), max(32, round(full.height * factor)))
            camera = Camera(small, camera.cam_to_world)
        image = self._render(frame, camera)
        if factor < 1.0:
            image = F.interpolate(image[None], size=(full.height, full.width), mode="bilinear",
                                  align_corners=False)[0].clamp(0.0, 1.0)
        return image

    def _render(self, frame: int, camera: Camera) -> torch.Tensor:
        time = frame_time(frame, self.cloud.num_frames)
        maps = self.renderings(frame, camera)
        blended = self.decoder.blend_renderings(maps[0:1], maps[1:2], time)
        del maps
        height, width = blended.shape[-2:]
        # The decoder needs even sides of at least 32 pixels: replicate-pad, crop back.
        pad_h = max(DECODER_MIN_SIDE, height + height % 2) - height
        pad_w = max(DECODER_MIN_SIDE, width + width % 2) - width
        if pad_h or pad_w:
            blended = F.pad(blended, (0, pad_w, 0, pad_h), mode="replicate")
        blended = blended.contiguous(memory_format=torch.channels_last)
        if self.half:
            with torch.autocast("cuda", dtype=torch.float16):
                image = self.decoder.decode(blended)
        else:
            image = self.decoder.decode(blended)
        return image[0, :, :height, :width].float().clamp(0.0, 1.0)
