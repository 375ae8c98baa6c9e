"""shardrun's stand-in for ``azureml.core.model``."""

from shardrun.models import Model

__all__ = ["Model"]
