"""shardrun's stand-in for ``azureml.core``: Workspace, Experiment, Dataset, Datastore, …

``VERSION`` is shardrun's version with a ``+shardrun`` marker, so that code which prints the
SDK version shows which implementation answered.
"""

from azureml.core.compute import ComputeTarget
from azureml.core.dataset import Dataset
from azureml.core.datastore import Datastore
from azureml.core.environment import Environment
from azureml.core.experiment import Experiment
from azureml.core.model import Model
from azureml.core.run import Run
from azureml.core.workspace import Workspace

from shardrun import __version__

VERSION = f"{__version__}+shardrun"

__all__ = [
    "VERSION",
    "ComputeTarget",
    "Dataset",
    "Datastore",
    "Environment",
    "Experiment",
    "Model",
    "Run",
    "Workspace",
]
