"""shardrun's stand-in for ``azureml.core.dataset``."""

from shardrun.data.datasets import Dataset

__all__ = ["Dataset"]
