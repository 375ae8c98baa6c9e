"""shardrun's stand-in for ``azureml.core.workspace``."""

from shardrun.workspace.workspace import Workspace

__all__ = ["Workspace"]
