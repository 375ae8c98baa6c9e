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
    "ParallelRunConfig": "shardrun.config.parallel_run",
    "PipelineParameter": "shardrun.config.parameters",
    "run_parallel": "shardrun.engine.runs",
    "resume": "shardrun.engine.runs",
    "RunResult": "shardrun.engine.runs",
    # the entry script's helpers
    "EntryScript": "shardrun.worker.entry_script",
    "MiniBatchContext": "shardrun.worker.entry_script",
    # data and models
    "Workspace": "shardrun.workspace.workspace",
    "Dataset": "shardrun.data.factory",
    "FileDataset": "shardrun.data.factory",
    "TabularDataset": "shardrun.data.factory",
    "DatasetConsumptionConfig": "shardrun.data.factory",
    "Model": "shardrun.workspace.models",
    "Datastore": "shardrun.workspace.datastores",
    "DataPath": "shardrun.workspace.datastores",
    # environments and compute targets
    "Environment": "shardrun.workspace.environment",
    "CondaDependencies": "shardrun.workspace.environment",
    "ComputeTarget": "shardrun.workspace.compute",
    "ComputeTargetException": "shardrun.workspace.compute",
    "LocalCompute": "shardrun.workspace.compute",
    "RayCompute": "shardrun.workspace.ray_compute",
    "AmlCompute": "shardrun.workspace.compute",
    # pipelines and experiments
    "PipelineData": "shardrun.pipelines.pipeline",
    "Pipeline": "shardrun.pipelines.pipeline",
    "ParallelRunStep": "shardrun.pipelines.pipeline",
    "PythonScriptStep": "shardrun.pipelines.pipeline",
    "Experiment": "shardrun.pipelines.experiment",
    "PipelineRun": "shardrun.pipelines.experiment",
    "RunDetails": "shardrun.pipelines.widgets",
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
    from shardrun.config.parallel_run import ParallelRunConfig
    from shardrun.config.parameters import PipelineParameter
    from shardrun.data.factory import (
        Dataset,
        DatasetConsumptionConfig,
        FileDataset,
        TabularDataset,
    )
    from shardrun.engine.runs import RunResult, resume, run_parallel
    from shardrun.errors import (
        ConfigError,
        EntryScriptError,
        ErrorThresholdExceeded,
        RunNotFound,
        ShardrunError,
    )
    from shardrun.pipelines.experiment import Experiment, PipelineRun
    from shardrun.pipelines.pipeline import (
        ParallelRunStep,
        Pipeline,
        PipelineData,
        PythonScriptStep,
    )
    from shardrun.pipelines.widgets import RunDetails
    from shardrun.worker.entry_script import EntryScript, MiniBatchContext
    from shardrun.workspace.compute import (
        AmlCompute,
        ComputeTarget,
        ComputeTargetException,
        LocalCompute,
    )
    from shardrun.workspace.datastores import DataPath, Datastore
    from shardrun.workspace.environment import CondaDependencies, Environment
    from shardrun.workspace.models import Model
    from shardrun.workspace.ray_compute import RayCompute
    from shardrun.workspace.workspace import Workspace


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shardrun' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
