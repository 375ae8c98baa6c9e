"""shardrun's stand-in for ``azureml.data.file_dataset``."""

from shardrun.data.datasets import FileDataset

__all__ = ["FileDataset"]
