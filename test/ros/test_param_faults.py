"""Every parameter of params.SCHEMA set to wrong types and out-of-range values.

At start: the real node class, declared with ``--ros-args -p name:=value``,
refuses each bad value with a ParameterError naming the parameter and the
allowed values (in-process, every parameter); the console script exits 2 with
that message and no traceback (a subprocess per parameter type).
At run time, over the node's real ``set_parameters`` service: bad values of the
dynamic parameters are rejected with a reason naming the parameter, read-only
ones always, configure-time ones (model_path, backend, ...) while configured;
the old value is kept each time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rclpy
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from tiny_models import make_model

from peoplesemseg_ros.params import SCHEMA, SPECS, ParameterError, ParamSpec
from peoplesemseg_ros.testing.live import NodeProcess, Peer, node_env, param_arg

pytestmark = pytest.mark.timeout(180)


def bad_values(spec: ParamSpec) -> list[Any]:
    """Values of the wrong type and values out of the allowed range / choices / lengths."""
    wrong_type: dict[str, list[Any]] = {
        "bool": ["maybe", 3], "int": ["abc", 1.5], "float": ["abc", True],
        "str": [5, 2.5], "str_list": [5, [1.0, 2.0]], "float_list": [["a", "b"], "x"]}
    out: list[Any] = list(wrong_type[spec.type])
    if spec.min is not None:
        out.append(int(spec.min) - 1 if spec.type == "int" else spec.min - 1.0)
    if spec.max is not None:
        out.append(int(spec.max) + 1 if spec.type == "int" else spec.max + 1.0)
    if spec.choices:
        out.append("no_such_choice")
    if spec.lengths:
        n = next(k for k in range(1, 9) if k not in spec.lengths)
        out.append([0.5] * n)
    return out


CASES = [(s.name, v) for s in SCHEMA for v in bad_values(s)]
# values every field accepts alone but the schema's cross-checks refuse
CROSS = [("cameras", ["front", "front"]), ("cameras", ["9bad"]), ("camera_pose", [0.0] * 5),
         ("scan.angle_min", SPECS["scan.angle_max"].default)]  # must stay below angle_max


@pytest.fixture(scope="module")
def context() -> Iterator[Any]:
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    ctx.try_shutdown()


@pytest.mark.parametrize(("name", "value"), CASES + CROSS,
                         ids=[f"{n}={v!r}" for n, v in CASES + CROSS])
def test_bad_start_value_is_refused_naming_the_parameter(context: Any, name: str,
                                                         value: Any) -> None:
    from peoplesemseg_ros.ros.node import PeopleSegNode

    args = ["--ros-args", "-p", param_arg(name, value)]
    if name != "autostart":  # should the value be accepted, do not load a model
        args += ["-p", "autostart:=false"]
    with pytest.raises(ParameterError) as info:
        node = PeopleSegNode(context=context, cli_args=args)
        node.destroy_node()  # only reached when the value was (wrongly) accepted
    assert info.value.name == name, str(info.value)
    assert repr(name) in str(info.value)
    assert (name, value) in CROSS or "allowed" in str(info.value), str(info.value)


@pytest.mark.parametrize("arg", ["num_threads:=-1", "input_timeout:=-0.5", "backend:=cuda",
                                 "autostart:=maybe", "occupancy.origin:=[1.0]", "cameras:=5",
                                 "max_consecutive_failures:=0", "model_path:=7"])
def test_console_script_exits_2_with_the_reason(arg: str) -> None:
    name = arg.split(":=", maxsplit=1)[0]
    proc = subprocess.run([sys.executable, "-m", "peoplesemseg_ros.ros.node", "--ros-args", "-p",
                           arg], capture_output=True, text=True, timeout=60, check=False,
                          env=node_env())
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"'{name}'" in proc.stderr and "allowed" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


# --- run time ----------------------------------------------------------------------------------

def pvalue(value: Any) -> ParameterValue:
    if isinstance(value, bool):
        return ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    if isinstance(value, int):
        return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    if isinstance(value, float):
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    if isinstance(value, str):
        return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    if all(isinstance(v, str) for v in value):
        return ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=value)
    return ParameterValue(type=ParameterType.PARAMETER_DOUBLE_ARRAY,
                          double_array_value=[float(v) for v in value])


def from_pvalue(v: ParameterValue) -> Any:
    t = v.type
    if t == ParameterType.PARAMETER_BOOL:
        return v.bool_value
    if t == ParameterType.PARAMETER_INTEGER:
        return v.integer_value
    if t == ParameterType.PARAMETER_DOUBLE:
        return v.double_value
    if t == ParameterType.PARAMETER_STRING:
        return v.string_value
    if t == ParameterType.PARAMETER_STRING_ARRAY:
        return list(v.string_array_value)
    if t == ParameterType.PARAMETER_DOUBLE_ARRAY:
        return list(v.double_array_value)
    return []  # NOT_SET: an empty array declared by type


class Params:
    def __init__(self, peer: Peer, fqn: str) -> None:
        self.peer = peer
        self.set_cli: Any = peer.node.create_client(SetParameters, f"{fqn}/set_parameters")
        self.get_cli: Any = peer.node.create_client(GetParameters, f"{fqn}/get_parameters")

    def set(self, name: str, value: Any) -> Any:
        req = SetParameters.Request(parameters=[Parameter(name=name, value=pvalue(value))])
        return self.peer.call(self.set_cli, req).results[0]

    def get(self, name: str) -> Any:
        values = self.peer.call(self.get_cli, GetParameters.Request(names=[name])).values
        return from_pvalue(values[0]) if values else []  # an empty array declared by type


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Params]:
    model = make_model(tmp_path_factory.mktemp("pf") / "m.onnx", height=24, width=32)
    with NodeProcess(f"/pf_{os.getpid()}", {"model_path": str(model)}) as node, \
            Peer(f"param_faults_{os.getpid()}") as peer:
        p = Params(peer, node.fqn)
        yield p
        assert node.alive()
        assert node.stop() == 0 and "Traceback" not in node.output()


def _valid_other(spec: ParamSpec) -> Any:
    """A valid value different from the default (for read-only / configure-time parameters)."""
    if spec.choices:
        return next(c for c in spec.choices if c != spec.default)
    if spec.type == "bool":
        return not spec.default
    if spec.type == "int":
        return int(spec.default) + 1
    if spec.type == "float":
        return float(spec.default) + 0.5
    if spec.type == "str":
        return "elsewhere"
    if spec.type == "str_list":
        return ["front"]
    return [0.5] * (spec.lengths or (6,))[-1]


DYNAMIC = [(s.name, v) for s in SCHEMA if s.dynamic for v in bad_values(s)] + [
    ("camera_pose", [0.0] * 5), ("scan.angle_min", SPECS["scan.angle_max"].default)]


def test_runtime_bad_values_are_rejected_and_the_old_value_kept(params: Params) -> None:
    failures = []
    for name, value in DYNAMIC:
        before = params.get(name)
        res = params.set(name, value)
        after = params.get(name)
        if res.successful or not res.reason or after != before:
            failures.append((name, value, res.successful, res.reason, before, after))
    assert not failures, failures
    # and a good value is taken (the check above can tell the difference)
    assert params.set("mask_value", 128).successful and params.get("mask_value") == 128
    assert params.set("mask_value", 255).successful


@pytest.mark.parametrize("name", [s.name for s in SCHEMA if not s.dynamic])
def test_runtime_fixed_parameters_are_refused_while_configured(params: Params,
                                                               name: str) -> None:
    spec = SPECS[name]
    before = params.get(name)
    res = params.set(name, _valid_other(spec))
    assert not res.successful
    why = "read-only" if spec.read_only else "takes effect at configure"
    assert why in res.reason and (spec.read_only or name in res.reason), res.reason
    assert params.get(name) == before


def test_model_path_change_names_the_lifecycle_way(params: Params, tmp_path: Path) -> None:
    res = params.set("model_path", str(tmp_path / "other.onnx"))
    assert not res.successful
    assert "deactivate and clean up" in res.reason and "model_path" in res.reason
