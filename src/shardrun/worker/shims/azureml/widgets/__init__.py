"""shardrun's stand-in for ``azureml.widgets``: RunDetails."""

from shardrun.pipelines.widgets import RunDetails

__all__ = ["RunDetails"]
