"""What the add-on draws over the viewport itself (GPU module): the arrow being dragged."""
from __future__ import annotations

import gpu
from gpu_extras.batch import batch_for_shader
from mathutils import Vector


def draw_stroke_arrow(start: Vector, end: Vector) -> None:
    """An arrow from ``start`` to ``end`` (region pixels), in the add-on's hint colour."""
    along = end - start
    if along.length < 1:
        return
    side = Vector((-along.y, along.x)).normalized() * min(8.0, 0.3 * along.length)
    back = end - along.normalized() * min(14.0, 0.4 * along.length)
    lines = [start, end, end, back + side, end, back - side]
    shader = gpu.shader.from_builtin("POLYLINE_UNIFORM_COLOR")
    shader.uniform_float("viewportSize", gpu.state.viewport_get()[2:])
    shader.uniform_float("lineWidth", 2.5)
    shader.uniform_float("color", (1.0, 0.55, 0.1, 1.0))
    batch_for_shader(shader, "LINES", {"pos": [(p.x, p.y, 0.0) for p in lines]}).draw(shader)
