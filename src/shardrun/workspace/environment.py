"""The Python environment a step needs (Azure's ``Environment`` and ``CondaDependencies``).

Azure builds a Docker image from an environment's conda and pip packages. shardrun runs the
workers in the interpreter that runs the driver, so it *checks* instead of building:
:meth:`Environment.check` compares the packages the environment asks for with what is
installed (``importlib.metadata``, requirements parsed by ``packaging``), and raises a
:class:`~shardrun.errors.ConfigError` that lists what is missing or at the wrong version,
with the ``pip install …`` command that fixes it, before any worker starts. A package that
is installed at another version than the one pinned is a warning that names both versions
(Azure's samples pin versions that have no wheel for today's Python): workers use the
installed one. ``check(strict=True)`` (or ``env.strict = True``, or ``shardrun run
--strict-environment``) makes it an error again.

What is not checked, on purpose:

* ``azureml-*`` packages (``azureml-defaults``, ``azureml-core``, …) and ``mltable``:
  shardrun stands in for them (it reads ``MLTable`` files itself);
* conda's ``python`` and ``pip`` (a different Python version is logged, not refused);
* Docker, Spark and Python-interpreter settings (``env.docker.enabled``, ``base_image``,
  ``env.spark.precache_packages``, ``env.python.interpreter_path``, …): accepted and
  ignored, with one INFO line;
* ``python.user_managed_dependencies = True``: the user vouches for the interpreter.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from shardrun.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04"

#: conda package names whose pip distribution is called otherwise
_CONDA_TO_PIP = {"pytorch": "torch", "py-xgboost": "xgboost", "tensorflow-gpu": "tensorflow"}
_NOT_CHECKED = {"python", "pip", "setuptools", "wheel", "mltable"}
_CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<version>.*)$")


class CondaDependencies:
    """The conda and pip packages of an environment (Azure's ``CondaDependencies``).

    Build one with :meth:`create`, or read a conda ``environment.yml`` by passing its path.
    """

    def __init__(self, conda_dependencies_file_path: str | None = None) -> None:
        self._conda: list[str] = []
        self._pip: list[str] = []
        self._channels: list[str] = []
        self.python_version: str | None = None
        if conda_dependencies_file_path is not None:
            self._read(Path(conda_dependencies_file_path))

    def __repr__(self) -> str:
        return f"CondaDependencies(conda={self._conda!r}, pip={self._pip!r})"

    @classmethod
    def create(
        cls,
        pip_packages: list[str] | None = None,
        conda_packages: list[str] | None = None,
        python_version: str | None = None,
        pin_sdk_version: bool = True,
        pip_indexurl: str | None = None,
    ) -> CondaDependencies:
        """Packages as Azure's tutorials list them: ``create(pip_packages=["pillow"])``.

        ``pin_sdk_version`` and ``pip_indexurl`` are accepted and ignored.
        """
        del pin_sdk_version, pip_indexurl
        deps = cls()
        for spec in pip_packages or []:
            deps.add_pip_package(spec)
        for spec in conda_packages or []:
            deps.add_conda_package(spec)
        deps.python_version = python_version
        return deps

    @property
    def pip_packages(self) -> list[str]:
        """The pip requirements, as given."""
        return list(self._pip)

    @property
    def conda_packages(self) -> list[str]:
        """The conda package specs (``numpy=1.26``), as given."""
        return list(self._conda)

    def add_pip_package(self, pip_package: str) -> None:
        """Add a pip requirement (``"pandas>=2"``)."""
        _pip_requirement(pip_package)
        self._pip.append(pip_package)

    def add_conda_package(self, conda_package: str) -> None:
        """Add a conda package spec (``"numpy=1.26"``, ``"scikit-learn>=1.3"``)."""
        if not isinstance(conda_package, str) or not _CONDA_SPEC.match(conda_package.strip()):
            raise ConfigError(f"not a conda package spec: {conda_package!r}", "conda_packages")
        self._conda.append(conda_package.strip())

    def add_channel(self, channel: str) -> None:
        """Add a conda channel (recorded, not used)."""
        self._channels.append(channel)

    def serialize_to_string(self) -> str:
        """The dependencies as a conda ``environment.yml``."""
        import yaml

        deps: list[Any] = ([f"python={self.python_version}"] if self.python_version else []) + [
            *self._conda,
            "pip",
            {"pip": self._pip},
        ]
        data = {"name": "project_environment", "channels": self._channels, "dependencies": deps}
        return str(yaml.safe_dump(data, sort_keys=False))

    def requirements(self) -> list[Requirement]:
        """Every package to check, as pip requirements (conda names and versions mapped)."""
        found = [_pip_requirement(spec) for spec in self._pip]
        found += [r for spec in self._conda if (r := _conda_requirement(spec)) is not None]
        return [r for r in found if not _skipped(r)]

    def _read(self, path: Path) -> None:
        import yaml

        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read conda file {str(path)!r}: {e}") from e
        self._channels = [str(c) for c in data.get("channels") or []]
        for item in data.get("dependencies") or []:
            if isinstance(item, dict):
                for spec in item.get("pip") or []:
                    self.add_pip_package(str(spec))
            elif str(item).split("=")[0].strip() == "python":
                self.python_version = str(item).split("=", 1)[1].lstrip("=") or None
            else:
                self.add_conda_package(str(item))


@dataclass
class PythonSection:
    """``env.python``: the packages, and whether the user manages them."""

    conda_dependencies: CondaDependencies = field(default_factory=CondaDependencies)
    user_managed_dependencies: bool = False
    interpreter_path: str = "python"

    conda_dependencies_file: str | None = None
    base_conda_environment: str | None = None

    def unused(self) -> list[str]:
        """The settings a local run cannot use that differ from Azure's defaults."""
        names = ("interpreter_path", "conda_dependencies_file", "base_conda_environment")
        default = PythonSection()
        return [n for n in names if getattr(self, n) != getattr(default, n)]


@dataclass
class ContainerRegistry:
    """``env.docker.base_image_registry``: accepted, not used."""

    address: str | None = None
    username: str | None = None
    password: str | None = None


@dataclass
class DockerSection:
    """``env.docker``: accepted for Azure compatibility, not used by shardrun."""

    enabled: bool = False
    base_image: str | None = None
    base_dockerfile: str | None = None
    base_image_registry: ContainerRegistry = field(default_factory=ContainerRegistry)
    gpu_support: bool = False
    shm_size: str | None = None
    shared_volumes: bool = True
    arguments: list[str] = field(default_factory=list)

    def is_set(self) -> bool:
        """True if anything differs from the defaults."""
        return self != DockerSection()


@dataclass
class SparkSection:
    """``env.spark``: accepted for Azure compatibility, not used by shardrun."""

    repositories: list[str] = field(default_factory=list)
    packages: list[Any] = field(default_factory=list)
    precache_packages: bool = True

    def is_set(self) -> bool:
        """True if anything differs from the defaults."""
        return self != SparkSection()


class Environment:
    """The packages a step's workers need (Azure's ``Environment``); checked, not built.

    Attributes:
        name: The environment's name.
        version: Free text (Azure's registered version), kept for display.
        python: ``python.conda_dependencies`` and ``python.user_managed_dependencies``.
        docker: Docker settings: accepted, ignored (one INFO line when checked).
        spark: Spark settings: accepted, ignored (one INFO line when checked).
        environment_variables: Variables for the workers.
        strict: If true, a package at another version than pinned is an error, not a
            warning (shardrun's addition; default false).
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"Environment needs a name; got {name!r}", "name")
        self.name = name
        self.version: str | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.spark = SparkSection()
        self.environment_variables: dict[str, str] = {}
        self.inferencing_stack_version: str | None = None
        self.strict = False

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r})"

    @classmethod
    def from_pip_requirements(cls, name: str, file_path: str) -> Environment:
        """An environment from a ``requirements.txt`` (comments and ``-`` options skipped)."""
        env = cls(name)
        try:
            lines = Path(file_path).read_text().splitlines()
        except OSError as e:
            raise ConfigError(f"cannot read requirements file {file_path!r}: {e}") from e
        for line in lines:
            text = line.split(" #", 1)[0].strip()
            if text and not text.startswith(("#", "-")):
                env.python.conda_dependencies.add_pip_package(text)
        return env

    @classmethod
    def from_conda_specification(cls, name: str, file_path: str) -> Environment:
        """An environment from a conda ``environment.yml`` (its pip section included)."""
        env = cls(name)
        env.python.conda_dependencies = CondaDependencies(file_path)
        return env

    def missing(self) -> list[str]:
        """What is missing or at another version, one line each (empty when all is there)."""
        absent, other = self._compare()
        return absent + other

    def _compare(self) -> tuple[list[str], list[str]]:
        """(packages not installed, packages installed at another version than pinned)."""
        if self.python.user_managed_dependencies:
            return [], []
        absent, other = [], []
        for requirement in self.python.conda_dependencies.requirements():
            try:
                installed = importlib.metadata.version(requirement.name)
            except importlib.metadata.PackageNotFoundError:
                absent.append(f"{requirement} (not installed)")
                continue
            if requirement.specifier and not requirement.specifier.contains(
                installed, prereleases=True
            ):
                other.append(f"{requirement} (installed: {installed})")
        return absent, other

    def check(self, strict: bool | None = None) -> None:
        """Check that this interpreter has every package the environment names.

        Args:
            strict: A package at another version than pinned is an error (default:
                :attr:`strict`); otherwise it is a warning naming both versions.

        Raises:
            ConfigError: Something is missing (or, strict, at another version); the message
                lists it and the ``pip install`` command that installs it.
        """
        self._log_unused()
        wanted = self.python.conda_dependencies.python_version
        if wanted and not platform.python_version().startswith(wanted.rstrip(".*")):
            log.info(
                "environment %r asks for Python %s; workers run Python %s",
                self.name,
                wanted,
                platform.python_version(),
            )
        absent, other = self._compare()
        strict = self.strict if strict is None else strict
        if other and not strict:
            log.warning(
                "environment %r pins packages at other versions than this Python has: %s; "
                "workers use the installed versions (strict=True makes this an error)",
                self.name,
                "; ".join(other),
            )
        problems = absent + (other if strict else [])
        if problems:
            reqs = [p.rsplit(" (", 1)[0] for p in problems]
            command = "pip install " + " ".join(shlex.quote(r) for r in reqs)
            raise ConfigError(
                f"environment {self.name!r} needs packages this Python does not have: "
                f"{'; '.join(problems)}. Install them with: {command}",
                "environment",
            )

    def _log_unused(self) -> None:
        unused = [f"docker.{n}" for n in _changed(self.docker, DockerSection())]
        unused += [f"spark.{n}" for n in _changed(self.spark, SparkSection())]
        unused += [f"python.{n}" for n in self.python.unused()]
        if unused:
            log.info(
                "environment %r: %s cannot be used by a local run and are ignored; workers "
                "run in this Python",
                self.name,
                ", ".join(unused),
            )


def _changed(section: Any, default: Any) -> list[str]:
    """The attributes of ``section`` that differ from ``default`` (extra ones included)."""
    names = dict.fromkeys([*vars(default), *vars(section)])
    return [n for n in names if getattr(section, n, None) != getattr(default, n, None)]


def _pip_requirement(spec: str) -> Requirement:
    try:
        return Requirement(spec)
    except (InvalidRequirement, TypeError) as e:
        raise ConfigError(f"not a pip requirement: {spec!r} ({e})", "pip_packages") from None


def _conda_requirement(spec: str) -> Requirement | None:
    match = _CONDA_SPEC.match(spec.split("::")[-1].strip())
    if match is None:
        return None
    name = _CONDA_TO_PIP.get(match["name"].lower(), match["name"])
    version = match["version"].strip()
    if version.startswith("=") and not version.startswith("=="):
        # conda: "numpy=1.26" means 1.26.*; "numpy=1.26.4=build" names a build too.
        version = f"=={version.lstrip('=').split('=')[0].removesuffix('.*')}.*"
    elif version and version[0].isdigit():
        version = f"=={version.split('=')[0]}"  # conda: "numpy 1.26.4"
    try:
        return Requirement(f"{name}{version}")
    except InvalidRequirement:
        return Requirement(name)


def _skipped(requirement: Requirement) -> bool:
    name = canonicalize_name(requirement.name)
    if name in _NOT_CHECKED or name.startswith("azureml-"):
        return True
    return requirement.marker is not None and not requirement.marker.evaluate()
