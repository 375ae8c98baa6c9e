"""shardrun's stand-in for ``azureml.core.dataset``."""

from shardrun.data.factory import Dataset

__all__ = ["Dataset"]
