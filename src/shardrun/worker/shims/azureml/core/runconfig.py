"""shardrun's stand-in for ``azureml.core.runconfig``: CondaDependencies and image names."""

from shardrun.workspace.environment import (
    DEFAULT_CPU_IMAGE,
    DEFAULT_GPU_IMAGE,
    CondaDependencies,
)

__all__ = ["DEFAULT_CPU_IMAGE", "DEFAULT_GPU_IMAGE", "CondaDependencies"]
