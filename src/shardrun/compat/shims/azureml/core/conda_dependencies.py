"""shardrun's stand-in for ``azureml.core.conda_dependencies``."""

from shardrun.environment import CondaDependencies

__all__ = ["CondaDependencies"]
