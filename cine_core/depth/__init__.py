"""Depth: the photo's depth map, from an estimate, a file, or scene meshes seen from a camera.

Receives the photo (or a depth file's values, or mesh triangles and a camera); returns a
conditioned :class:`~.conditioning.DepthMap`: depth with the nearest point at 1, filtered so
that depth edges are sharp and flat areas are smooth.
"""
