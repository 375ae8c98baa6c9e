"""shardrun's stand-in for ``azureml.pipeline.core``: Pipeline, PipelineData, PipelineParameter."""

from shardrun.config.parameters import PipelineParameter
from shardrun.pipelines.experiment import PipelineRun
from shardrun.pipelines.pipeline import Pipeline, PipelineData

__all__ = ["Pipeline", "PipelineData", "PipelineParameter", "PipelineRun"]
