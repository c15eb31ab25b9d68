"""What the user edits of a cinemagraph's motion, kept in Blender data: the moving region (a mask
image), the hint arrows (arrow empties over the photo), and what Update Motion would make the
motion from, compared with what it was made from.
"""
from __future__ import annotations

import json
import os

import bpy
import numpy as np

from ..cine_core import has_length, starts_inside
from . import cache, runtime, scene_objects
from .errors import AddonError


def hint_objects(settings) -> list[bpy.types.Object]:
    """The arrow empties of a cinemagraph, in name order (their order does not matter to the flow)."""
    if settings.hints is None:
        return []
    return sorted((o for o in settings.hints.objects if o.type == "EMPTY"), key=lambda o: o.name)


def add_hint(settings, start: tuple[float, float], end: tuple[float, float]) -> bpy.types.Object:
    """A new arrow from photo pixel ``start`` to ``end``, floating just in front of the surface."""
    if not has_length(start, end):
        raise AddonError("A hint arrow needs a length: drag from where the motion starts to where it goes")
    if settings.hints is None:
        settings.hints = bpy.data.collections.new(f"{settings.id_data.name} Hints")
        settings.id_data.children.link(settings.hints)
    prepared = runtime.prepared_scene(cache.resolve(settings.cache_path))
    name = f"{settings.id_data.name} Hint {len(hint_objects(settings)) + 1}"
    return scene_objects.create_hint(name, settings.hints, settings.points, settings.intrinsics(), start, end,
                                     scene_objects.hint_depth(prepared.depth.numpy(), start))


def remove_hints(settings) -> None:
    """Delete every hint arrow of the cinemagraph."""
    for arrow in hint_objects(settings):
        bpy.data.objects.remove(arrow)


def set_mask(settings, mask: np.ndarray) -> None:
    """Store the moving region (H, W) bool in the cinemagraph's mask image (created if needed);
    the same region again changes nothing (so nothing reads as edited)."""
    height, width = mask.shape
    image = settings.mask
    if image is None or tuple(image.size) != (width, height):
        image = scene_objects.create_mask_image(settings.id_data.name, mask)
        settings.mask = image
    elif np.array_equal(scene_objects.read_mask(image), mask):
        return
    else:
        scene_objects.write_mask(image, mask)
    settings.mask_revision += 1


def motion_inputs(settings) -> dict:
    """What Update Motion would make the motion from, in a form to compare (JSON-serialisable)."""
    hints = []
    for arrow in hint_objects(settings):
        try:
            start, end = scene_objects.hint_pixels(arrow, settings.points, settings.intrinsics())
        except AddonError:
            start, end = (float("nan"),) * 2, (float("nan"),) * 2
        hints.append([round(value, 1) for value in (*start, *end)])
    mask = settings.mask
    return {"speed": round(settings.speed, 4), "direction": settings.direction.strip(), "hints": hints,
            "mask": [mask.name if mask is not None else "", settings.mask_revision],
            "video": settings.motion_video, "exact_region": settings.exact_region}


def pending_motion_changes(settings) -> list[str]:
    """The edits Update Motion has not applied yet, one short sentence each (empty: up to date)."""
    if not settings.applied_motion:
        return []
    applied, now = json.loads(settings.applied_motion), motion_inputs(settings)
    changes = []
    if now["speed"] != applied["speed"]:
        changes.append(f"Speed {applied['speed']:g} -> {now['speed']:g}")
    if now["direction"] != applied["direction"]:
        changes.append(f"Direction '{applied['direction']}' -> '{now['direction']}'")
    if now["hints"] != applied["hints"]:
        before, after = len(applied["hints"]), len(now["hints"])
        changes.append(f"Hint arrows: {before} -> {after}" if before != after else "Hint arrows moved")
    if now["mask"] != applied["mask"] or (settings.mask is not None and settings.mask.is_dirty):
        changes.append("Moving region edited")
    if now.get("video", "") != applied.get("video", ""):
        changes.append(f"Motion video: {os.path.basename(now['video']) or 'none'}")
    if now["exact_region"] != applied.get("exact_region", False):
        changes.append("Exact Region " + ("on" if now["exact_region"] else "off"))
    return changes


def video_arrows_unedited(settings, hints: list) -> bool:
    """Whether the hint arrows are still those Motion from Video sampled from the clip (compared
    as :func:`motion_inputs` rounds them): then the clip's own field moves the picture, else the
    arrows win in the regions they start in."""
    return bool(settings.video_arrows) and json.loads(settings.video_arrows) == hints


def hints_outside(mask: np.ndarray | None, hints: list) -> list[int]:
    """1-based numbers of the arrows whose start lies outside the moving region ``mask``: a
    region takes its velocity from the arrows that start inside it, so they only steer regions
    without arrows of their own."""
    if mask is None:
        return []
    return [number for number, hint in enumerate(hints, start=1)
            if not starts_inside(hint.start, mask)]


def finished_job_settings(collection_name: str, meanwhile: str):
    """The settings of the cinemagraph a finished job writes into; an error when the user removed
    it while the job ran (``meanwhile`` says what the job did)."""
    collection = bpy.data.collections.get(collection_name)
    if collection is None or not collection.cinemagraph.is_valid:
        raise AddonError(f"The cinemagraph {collection_name} was removed while {meanwhile}")
    return collection.cinemagraph
