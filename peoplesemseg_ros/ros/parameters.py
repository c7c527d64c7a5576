"""rclpy side of :mod:`peoplesemseg_ros.params`: descriptors, declaration, current values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.exceptions import (
    InvalidParameterTypeException,
    InvalidParameterValueException,
    ParameterUninitializedException,
)
from rclpy.parameter import Parameter

from peoplesemseg_ros.params import SCHEMA, NodeConfig, ParameterError, ParamSpec, validate

__all__ = ["current_values", "declare_parameters", "descriptor"]


def descriptor(spec: ParamSpec) -> Any:
    ptype = {"bool": ParameterType.PARAMETER_BOOL, "int": ParameterType.PARAMETER_INTEGER,
             "float": ParameterType.PARAMETER_DOUBLE, "str": ParameterType.PARAMETER_STRING,
             "str_list": ParameterType.PARAMETER_STRING_ARRAY,
             "float_list": ParameterType.PARAMETER_DOUBLE_ARRAY}[spec.type]
    desc = ParameterDescriptor(name=spec.name, type=ptype, read_only=spec.read_only)
    text = spec.description
    if spec.choices:
        text += " [" + " | ".join(c or '""' for c in spec.choices) + "]"
    if not spec.dynamic and not spec.read_only:
        text += " (takes effect at configure)"
    desc.description = text
    desc.additional_constraints = f"allowed: {spec.allowed()}"
    if spec.type == "int" and spec.min is not None and spec.max is not None:
        desc.integer_range = [IntegerRange(from_value=int(spec.min), to_value=int(spec.max),
                                           step=0)]
    if spec.type == "float" and spec.min is not None and spec.max is not None:
        desc.floating_point_range = [FloatingPointRange(from_value=float(spec.min),
                                                        to_value=float(spec.max), step=0.0)]
    return desc


def declare_parameters(node: Any, specs: Iterable[ParamSpec] = SCHEMA) -> NodeConfig:
    """Declare every parameter on an rclpy node and validate the start values.

    Raises ParameterError (naming the parameter and the allowed values) when a
    value given at start (params file, ``-p``) is not allowed.
    """
    for spec in specs:
        default = spec.default
        if spec.type == "str_list" and not default:
            value: Any = Parameter.Type.STRING_ARRAY
        elif spec.type == "float_list" and not default:
            value = Parameter.Type.DOUBLE_ARRAY
        else:
            value = default
        try:
            node.declare_parameter(spec.name, value, descriptor(spec))
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            raise ParameterError(spec.name, f"parameter {spec.name!r} refused ({exc}): allowed "
                                            f"{spec.allowed()}") from exc
    return validate(current_values(node, specs))


def current_values(node: Any, specs: Iterable[ParamSpec] = SCHEMA) -> dict[str, Any]:
    """The node's current values of the schema's parameters (empty arrays as [])."""
    out: dict[str, Any] = {}
    for spec in specs:
        try:
            v = node.get_parameter(spec.name).value
        except ParameterUninitializedException:  # an empty array declared by type
            v = []
        if spec.type in ("str_list", "float_list"):
            v = [] if v is None else list(v)
        out[spec.name] = v
    return out
