"""shardrun's stand-in for ``azureml.core.model``."""

from shardrun.workspace.models import Model

__all__ = ["Model"]
