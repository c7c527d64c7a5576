"""Read a ROS 2 parameters YAML into the node's validated :class:`NodeConfig`.

The same file the node is started with (``--params-file``): ``/**:`` or ``<node>:``
sections with ``ros__parameters``, nested maps flattened to dotted names, wildcard
sections first so a node-named section overrides them. Used by ``bag process`` and
``infer``; validated by :func:`peoplesemseg_ros.params.validate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from peoplesemseg_ros.params import NODE_NAME, NodeConfig, ParameterError, validate

__all__ = ["load_params_file"]


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _node_matches(key: str, node_name: str) -> bool:
    k = key.strip()
    return k in ("/**", "**", node_name, f"/{node_name}") or k.endswith(f"/{node_name}")


def load_params_file(path: Path | str, node_name: str = NODE_NAME) -> NodeConfig:
    """Read a ROS 2 params YAML (``/**:`` or ``<node>:`` with ``ros__parameters``)."""
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    doc = yaml.safe_load(text) or {}
    if not isinstance(doc, Mapping):
        raise ParameterError("", f"{path}: not a ROS 2 parameters file (top level is not a map)")
    values: dict[str, Any] = {}
    wildcard_first = sorted(doc.items(), key=lambda kv: 0 if "*" in str(kv[0]) else 1)
    for key, body in wildcard_first:
        if not _node_matches(str(key), node_name):
            continue
        if not isinstance(body, Mapping) or "ros__parameters" not in body:
            raise ParameterError("", f"{path}: section {key!r} has no ros__parameters")
        values.update(_flatten(body["ros__parameters"] or {}))
    return validate(values)
