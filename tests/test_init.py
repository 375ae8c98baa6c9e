"""The public names: all importable from ``shardrun``, heavy modules imported lazily."""

from __future__ import annotations

import subprocess
import sys

import shardrun

TUTORIAL_NAMES = [
    "Workspace",
    "Datastore",
    "Dataset",
    "Model",
    "Environment",
    "ComputeTarget",
    "ParallelRunConfig",
    "ParallelRunStep",
    "PipelineParameter",
    "PipelineData",
    "Pipeline",
    "Experiment",
    "RunDetails",
    "EntryScript",
    "DatasetConsumptionConfig",
    "LocalCompute",
    "RayCompute",
]


def test_every_public_name_resolves() -> None:
    for name in shardrun.__all__:
        assert getattr(shardrun, name) is not None, name
    assert set(TUTORIAL_NAMES) <= set(shardrun.__all__)


def test_import_is_light() -> None:
    code = (
        "import sys, shardrun\n"
        "from shardrun import ParallelRunConfig, Pipeline, Experiment, RunDetails\n"
        "heavy = [m for m in ('pandas', 'pyarrow', 'ray', 'torch', 'rich', 'ipywidgets')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
