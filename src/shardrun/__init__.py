"""shardrun: batch inference over very large datasets, Azure ML ParallelRunStep's way.

Public names are imported lazily, so that ``import shardrun`` stays fast and never imports
pandas, Ray or the dashboard until they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # running a job
    "ParallelRunConfig": "shardrun.config",
    "PipelineParameter": "shardrun.parameters",
    "run_parallel": "shardrun.runs",
    "resume": "shardrun.runs",
    "RunResult": "shardrun.runs",
    # the entry script's helpers
    "EntryScript": "shardrun.entry_script",
    "MiniBatchContext": "shardrun.entry_script",
    # data and models
    "Workspace": "shardrun.workspace",
    "Dataset": "shardrun.datasets",
    "FileDataset": "shardrun.datasets",
    "TabularDataset": "shardrun.tables",
    "DatasetConsumptionConfig": "shardrun.datasets",
    "Model": "shardrun.models",
    "Datastore": "shardrun.datastores",
    "DataPath": "shardrun.datastores",
    # environments and compute targets
    "Environment": "shardrun.environment",
    "CondaDependencies": "shardrun.environment",
    "ComputeTarget": "shardrun.compute",
    "ComputeTargetException": "shardrun.compute",
    "LocalCompute": "shardrun.compute",
    "RayCompute": "shardrun.compute",
    "AmlCompute": "shardrun.compute",
    # pipelines and experiments
    "PipelineData": "shardrun.pipeline",
    "Pipeline": "shardrun.pipeline",
    "ParallelRunStep": "shardrun.pipeline",
    "PythonScriptStep": "shardrun.pipeline",
    "Experiment": "shardrun.experiment",
    "PipelineRun": "shardrun.experiment",
    "RunDetails": "shardrun.widgets",
    # errors
    "ShardrunError": "shardrun.errors",
    "ConfigError": "shardrun.errors",
    "EntryScriptError": "shardrun.errors",
    "ErrorThresholdExceeded": "shardrun.errors",
    "RunNotFound": "shardrun.errors",
}

__all__ = [
    # running a job
    "ParallelRunConfig",
    "PipelineParameter",
    "RunResult",
    "resume",
    "run_parallel",
    # the entry script's helpers
    "EntryScript",
    "MiniBatchContext",
    # data and models
    "DataPath",
    "Dataset",
    "DatasetConsumptionConfig",
    "Datastore",
    "FileDataset",
    "Model",
    "TabularDataset",
    "Workspace",
    # environments and compute targets
    "AmlCompute",
    "ComputeTarget",
    "ComputeTargetException",
    "CondaDependencies",
    "Environment",
    "LocalCompute",
    "RayCompute",
    # pipelines and experiments
    "Experiment",
    "ParallelRunStep",
    "Pipeline",
    "PipelineData",
    "PipelineRun",
    "PythonScriptStep",
    "RunDetails",
    # errors
    "ConfigError",
    "EntryScriptError",
    "ErrorThresholdExceeded",
    "RunNotFound",
    "ShardrunError",
]

if TYPE_CHECKING:
    from shardrun.compute import (
        AmlCompute,
        ComputeTarget,
        ComputeTargetException,
        LocalCompute,
        RayCompute,
    )
    from shardrun.config import ParallelRunConfig
    from shardrun.datasets import Dataset, DatasetConsumptionConfig, FileDataset
    from shardrun.datastores import DataPath, Datastore
    from shardrun.entry_script import EntryScript, MiniBatchContext
    from shardrun.environment import CondaDependencies, Environment
    from shardrun.errors import (
        ConfigError,
        EntryScriptError,
        ErrorThresholdExceeded,
        RunNotFound,
        ShardrunError,
    )
    from shardrun.experiment import Experiment, PipelineRun
    from shardrun.models import Model
    from shardrun.parameters import PipelineParameter
    from shardrun.pipeline import ParallelRunStep, Pipeline, PipelineData, PythonScriptStep
    from shardrun.runs import RunResult, resume, run_parallel
    from shardrun.tables import TabularDataset
    from shardrun.widgets import RunDetails
    from shardrun.workspace import Workspace


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shardrun' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
