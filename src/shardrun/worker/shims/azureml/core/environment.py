"""shardrun's stand-in for ``azureml.core.environment``."""

from shardrun.workspace.environment import CondaDependencies, Environment

__all__ = ["CondaDependencies", "Environment"]
