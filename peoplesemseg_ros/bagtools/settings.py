"""The node's parameters, read from a ROS params YAML file, for offline bag processing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..pipeline import PipelineConfig
from .io import BagError, ImageTopic
from .process import CameraOutputs

__all__ = ["Settings", "load_settings"]


@dataclass(frozen=True)
class Settings:
    pipeline: PipelineConfig

    def occupancy_factory(self) -> Callable[[ImageTopic], CameraOutputs | None] | None:
        return None


def load_settings(params_file: Path | None, model: Path | None, backend: str | None) -> Settings:
    if params_file is not None:
        raise BagError("--params needs peoplesemseg_ros.params (not there yet)")
    config = PipelineConfig()
    if model is not None:
        config = replace(config, model_path=model)
    if backend is not None:
        config = replace(config, backend=backend)
    return Settings(config)
