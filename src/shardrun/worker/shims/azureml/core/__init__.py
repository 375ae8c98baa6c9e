"""shardrun's stand-in for ``azureml.core``: Workspace, Datastore, Model, Environment, Run, …"""

from azureml.core.compute import ComputeTarget
from azureml.core.datastore import Datastore
from azureml.core.environment import Environment
from azureml.core.model import Model
from azureml.core.run import Run
from azureml.core.workspace import Workspace

__all__ = ["ComputeTarget", "Datastore", "Environment", "Model", "Run", "Workspace"]
