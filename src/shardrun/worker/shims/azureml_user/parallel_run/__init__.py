"""shardrun's stand-in for ``azureml_user.parallel_run``."""

from shardrun.worker.entry_script import EntryScript

__all__ = ["EntryScript"]
