"""shardrun's stand-in for ``azureml.core.datastore``."""

from shardrun.datastores import Datastore

__all__ = ["Datastore"]
