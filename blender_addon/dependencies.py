"""The core's third-party packages: where the add-on installs them, whether they import, and
the command that installs them.

They go into the extension's own user directory (``bpy.utils.extension_path_user``), never into
Blender's installation, so removing the extension removes them and no administrator rights are
needed. That folder joins ``sys.path`` when the add-on registers.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
from dataclasses import dataclass

import bpy

#: The extension's root package (``bl_ext.<repository>.cinemagraph``): Blender's key for the
#: add-on's preferences and user directory.
ADDON_PACKAGE = __package__.rpartition(".")[0]
#: ``install_deps.py`` ships at the extension's root, beside ``blender_addon``.
INSTALL_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "install_deps.py")


@dataclass(frozen=True)
class Package:
    module: str
    label: str
    distribution: str  # its name on the package index, for the version when it is not imported


def _runtime_packages() -> tuple[Package, ...]:
    """The core's packages as ``install_deps.py`` lists them (``RUNTIME_PACKAGES``), read by path:
    it uses the standard library alone, so this works before anything is installed."""
    spec = importlib.util.spec_from_file_location("cinemagraph_install_deps", INSTALL_SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return tuple(Package(module, label, re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0])
                 for requirement, module, label in script.RUNTIME_PACKAGES)


PACKAGES = _runtime_packages()


@dataclass(frozen=True)
class PackageStatus:
    package: Package
    version: str | None  # None: not importable

    @property
    def found(self) -> bool:
        return self.version is not None


_status: list[PackageStatus] | None = None


def site_packages(create: bool = False) -> str:
    """The folder the add-on installs packages into."""
    return bpy.utils.extension_path_user(ADDON_PACKAGE, path="site-packages", create=create)


def add_to_sys_path() -> None:
    """Make installed packages importable. Appended, so Blender's own numpy keeps precedence."""
    folder = site_packages()
    if os.path.isdir(folder) and folder not in sys.path:
        sys.path.append(folder)
        importlib.invalidate_caches()


def remove_from_sys_path() -> None:
    folder = site_packages()
    while folder in sys.path:
        sys.path.remove(folder)


def _version(package: Package) -> str | None:
    module = sys.modules.get(package.module)
    if module is None:
        try:
            if importlib.util.find_spec(package.module) is None:
                return None
        except (ImportError, ValueError):  # a broken or blocked module
            return None
    elif getattr(module, "__version__", None):
        return str(module.__version__)
    try:
        return importlib.metadata.version(package.distribution)
    except importlib.metadata.PackageNotFoundError:  # e.g. OpenCV from another distribution
        return "unknown version"


def status(refresh: bool = False) -> list[PackageStatus]:
    """Whether each package can be imported (found without importing it), remembered until
    ``refresh``: panels draw many times a second."""
    global _status
    if _status is None or refresh:
        _status = [PackageStatus(package, _version(package)) for package in PACKAGES]
    return _status


def missing_required() -> list[str]:
    """Labels of the core's packages that are not importable (the core imports every one)."""
    return [s.package.label for s in status() if not s.found]


def install_command(cuda: bool = False) -> list[str]:
    """The command that installs the packages with Blender's own Python into :func:`site_packages`."""
    command = [sys.executable, INSTALL_SCRIPT, "--target", site_packages(create=True)]
    if cuda:
        command.append("--cuda")
    return command


def weights_command(folder: str) -> list[str]:
    """The command that downloads the published model's weights into ``folder``."""
    return [sys.executable, INSTALL_SCRIPT, "--models", "--ckpts", folder]


def pip_available() -> bool:
    return importlib.util.find_spec("pip") is not None
