"""Static checks of the launch file and the rviz config (launch_ros and rviz2 are not
installable here): the launch file parses, uses the real launch_ros API, declares its
arguments each with a description; the rviz config is YAML naming the right topics and
display classes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REQUIRED_ARGS = {"camera", "image_topic", "camera_info_topic", "params_file", "model_path",
                 "backend", "use_sim_time", "autostart", "x", "y", "z", "roll", "pitch", "yaw"}


@pytest.fixture(scope="module")
def launch_tree(repo_root: Path) -> ast.Module:
    return ast.parse((repo_root / "launch" / "peoplesemseg.launch.py").read_text())


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and (
        (isinstance(n.func, ast.Name) and n.func.id == name) or
        (isinstance(n.func, ast.Attribute) and n.func.attr == name))]


def _const(node: ast.AST) -> str:
    """A string literal, or the literal parts of an f-string / implicit concatenation."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_const(v) for v in node.values if isinstance(v, ast.Constant))
    return ""


def test_launch_imports_the_real_api_and_defines_the_entry_point(launch_tree: ast.Module
                                                                 ) -> None:
    imported = {(n.module, a.name) for n in ast.walk(launch_tree)
                if isinstance(n, ast.ImportFrom) for a in n.names}
    for item in [("launch", "LaunchDescription"), ("launch.actions", "DeclareLaunchArgument"),
                 ("launch.substitutions", "LaunchConfiguration"),
                 ("launch_ros.actions", "Node"), ("launch_ros.substitutions", "FindPackageShare")]:
        assert item in imported, item
    funcs = {n.name for n in launch_tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in funcs
    names = {n.id for n in ast.walk(launch_tree) if isinstance(n, ast.Name)}
    assert not names & {"eval", "exec", "PythonExpression"}


def test_every_argument_is_declared_with_a_description(launch_tree: ast.Module) -> None:
    declared: dict[str, str] = {}
    for call in _calls(launch_tree, "DeclareLaunchArgument"):
        kw = {k.arg: k.value for k in call.keywords}
        assert "description" in kw and "default_value" in kw
        desc = kw["description"]
        text = _const(desc) if not isinstance(desc, ast.BinOp) else "x"
        assert len(text) > 10, ast.dump(call)
        first = call.args[0]
        if isinstance(first, ast.Constant):
            declared[str(first.value)] = text
        else:  # the pose loop: DeclareLaunchArgument(k, ...) for k in POSE
            declared.update({k: text for k in ("x", "y", "z", "roll", "pitch", "yaw")})
    assert set(declared) >= REQUIRED_ARGS, REQUIRED_ARGS - set(declared)


def test_the_node_action_runs_our_console_script(launch_tree: ast.Module) -> None:
    (node,) = _calls(launch_tree, "Node")
    kw = {k.arg: k.value for k in node.keywords}
    assert _const(kw["package"]) == "peoplesemseg_ros"
    assert _const(kw["executable"]) == "peoplesemseg_node"
    for key in ("namespace", "parameters", "remappings", "name"):
        assert key in kw
    remapped = {_const(t.elts[0]) for t in ast.walk(kw["remappings"])
                if isinstance(t, ast.Tuple)}
    assert {"image", "camera_info"} <= remapped


def test_rviz_config_shows_image_mask_overlay_grid_scan_and_cloud(repo_root: Path) -> None:
    cfg = yaml.safe_load((repo_root / "config" / "peoplesemseg.rviz").read_text())
    displays = cfg["Visualization Manager"]["Displays"]
    by_topic = {d["Topic"]["Value"]: d["Class"] for d in displays if "Topic" in d}
    assert by_topic["/camera/image_raw"] == "rviz_default_plugins/Image"
    assert by_topic["/camera/mask"] == "rviz_default_plugins/Image"
    assert by_topic["/camera/overlay"] == "rviz_default_plugins/Image"
    assert by_topic["/camera/person_occupancy"] == "rviz_default_plugins/Map"
    assert by_topic["/camera/people_scan"] == "rviz_default_plugins/LaserScan"
    assert by_topic["/camera/people_cloud"] == "rviz_default_plugins/PointCloud2"
    assert cfg["Visualization Manager"]["Global Options"]["Fixed Frame"] == "base_link"
    for d in displays:
        assert d["Class"].startswith("rviz_default_plugins/")
