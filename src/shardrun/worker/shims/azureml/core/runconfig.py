"""shardrun's stand-in for ``azureml.core.runconfig``: the default image names (unused)."""

from shardrun.workspace.environment import DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE

__all__ = ["DEFAULT_CPU_IMAGE", "DEFAULT_GPU_IMAGE"]
