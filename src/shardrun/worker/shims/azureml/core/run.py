"""shardrun's stand-in for ``azureml.core.run``: ``Run.get_context()`` logs metrics to a file."""

from shardrun.worker.run_context import Run

__all__ = ["Run"]
