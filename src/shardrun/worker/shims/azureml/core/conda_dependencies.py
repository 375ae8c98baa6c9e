"""shardrun's stand-in for ``azureml.core.conda_dependencies``."""

from shardrun.workspace.environment import CondaDependencies

__all__ = ["CondaDependencies"]
