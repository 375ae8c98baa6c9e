"""shardrun's stand-in for ``azureml.core``: Model, Run and Workspace."""

from azureml.core.model import Model
from azureml.core.run import Run
from shardrun.workspace import Workspace

__all__ = ["Model", "Run", "Workspace"]
