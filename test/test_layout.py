"""The layout's rules, checked: core/ and occupancy/ never import rclpy.

Every module of the two ROS-free subpackages is imported in a fresh interpreter
(so nothing this pytest process already imported hides an import), then the
test asserts that ``rclpy`` never reached ``sys.modules``.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

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
