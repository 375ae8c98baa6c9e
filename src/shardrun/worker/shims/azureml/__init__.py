"""shardrun's stand-in for the ``azureml`` namespace (only inside shardrun workers)."""
