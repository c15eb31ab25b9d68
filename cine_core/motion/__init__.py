"""Motion: what moves, where to, and where every point is at every frame of the loop.

Receives the annotation (moving region, hint arrows, a direction in words) or finds the fluid
regions itself (:mod:`.detect`); holds still the structure the photo shows inside the regions
(:mod:`.fluidity`); returns the Eulerian flow field (2, H, W) (:mod:`.flow`, turned towards the
fluid's own structure by :mod:`.structure`),
integrates it over the loop forward and backward in time (:mod:`.integrate`) and lifts the
displaced pixels to an :class:`~.animation.AnimatedPointCloud` (:mod:`.animation`).
"""
