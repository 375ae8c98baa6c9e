"""shardrun's stand-in for ``azureml.core.experiment``."""

from shardrun.pipelines.experiment import Experiment

__all__ = ["Experiment"]
