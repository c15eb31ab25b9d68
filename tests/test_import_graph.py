"""The shape of the code: no import cycle, the core's stages depend on each other one way, the
core never touches Blender, and the conventions the add-on needs import without PyTorch.

The graph is read from the source (every import statement, also those inside functions, except
those under ``if TYPE_CHECKING:``), so a cycle hidden in a function-level import counts too.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys

from conftest import ROOT

PACKAGES = ("cine_core", "blender_addon")


def _modules() -> dict[str, str]:
    """Dotted module name -> file, for every module of the core and the add-on."""
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    parts = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].split(os.sep)
                    found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = os.path.join(folder, name)
    return found


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, child.end_lineno + 1))
    return lines


def _imports(modules: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    graph = {}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        skipped = _type_checking_lines(tree)
        package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                # ``from x import y`` imports the module x.y when there is one.
                named = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in modules]
                targets.update(named or [source])
        graph[module] = {t for t in targets if t in modules and t != module}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_module_imports_itself_back():
    graph = _imports(_modules())
    assert len(graph) > 60
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_core_stages_depend_on_each_other_one_way():
    """Stage packages (and the core's top-level modules) as nodes: the data flows one way."""
    modules = _modules()
    graph: dict[str, set[str]] = {}

    def stage(module: str) -> str:
        return ".".join(module.split(".")[:2])

    for module, targets in _imports(modules).items():
        if module.startswith("cine_core.") and module != "cine_core":
            graph.setdefault(stage(module), set()).update(
                stage(t) for t in targets if t.startswith("cine_core.") and stage(t) != stage(module))
    assert {"cine_core.io", "cine_core.depth", "cine_core.layers", "cine_core.motion", "cine_core.rendering",
            "cine_core.cameras", "cine_core.pipeline", "cine_core.nets"} <= set(graph)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
    assert not graph["cine_core.io"] - {"cine_core.errors"}  # input/output depends on no stage
    assert "cine_core.blender_addon" not in graph


#: The core's packages and top-level modules in the order the data flows (docs/architecture.md):
#: each may import only those before it. ``scene`` (the prepared scene) holds the layers, and
#: motion and rendering receive it.
CORE_ORDER = ("errors", "parallel", "host_memory", "io", "cameras", "filters", "nets", "depth", "layers", "scene", "motion", "rendering",
              "pipeline", "__main__")


def test_each_part_of_the_core_imports_only_parts_before_it():
    later_imports = []
    for module, targets in _imports(_modules()).items():
        if not module.startswith("cine_core."):
            continue
        part = module.split(".")[1]
        for target in targets:
            if target.startswith("cine_core.") and target.split(".")[1] != part:
                other = target.split(".")[1]
                assert part in CORE_ORDER and other in CORE_ORDER, (module, target)
                if CORE_ORDER.index(other) > CORE_ORDER.index(part):
                    later_imports.append(f"{module} -> {target}")
    assert not later_imports, later_imports


def _absolute_imports_of_the_core():
    """(module, imported name) for every absolute import statement of the core."""
    for module, path in _modules().items():
        if not module.startswith("cine_core"):
            continue
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for name in names:
                yield module, name


def test_the_core_never_imports_blender_and_imports_itself_relatively():
    for module, name in _absolute_imports_of_the_core():
        top = name.split(".")[0]
        assert top not in {"bpy", "mathutils", "gpu", "bpy_extras", "blender_addon"}, f"{module} imports {name}"
        assert top != "cine_core", f"{module} imports {name} absolutely"


def test_the_conventions_the_addon_needs_import_without_pytorch():
    """With torch, OpenCV, SciPy and kornia unimportable (as in Blender before Install
    Dependencies), the add-on's conventions still import and work."""
    script = (
        "import sys\n"
        "for name in ('torch', 'cv2', 'scipy', 'kornia', 'imageio'):\n"
        "    sys.modules[name] = None\n"
        "import cine_core\n"
        "from cine_core import Intrinsics, lift, project, focal_from_lens, FULL_FRAME_MM\n"
        "from cine_core import CAMERA_PRESETS, DEFAULT_MAGNITUDE, MAX_REACH\n"
        "from cine_core import has_length, starts_inside, motion_problem, NOTHING_MOVES\n"
        "from cine_core import CineError, Cancelled, CancelToken, is_out_of_memory\n"
        "from cine_core import MAX_LAYERS, PHOTO_EXTENSIONS\n"
        "k = Intrinsics.for_photo(640, 480, focal_from_lens(36.0, 640, 480))\n"
        "x, y, z = lift(10.0, 20.0, 2.0, k)\n"
        "u, v = project(x, y, z, k)\n"
        "assert abs(u - 10.0) < 1e-9 and abs(v - 20.0) < 1e-9 and k.fx == 640.0\n"
        "assert DEFAULT_MAGNITUDE['circle'] > 0 and not has_length((1, 1), (1.2, 1.2))\n"
        "assert is_out_of_memory(MemoryError()) and not is_out_of_memory(ValueError())\n"
        "print(sorted(m for m in sys.modules if m.startswith('cine_core')))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = set(ast.literal_eval(result.stdout.strip()))
    assert "cine_core.cameras.paths" not in loaded and "cine_core.pipeline.run" not in loaded


def test_every_package_the_core_imports_is_in_the_one_dependency_list():
    """``install_deps.RUNTIME_PACKAGES`` is what the set-up installs and what the Blender add-on
    checks for: a third-party import missing from it would fail only on a user's machine."""
    import install_deps

    listed = {module for _, module, _ in install_deps.RUNTIME_PACKAGES}
    third_party = {name.split(".")[0] for _, name in _absolute_imports_of_the_core()} - set(sys.stdlib_module_names)
    assert third_party <= listed, third_party - listed
    assert listed == third_party  # nothing installed that the core does not use


#: The front ends: they use the core only through its public API (``cine_core.__all__``).
FRONT_ENDS = ("blender_addon", "bench", "eval")


def _core_uses(path: str, package: str) -> list[str]:
    """Where the front-end file at ``path`` (in ``package``) reaches into the core past its API:
    an import of a core module (``cine_core.pipeline.run``), an imported name the API lacks, or
    an attribute of the core package (``cine_core.x``, ``runtime.core().x``) the API lacks."""
    import cine_core

    public = set(cine_core.__all__)
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("cine_core.")]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # the add-on ships the core beside it: ``..cine_core`` from its modules
                module = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [module])
            if module.startswith("cine_core."):
                found.append(f"from {module} import ...")
            elif module == "cine_core":
                found += [f"from cine_core import {a.name}" for a in node.names if a.name not in public]
        elif isinstance(node, ast.Attribute) and node.attr not in public:
            owner = node.value
            is_core = (isinstance(owner, ast.Name) and owner.id == "cine_core") or (
                isinstance(owner, ast.Call) and ast.unparse(owner.func).split(".")[-1] == "core")
            if is_core:
                found.append(ast.unparse(node))
    return [f"{os.path.relpath(path, ROOT)}:{use}" for use in found]


