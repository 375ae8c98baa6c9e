"""shardrun's stand-in for ``azureml.data.dataset_consumption_config``."""

from shardrun.data.datasets import DatasetConsumptionConfig

__all__ = ["DatasetConsumptionConfig"]
