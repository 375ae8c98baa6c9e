"""shardrun's stand-in for ``azureml.core.compute_target``."""

from shardrun.workspace.compute import ComputeTarget, ComputeTargetException

__all__ = ["ComputeTarget", "ComputeTargetException"]