def test_front_ends_use_only_the_public_api():
    """The add-on, bench and eval import ``cine_core`` and its public names only: no module of
    the core, no attribute chain into it (the core may reorganise anything behind its API)."""
    outside = []
    checked = 0
    for front_end in FRONT_ENDS:
        for folder, _, files in os.walk(os.path.join(ROOT, front_end)):
            for name in sorted(files):
                if name.endswith(".py"):
                    package = ".".join(os.path.relpath(folder, ROOT).split(os.sep))
                    outside += _core_uses(os.path.join(folder, name), package)
                    checked += 1
    assert checked > 25
    assert not outside, outside


def test_the_front_end_check_sees_reaching_past_the_api(tmp_path):
    """The check above finds each way of reaching past the API (so its silence means something)."""
    source = tmp_path / "front.py"
    source.write_text("import cine_core.pipeline.run\n"
                      "from cine_core.rendering import passes\n"
                      "from ..cine_core.io.accepted import MAX_LAYERS\n"
                      "from ..cine_core import load_photo, _API\n"
                      "from cine_core import camera_path\n"
                      "x = runtime.core().pipeline.run.find_motion\n"
                      "y = cine_core.rendering\n"
                      "z = runtime.core().find_motion\n")
    uses = [use.split(":", 1)[1] for use in _core_uses(str(source), "blender_addon")]
    assert sorted(uses) == sorted(["cine_core.pipeline.run", "from cine_core.rendering import ...",
                                   "from cine_core.io.accepted import ...", "from cine_core import _API",
                                   "runtime.core().pipeline", "cine_core.rendering"]), uses
