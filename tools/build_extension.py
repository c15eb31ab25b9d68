#!/usr/bin/env python3
"""Build the installable Blender extension zip (``dist/cinemagraph-<version>.zip``).

    .venv/bin/python tools/build_extension.py [--output-dir dist]

It runs Blender's own extension builder, the ``blender_ext.py`` that ships inside the ``bpy``
wheel (and inside every Blender >= 4.2), on the repository root, so the zip is validated exactly
as Blender will validate it on install. What goes in is decided by one rule only, the manifest's
``[build] paths_exclude_pattern`` (the root ``__init__.py``, ``blender_addon``, ``cine_core`` and
``install_deps.py`` beside the manifest; no caches): ``blender --command extension build`` in the
repository root builds the same zip.
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_extension_builder() -> str:
    """Path of Blender's ``blender_ext.py`` (in the bpy wheel or a Blender install)."""
    found = os.environ.get("BLENDER_EXT_BUILDER")
    if found:
        return found
    try:
        import importlib.util

        spec = importlib.util.find_spec("bpy")
    except (ImportError, ValueError):
        spec = None
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        # bpy/<version>/scripts/addons_core/bl_pkg/cli/blender_ext.py
        matches = glob.glob(os.path.join(root, "*", "scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py"))
        if matches:
            return sorted(matches)[-1]
    raise SystemExit("error: Blender's extension builder was not found; install the bpy wheel "
                     "(python install_deps.py) or set BLENDER_EXT_BUILDER to its blender_ext.py")


def build(output_dir: str, source_dir: str = ROOT) -> str:
    """Build the zip of ``source_dir`` (a checkout's root) into ``output_dir``; return its path."""
    builder = find_extension_builder()
    with open(os.path.join(source_dir, "blender_manifest.toml"), "rb") as handle:
        manifest = tomllib.load(handle)
    os.makedirs(output_dir, exist_ok=True)
    output = os.path.join(output_dir, f"{manifest['id']}-{manifest['version']}.zip")
    # The builder needs only the standard library, so this interpreter can run it.
    result = subprocess.run([sys.executable, builder, "build", "--source-dir", source_dir,
                             "--output-filepath", output],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"error: the extension builder failed:\n{result.stdout}{result.stderr}")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default=os.path.join(ROOT, "dist"),
                        help="where the zip goes (default: dist/ in the repository)")
    args = parser.parse_args(argv)
    print(build(os.path.abspath(args.output_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
