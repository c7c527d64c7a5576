"""The layout's rules, checked: core/ and occupancy/ never import rclpy; no import
cycle; no module over 400 lines; every module has an explicit __all__.

Every module of the two ROS-free subpackages is imported in a fresh interpreter
(so nothing this pytest process already imported hides an import), then the
test asserts that ``rclpy`` never reached ``sys.modules``.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import peoplesemseg_ros.core
import peoplesemseg_ros.occupancy

ROS_FREE = (peoplesemseg_ros.core, peoplesemseg_ros.occupancy)


def _modules() -> list[str]:
    names: list[str] = []
    for package in ROS_FREE:
        names.append(package.__name__)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    return names


def test_the_ros_free_subpackages_list_their_modules() -> None:
    names = _modules()
    assert "peoplesemseg_ros.core.pipeline" in names
    assert "peoplesemseg_ros.core.backends.onnxruntime" in names
    assert "peoplesemseg_ros.occupancy.stage" in names


def test_core_and_occupancy_never_import_rclpy() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'rclpy' or m.startswith('rclpy.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout


PACKAGE_DIR = Path(peoplesemseg_ros.__file__).resolve().parent
MAX_LINES = 400


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (anywhere in the file, lazy ones too)."""
    files = {_module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = ".".join(pkg[:len(pkg) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                           for a in node.names]
            graph[mod].update(t for t in targets if t in files and t != mod)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first walk meets (each as a path that returns to its start)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                found.append([*path[path.index(n):], n])
            elif n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_import_cycles() -> None:
    graph = _import_graph()
    tensorrt = "peoplesemseg_ros.core.backends.tensorrt"
    assert "peoplesemseg_ros.core.backends.engine" in graph[tensorrt]  # the graph sees imports
    cycles = _cycles(graph)
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_over_400_lines() -> None:
    long = {str(p.relative_to(PACKAGE_DIR)): n for p in PACKAGE_DIR.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these (limit {MAX_LINES} lines): {long}"


def test_every_module_declares_all() -> None:
    # training/ (the [train] extra) is outside this check: its package marker is empty
    missing = [str(p.relative_to(PACKAGE_DIR)) for p in PACKAGE_DIR.rglob("*.py")
               if p.name != "__main__.py" and p.parent.name != "training"
               and "__all__" not in p.read_text(encoding="utf-8")]
    assert missing == []
