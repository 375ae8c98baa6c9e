"""shardrun's stand-in for ``azureml.data.tabular_dataset``."""

from shardrun.data.tables import TabularDataset

__all__ = ["TabularDataset"]
