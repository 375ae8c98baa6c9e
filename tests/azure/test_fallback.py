"""``azureml.*`` names resolve to shardrun only where no Azure package provides them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shardrun import ParallelRunConfig, run_parallel

SRC = Path(__file__).resolve().parents[2] / "src"

SAMPLE_IMPORTS = """
import azureml.core
from azureml.core import Workspace, Experiment, Dataset, Datastore, Environment, Model
from azureml.core.workspace import Workspace as W2
from azureml.core.compute import AmlCompute, ComputeTarget
from azureml.core.runconfig import CondaDependencies
from azureml.core.dataset import Dataset as D2
from azureml.data.dataset_consumption_config import DatasetConsumptionConfig
from azureml.pipeline.core import Pipeline, PipelineData, PipelineParameter
from azureml.pipeline.steps import ParallelRunConfig, ParallelRunStep, PythonScriptStep
from azureml.widgets import RunDetails
"""

# The three shapes an installed ``azureml`` namespace takes.
NAMESPACE_STYLES = {
    "pep420": None,
    "pkgutil": "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n",
    "regular": "",
}


def site_with_pth(tmp_path: Path) -> Path:
    """A site folder holding only shardrun's ``.pth`` (as ``pip install shardrun`` leaves it)."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(SRC / "shardrun_azureml.pth", site)
    return site


def fake_azure(root: Path, style: str) -> Path:
    """A stand-in for Microsoft's packages: ``azureml.core`` and ``azureml.dataprep``."""
    package = root / "azureml"
    (package / "core").mkdir(parents=True)
    (package / "dataprep").mkdir()
    if NAMESPACE_STYLES[style] is not None:
        (package / "__init__.py").write_text(NAMESPACE_STYLES[style])
    (package / "core" / "__init__.py").write_text("VERSION = '1.99.0'\n")
    (package / "dataprep" / "__init__.py").write_text("NAME = 'real dataprep'\n")
    return root


def python(code: str, cwd: Path, path: list[Path]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in path)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_azure_the_samples_imports_resolve_to_shardrun(tmp_path: Path) -> None:
    site = site_with_pth(tmp_path)
    done = python(
        f"""
        import site
        site.addsitedir({str(site)!r})
        {SAMPLE_IMPORTS.strip().replace(chr(10), chr(10) + " " * 8)}
        import shardrun
        assert Workspace is shardrun.Workspace is W2
        assert Dataset is shardrun.Dataset is D2
        assert ParallelRunStep is shardrun.ParallelRunStep
        assert DatasetConsumptionConfig is shardrun.DatasetConsumptionConfig
        print(azureml.core.VERSION)
        """,
        tmp_path,
        [SRC],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{__import__('shardrun').__version__}+shardrun"


def test_without_the_pth_there_is_no_azureml(tmp_path: Path) -> None:
    # -S: no site folders, so no .pth runs (a fresh `pip install -e` installs ours too).
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-S", "-c", "import azureml.core"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "No module named 'azureml'" in done.stderr


@pytest.mark.parametrize("style", sorted(NAMESPACE_STYLES))
def test_installed_azure_packages_win_module_by_module(tmp_path: Path, style: str) -> None:
    real = fake_azure(tmp_path / "real", style)
    site = site_with_pth(tmp_path)
    done = python(
        f"""
        import site
        site.addsitedir({str(site)!r})
        import azureml.core, azureml.dataprep
        from azureml.pipeline.steps import ParallelRunStep
        import shardrun
        assert azureml.core.VERSION == "1.99.0", azureml.core.VERSION
        assert azureml.dataprep.NAME == "real dataprep"
        assert ParallelRunStep is shardrun.ParallelRunStep
        """,
        tmp_path,
        [real, SRC],
    )
    assert done.returncode == 0, done.stderr


def test_doctor_says_which_implementation_answers(tmp_path: Path) -> None:
    real = fake_azure(tmp_path / "real", "pep420")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(real), str(SRC)])}
    done = subprocess.run(
        [sys.executable, "-m", "shardrun", "doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines()[1:]}
    # This Python has the finder when shardrun was installed with its .pth (a fresh install).
    import _shardrun_azureml

    state = "active" if _shardrun_azureml.active() else "not active"
    assert done.stdout.splitlines()[0].startswith(f"azureml fallback: {state}")
    assert rows["azureml.core"] == "Azure"
    assert rows["azureml.pipeline.steps"] == "shardrun"
    assert rows["azureml.widgets"] == "shardrun"
    assert rows["azureml_user.parallel_run"] == "shardrun"


ENTRY = """
import azureml.dataprep
from azureml.core import Model
from azureml_user.parallel_run import EntryScript


def run(mini_batch):
    line = f"{azureml.dataprep.NAME} {Model.__module__} {EntryScript.__name__}"
    return [line for _ in mini_batch]
"""


def test_worker_shims_extend_an_installed_azureml_namespace(tmp_path: Path) -> None:
    """An entry script imports a real ``azureml.dataprep`` next to the shims (as mltable does)."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text(ENTRY)
    fake = fake_azure(tmp_path / "real", "pep420") / "azureml"
    shutil.rmtree(fake / "core")  # no real azureml.core: the shim answers for it
    shutil.copytree(fake, code / "azureml")
    data = tmp_path / "data"
    data.mkdir()
    for number in range(3):
        (data / f"{number}.txt").write_text("x")
    config = ParallelRunConfig(
        entry_script="score.py",
        source_directory=str(code),
        mini_batch_size="2",
        error_threshold=0,
        output_action="append_row",
        process_count_per_node=1,
    )
    result = run_parallel(
        config, data, tmp_path / "out", workspace=tmp_path / "ws", show_progress=False
    )
    assert result.status == "Completed", result.reason
    assert result.output_file is not None
    assert (
        result.output_file.read_text().splitlines()
        == ["real dataprep shardrun.workspace.models EntryScript"] * 3
    )
