"""shardrun's stand-in for ``azureml.data``."""

from shardrun.data.datasets import FileDataset
from shardrun.data.tables import TabularDataset

__all__ = ["FileDataset", "TabularDataset"]
