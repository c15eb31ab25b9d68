"""Rendering: frames from the animated point cloud seen by a moving camera.

Receives an :class:`~cine_core.motion.animation.AnimatedPointCloud` and cameras; splats the
forward- and backward-moving clouds (:mod:`.splat`), blends them by time so that frame N equals
frame 0, and returns (3, H, W) frames: colours (:mod:`.frames`) or the official feature
decoder's image (:mod:`.decoder`). Also the surface mesh and the passes the Blender add-on
shows (:mod:`.surface_mesh`, :mod:`.passes`).
"""
