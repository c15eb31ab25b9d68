#!/usr/bin/env python3
"""Build the installable Blender extension zip (``dist/cinemagraph-<version>.zip``).

    .venv/bin/python tools/build_extension.py [--output-dir dist]

It stages exactly what the extension needs (the manifest, the root ``__init__.py``, the
``blender_addon`` and ``cine_core`` packages and ``install_deps.py``) and runs Blender's own
extension builder on it, the ``blender_ext.py`` that ships inside the ``bpy`` wheel (and inside
every Blender >= 4.2), so the zip is validated exactly as Blender will validate it on install.
Staging an allow-list keeps whatever else lies in the checkout (tests, weights, samples,
virtual environments, videos) out of the zip. Blender itself can build the same zip from the
repository root: ``blender --command extension build`` (the manifest's exclude list applies).
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: What the extension ships, relative to the repository root.
CONTENTS = ("blender_manifest.toml", "__init__.py", "blender_addon", "cine_core", "install_deps.py")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


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


def build(output_dir: str) -> str:
    """Build the zip into ``output_dir`` and return its path."""
    builder = find_extension_builder()
    with open(os.path.join(ROOT, "blender_manifest.toml"), "rb") as handle:
        manifest = tomllib.load(handle)
    os.makedirs(output_dir, exist_ok=True)
    output = os.path.join(output_dir, f"{manifest['id']}-{manifest['version']}.zip")
    with tempfile.TemporaryDirectory(prefix="cinemagraph-build-") as staging:
        for name in CONTENTS:
            source = os.path.join(ROOT, name)
            if os.path.isdir(source):
                shutil.copytree(source, os.path.join(staging, name), ignore=_IGNORED)
            else:
                shutil.copy2(source, staging)
        # The builder needs only the standard library, so this interpreter can run it.
        result = subprocess.run([sys.executable, builder, "build", "--source-dir", staging,
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
