"""shardrun's stand-in for ``azureml.pipeline``."""
