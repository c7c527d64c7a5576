"""The parameter schema without rclpy: validation, YAML loading, shipped config in sync."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from peoplesemseg_ros.params import (
    SCHEMA,
    SPECS,
    NodeConfig,
    ParameterError,
    check_update,
    validate,
)
from peoplesemseg_ros.params_doc import render_markdown, render_yaml
from peoplesemseg_ros.params_file import load_params_file


def test_defaults_validate_and_map_to_pipeline_config() -> None:
    cfg = validate({})
    assert cfg.mask_value == 255 and cfg.camera_names == ("",)
    pc = cfg.pipeline_config()
    assert pc.model_path is None and pc.backend == "auto" and pc.resize_mode == "auto"
    assert cfg.camera_poses() == {"": (0.0, 0.0, 1.0, 0.0, 0.0, 0.0)}


@pytest.mark.parametrize(("name", "value", "needle"), [
    ("mask_value", 300, "allowed an integer in [1, 255]"),
    ("mask_value", 0, "out of range"),
    ("overlay_alpha", 1.5, "in [0, 1]"),
    ("backend", "cuda", "one of 'auto', 'onnxruntime', 'tensorrt'"),
    ("resize_mode", "crop", "'letterbox', 'stretch'"),
    ("input_transport", "theora", "'raw', 'compressed'"),
    ("qos.depth", 0, "in [1, 100]"),
    ("preprocessing.offset", [1.0, 2.0], "with 0 or 1 or 3 values"),
    ("occupancy.origin", [1.0], "with 2 values"),
    ("max_batch", 2.5, "wrong type"),
    ("autostart", "yes", "true or false"),
])
def test_bad_values_name_the_parameter_and_the_allowed_values(name: str, value: object,
                                                                needle: str) -> None:
    with pytest.raises(ParameterError) as err:
        validate({name: value})
    assert err.value.name == name
    assert f"parameter {name!r}" in str(err.value) and needle in str(err.value)


def test_cross_checks() -> None:
    with pytest.raises(ParameterError, match="camera_pose"):
        validate({"cameras": ["front", "left"], "camera_pose": [0.0] * 7})
    cfg = validate({"cameras": ["front", "left"], "camera_pose": [float(i) for i in range(12)]})
    assert cfg.camera_poses()["left"] == (6.0, 7.0, 8.0, 9.0, 10.0, 11.0)
    with pytest.raises(ParameterError, match="invalid camera name"):
        validate({"cameras": ["front cam"]})
    with pytest.raises(ParameterError, match="repeats"):
        validate({"cameras": ["a", "a"]})
    with pytest.raises(ParameterError, match=r"scan\.angle_min"):
        validate({"scan.angle_min": 1.0, "scan.angle_max": 0.5})
    with pytest.raises(ParameterError, match="unknown parameter"):
        validate({"mask_valu": 3})


def test_check_update_rules() -> None:
    current = {s.name: s.default for s in SCHEMA}
    assert check_update(current, {"mask_value": 128}, configured=True) is None
    assert "out of range" in str(check_update(current, {"mask_value": 999}, configured=True))
    assert "read-only" in str(check_update(current, {"cameras": ["a"]}, configured=False))
    assert "at configure" in str(check_update(current, {"model_path": "x.onnx"}, configured=True))
    assert check_update(current, {"model_path": "x.onnx"}, configured=False) is None
    assert "below" in str(check_update(current, {"scan.range_min": 9.0}, configured=True))


def test_load_params_file_wildcard_node_and_nested(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("""
/**:
  ros__parameters:
    mask_value: 7
    qos:
      depth: 3
/robot/peoplesemseg:
  ros__parameters:
    mask_value: 9
    cameras: [front]
other_node:
  ros__parameters:
    mask_value: 1000
""")
    cfg = load_params_file(f)
    assert cfg.mask_value == 9 and cfg.qos_depth == 3 and cfg.cameras == ("front",)
    bad = tmp_path / "bad.yaml"
    bad.write_text("peoplesemseg:\n  ros__parameters:\n    overlay_alpha: 2.0\n")
    with pytest.raises(ParameterError, match="overlay_alpha"):
        load_params_file(bad)


def test_shipped_yaml_and_docs_are_in_sync(repo_root: Path) -> None:
    text = (repo_root / "config" / "peoplesemseg.yaml").read_text()
    assert text == render_yaml(), "regenerate: python -m peoplesemseg_ros.params_doc yaml"
    cfg = load_params_file(repo_root / "config" / "peoplesemseg.yaml")
    assert cfg == validate({})
    lines = text.splitlines()
    for spec in SCHEMA:  # every parameter has a comment right above it
        idx = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{spec.name}:"))
        assert lines[idx - 1].strip().startswith("#"), spec.name
    doc = (repo_root / "docs" / "node.md").read_text()
    assert render_markdown() in doc, "regenerate: python -m peoplesemseg_ros.params_doc md"
    assert set(SPECS) == {s.name for s in SCHEMA}


def test_every_schema_parameter_is_a_node_config_field_and_back() -> None:
    """The schema and NodeConfig are kept in step by hand: same names (dots -> _)."""
    schema = {s.name.replace(".", "_") for s in SCHEMA}
    config = {f.name for f in dataclasses.fields(NodeConfig)}
    assert schema - config == set(), "schema parameters without a NodeConfig field"
    assert config - schema == set(), "NodeConfig fields without a schema parameter"
    defaults = validate({})
    for spec in SCHEMA:  # the defaults validate to the declared type
        value = getattr(defaults, spec.name.replace(".", "_"))
        expected = {"str": str, "int": int, "float": float, "bool": bool, "str_list": tuple,
                    "float_list": tuple}[spec.type]
        assert type(value) is expected, (spec.name, value)
