"""Render the parameter schema as the commented params YAML and as a Markdown table.

``python -m peoplesemseg_ros.params_doc yaml > config/peoplesemseg.yaml`` and
``python -m peoplesemseg_ros.params_doc md`` (the table in docs/node.md);
a test checks that both are up to date with :data:`peoplesemseg_ros.params.SCHEMA`.
"""

from __future__ import annotations

import json
import sys
import textwrap
from typing import Any

from peoplesemseg_ros.params import SCHEMA, ParamSpec

__all__ = ["kind", "render_markdown", "render_yaml"]

_HEADER = """\
# peoplesemseg node parameters: every one, with its default.
# Generated from peoplesemseg_ros/params_schema.py (python -m peoplesemseg_ros.params_doc yaml).
# Use: ros2 launch peoplesemseg_ros peoplesemseg.launch.py params_file:=<this file>
#  or: peoplesemseg_node --ros-args --params-file <this file>
# The offline tools read the same file (peoplesemseg bag process --params <this file>).
# (dynamic): can change at run time (ros2 param set); (configure): applies at the next
# lifecycle configure, accepted only while unconfigured; (read-only): fixed at start.
/**:
  ros__parameters:
"""


def kind(spec: ParamSpec) -> str:
    return "dynamic" if spec.dynamic else ("read-only" if spec.read_only else "configure")


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def render_yaml() -> str:
    lines = [_HEADER.rstrip("\n")]
    for s in SCHEMA:
        text = f"{s.description}. Allowed: {s.allowed()}. ({kind(s)})"
        lines += ["    # " + part for part in textwrap.wrap(text, 88)]
        lines += [f"    {s.name}: {_fmt(s.default)}", ""]
    return "\n".join(lines).rstrip() + "\n"


def render_markdown() -> str:
    rows = ["| name | default | allowed | when | description |", "|---|---|---|---|---|"]
    for s in SCHEMA:
        rows.append(f"| `{s.name}` | `{_fmt(s.default)}` | {s.allowed()} | {kind(s)} | "
                    f"{s.description} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_markdown() if sys.argv[1:] == ["md"] else render_yaml())
