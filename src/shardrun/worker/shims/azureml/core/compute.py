"""shardrun's stand-in for ``azureml.core.compute``."""

from shardrun.workspace.compute import AmlCompute, ComputeTarget, LocalCompute
from shardrun.workspace.ray_compute import RayCompute

__all__ = ["AmlCompute", "ComputeTarget", "LocalCompute", "RayCompute"]
