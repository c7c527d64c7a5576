"""Person foot points -> vertical columns of 3-D points for ``people_cloud`` (plain numpy).

Nav2 filters point clouds by height: the collision monitor keeps points between
``min_height`` and ``max_height`` (defaults 0.05 / 0.5 m), the costmap obstacle
layer between ``min_obstacle_height`` and ``max_obstacle_height`` and the voxel
layer inside its voxel column. A foot point on the floor (z = 0) passes none of
them, so each foot point is raised into a column: points at ``min_height``,
``min_height + spacing``, ... up to ``max_height`` (included when it falls on
the step), all at the foot point's x, y in ``base_frame``.

Foot points are dense (one per image column of a person), so only the first foot
point in each cell of the occupancy grid's resolution is kept: a 40 px wide
person gives a handful of columns, not forty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["CloudConfig", "column_points"]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class CloudConfig:
    """Column heights [m] and the x, y cell size [m] used to thin foot points."""

    min_height: float = 0.1
    max_height: float = 1.8
    spacing: float = 0.1
    resolution: float = 0.05

    def __post_init__(self) -> None:
        for name in ("min_height", "max_height", "spacing", "resolution"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"cloud {name} must be finite, got {value}")
        if self.spacing <= 0 or self.resolution <= 0:
            raise ValueError(f"cloud spacing and resolution must be > 0, got {self.spacing}, "
                             f"{self.resolution}")
        if not 0.0 <= self.min_height <= self.max_height:
            raise ValueError("cloud heights need 0 <= min_height <= max_height, got "
                             f"{self.min_height}, {self.max_height}")

    def heights(self) -> F64:
        """The z of every point of a column, from min_height up, spacing apart."""
        n = math.floor((self.max_height - self.min_height) / self.spacing + 1e-9) + 1
        out: F64 = self.min_height + self.spacing * np.arange(n, dtype=np.float64)
        return out


def column_points(foot_points: F64, config: CloudConfig) -> NDArray[np.float32]:
    """(N * len(heights), 3) float32 x, y, z: one column per thinned foot point.

    Row order: columns in the order of their first foot point, heights upward
    within a column (deterministic, so bag processing is byte-stable).
    """
    feet = np.asarray(foot_points, dtype=np.float64).reshape(-1, 2)
    feet = feet[np.isfinite(feet).all(axis=1)]
    z = config.heights()
    if feet.shape[0] == 0:
        return np.zeros((0, 3), dtype=np.float32)
    cells = np.floor(feet / config.resolution).astype(np.int64)
    _, first = np.unique(cells, axis=0, return_index=True)
    keep = feet[np.sort(first)]
    out = np.empty((keep.shape[0], z.size, 3), dtype=np.float32)
    out[:, :, 0] = keep[:, 0, None]
    out[:, :, 1] = keep[:, 1, None]
    out[:, :, 2] = z[None, :]
    return out.reshape(-1, 3)
