"""Environments are checked against this interpreter, not built."""

from __future__ import annotations

import importlib.metadata
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shardrun import CondaDependencies, Environment
from shardrun.errors import ConfigError
from shardrun.worker.entry_script import shim_path


def env_with(pip: list[str] | None = None, conda: list[str] | None = None) -> Environment:
    """An environment asking for these packages."""
    env = Environment(name="batch")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=pip, conda_packages=conda)
    return env


def test_installed_packages_pass() -> None:
    pytest_version = importlib.metadata.version("pytest")
    env = env_with(["pytest", f"pytest=={pytest_version}", "pyyaml>=5", "azureml-defaults"])
    env.check()
    assert env.missing() == []


def test_strict_lists_missing_and_other_versions_with_the_pip_command() -> None:
    env = env_with(["pytest", "surely-not-installed-pkg>=1", "pytest<1"])
    with pytest.raises(ConfigError) as caught:
        env.check(strict=True)
    message = str(caught.value)
    assert "surely-not-installed-pkg>=1 (not installed)" in message
    assert f"pytest<1 (installed: {importlib.metadata.version('pytest')})" in message
    assert "pip install 'surely-not-installed-pkg>=1' 'pytest<1'" in message
    assert caught.value.parameter == "environment"


def test_another_installed_version_is_a_warning_naming_both_versions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Azure's samples pin ``numpy==1.19.5``: no wheel for this Python, so never an error."""
    numpy = importlib.metadata.version("numpy")
    env = env_with(["numpy==1.19.5", "pandas==1.4.4", "scikit-learn==0.22.2"])
    with caplog.at_level(logging.WARNING, logger="shardrun.workspace.environment"):
        env.check()
    [record] = caplog.records
    assert record.levelname == "WARNING"
    assert f"numpy==1.19.5 (installed: {numpy})" in record.message
    assert "scikit-learn==0.22.2 (installed: " in record.message
    env.strict = True
    with pytest.raises(ConfigError, match=r"numpy==1\.19\.5 \(installed: "):
        env.check()


def test_a_missing_package_stays_an_error_with_the_pip_hint() -> None:
    env = env_with(["numpy==1.19.5", "surely-not-installed-pkg==2.0"])
    with pytest.raises(ConfigError) as caught:
        env.check()
    message = str(caught.value)
    assert "surely-not-installed-pkg==2.0 (not installed)" in message
    assert "numpy" not in message
    assert message.endswith("pip install surely-not-installed-pkg==2.0")


def test_conda_specs_map_to_pip_requirements() -> None:
    deps = CondaDependencies.create(
        conda_packages=["python=3.8", "pip", "numpy=1.26", "pytorch", "conda-forge::pandas>=2"],
        pip_packages=["onnx; python_version < '3'"],
    )
    assert [str(r) for r in deps.requirements()] == ["numpy==1.26.*", "torch", "pandas>=2"]


def test_user_managed_dependencies_are_not_checked() -> None:
    env = env_with(["surely-not-installed-pkg"])
    env.python.user_managed_dependencies = True
    env.check()


def test_docker_spark_and_python_settings_are_accepted_with_one_info_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What Azure's notebooks set (``predict_env.spark.precache_packages = False``, …)."""
    env = env_with(["pytest"])
    env.docker.enabled = True
    env.docker.base_image = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
    env.docker.base_image_registry.address = "myregistry.azurecr.io"
    env.spark.precache_packages = False
    env.python.interpreter_path = "/opt/miniconda/bin/python"
    env.inferencing_stack_version = "latest"
    with caplog.at_level(logging.INFO, logger="shardrun.workspace.environment"):
        env.check()
    assert [r.message for r in caplog.records] == [
        "environment 'batch': docker.enabled, docker.base_image, docker.base_image_registry, "
        "spark.precache_packages, python.interpreter_path cannot be used by a local run and "
        "are ignored; workers run in this Python"
    ]


def test_bad_specs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not a pip requirement"):
        CondaDependencies.create(pip_packages=["numpy>=>1"])
    with pytest.raises(ConfigError, match="not a conda package spec"):
        CondaDependencies.create(conda_packages=["=1"])
    with pytest.raises(ConfigError, match="Environment needs a name"):
        Environment(" ")


def test_requirement_and_conda_files(tmp_path: Path) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("# comment\n--index-url https://example.invalid\npytest  # inline\n\n")
    assert Environment.from_pip_requirements("r", str(reqs)).missing() == []
    spec = {
        "name": "x",
        "channels": ["conda-forge"],
        "dependencies": ["python=3.11", "pyyaml", {"pip": ["surely-not-installed-pkg"]}],
    }
    conda = tmp_path / "env.yml"
    conda.write_text(yaml.safe_dump(spec))
    env = Environment.from_conda_specification("c", str(conda))
    assert env.python.conda_dependencies.python_version == "3.11"
    assert env.missing() == ["surely-not-installed-pkg (not installed)"]
    text = env.python.conda_dependencies.serialize_to_string()
    assert yaml.safe_load(text)["dependencies"][-1] == {"pip": ["surely-not-installed-pkg"]}
    with pytest.raises(ConfigError, match="cannot read"):
        Environment.from_pip_requirements("r", str(tmp_path / "missing.txt"))


def test_azureml_imports_of_a_tutorial_resolve_to_shardrun() -> None:
    code = (
        "from azureml.core import Environment, Datastore, ComputeTarget, Workspace, Model\n"
        "from azureml.core.conda_dependencies import CondaDependencies\n"
        "from azureml.core.compute import AmlCompute\n"
        "from azureml.core.compute_target import ComputeTargetException\n"
        "from azureml.core.runconfig import DEFAULT_GPU_IMAGE\n"
        "import shardrun\n"
        "assert Environment is shardrun.Environment and AmlCompute is shardrun.AmlCompute\n"
        "assert CondaDependencies is shardrun.CondaDependencies\n"
        "assert ComputeTargetException is shardrun.ComputeTargetException\n"
        "assert Datastore is shardrun.Datastore and DEFAULT_GPU_IMAGE\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.append({shim_path()!r})\n{code}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
