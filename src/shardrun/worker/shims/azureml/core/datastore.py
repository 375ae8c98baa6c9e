"""shardrun's stand-in for ``azureml.core.datastore``."""

from shardrun.workspace.datastores import Datastore

__all__ = ["Datastore"]
