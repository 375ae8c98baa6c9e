"""Compatibility with Azure ML entry scripts.

``shims/`` holds small ``azureml`` and ``azureml_user`` packages. Workers append that folder
to the end of ``sys.path``, so that where the real Azure packages are not installed,
``from azureml.core import Model, Run`` and ``from azureml_user.parallel_run import
EntryScript`` resolve to shardrun's equivalents, and official ParallelRunStep scripts run
unchanged.
"""
