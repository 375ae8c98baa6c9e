"""shardrun's stand-in for ``azureml.pipeline.steps``: ParallelRunConfig and the steps."""

from shardrun.config.parallel_run import ParallelRunConfig
from shardrun.pipelines.pipeline import ParallelRunStep, PythonScriptStep

__all__ = ["ParallelRunConfig", "ParallelRunStep", "PythonScriptStep"]
