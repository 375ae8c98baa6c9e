"""shardrun's stand-in for the ``azureml_user`` package."""
