"""shardrun's stand-in for ``azureml.core.environment``."""

from shardrun.environment import CondaDependencies, Environment

__all__ = ["CondaDependencies", "Environment"]
