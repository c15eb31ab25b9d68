"""Depth: the photo's depth map, from an estimate, a file, or scene meshes seen from a camera."""
