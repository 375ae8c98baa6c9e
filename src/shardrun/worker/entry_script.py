"""Host the user's entry script: check it, import it, and the helpers it may call.

The contract is ParallelRunStep's: ``init()`` (optional, once per worker process),
``run(mini_batch)`` or ``run(mini_batch, context)`` (once per mini-batch), ``shutdown()``
(optional, once when a worker ends normally). :class:`EntryScript` is the helper that Azure
scripts import as ``from azureml_user.parallel_run import EntryScript``.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import _shardrun_azureml
from shardrun.errors import ConfigError, EntryScriptError


def check_entry_script(path: Path) -> None:
    """Check, without running it, that the script exists, compiles and defines ``run``.

    Raises:
        ConfigError: The file does not exist.
        EntryScriptError: It does not compile, or no top-level ``run`` is defined.
    """
    if not path.is_file():
        raise ConfigError(f"entry_script {str(path)!r} does not exist or is not a file")
    source = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as e:
        raise EntryScriptError(
            f"entry script {path} does not compile: {e.msg} (line {e.lineno})"
        ) from e
    names: set[str] = set()
    star_import = False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            star_import |= any(a.name == "*" for a in node.names)
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    if "run" not in names and not star_import:
        raise EntryScriptError(
            f"entry script {path} defines no run() function; it must define "
            "run(mini_batch) or run(mini_batch, context)"
        )


def import_entry_script(path: Path) -> ModuleType:
    """Import the script as a module named after its file (the module runs here)."""
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise EntryScriptError(f"cannot import entry script {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise EntryScriptError(f"entry script {path} has no callable run()")
    return module


@dataclass(frozen=True)
class MiniBatchContext:
    """The second argument of ``run(mini_batch, context)`` (Azure's mini_batch_context).

    Attributes:
        minibatch_index: The mini-batch's position in dataset order.
        attempt: 1 for the first try, then 2, 3, …
        partition_key_value: The ``partition_keys`` values of this mini-batch (a dict).
        input_name: The name of the input the mini-batch was cut from.
        files: The files the mini-batch covers.
        kind: ``"files"`` or the tabular format (``csv``, ``jsonl``, ``parquet``).
    """

    minibatch_index: int
    attempt: int
    partition_key_value: Mapping[str, str] = field(default_factory=dict)
    input_name: str = ""
    files: tuple[str, ...] = ()
    kind: str = "files"

    @property
    def dataset(self) -> Any:
        """As in Azure: the dataset of this mini-batch, the input filtered to its files.

        A FileDataset or a TabularDataset of :attr:`files`, named after the input (built
        when first read: most scripts never ask).
        """
        from shardrun.data.factory import Dataset  # only for scripts that read it

        readers = {
            "files": Dataset.File.from_files,
            "csv": Dataset.Tabular.from_delimited_files,
            "jsonl": Dataset.Tabular.from_json_lines_files,
            "parquet": Dataset.Tabular.from_parquet_files,
        }
        dataset = readers[self.kind](list(self.files), validate=False)
        dataset.name = self.input_name
        return dataset


def runner(module: ModuleType) -> Callable[[Any, MiniBatchContext], Any]:
    """A function calling the script's ``run`` with one or two arguments, as it expects."""
    run = module.run
    try:
        parameters = inspect.signature(run).parameters.values()
    except (TypeError, ValueError):
        return lambda batch, _context: run(batch)
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional):
        return lambda batch, context: run(batch, context)
    return lambda batch, _context: run(batch)


class EntryScript:
    """Azure's ``azureml_user.parallel_run.EntryScript``: a per-process singleton.

    Attributes:
        logger: Writes to ``logs/user/entry_script_log/<node>/<process>.log.txt``.
        output_dir: The step's output folder (``AZUREML_BI_OUTPUT_PATH``), created if missing.
        log_dir: This worker's user-log folder.
        working_dir: The folder the run was started from.
        agent_name: This worker's name, e.g. ``process003``.
        node_id: This worker's node, e.g. ``node0``.
        dir: The folder that holds the entry script.
    """

    _instance: ClassVar[EntryScript | None] = None
    logger: logging.Logger
    output_dir: str
    log_dir: str
    working_dir: str
    agent_name: str
    node_id: str
    dir: str

    def __new__(cls) -> EntryScript:
        if cls._instance is None:
            instance = super().__new__(cls)
            instance.agent_name = os.environ.get("SHARDRUN_PROCESS_NAME", "process000")
            instance.node_id = os.environ.get("SHARDRUN_NODE_NAME", "node0")
            instance.output_dir = os.environ.get("AZUREML_BI_OUTPUT_PATH", os.getcwd())
            instance.log_dir = os.environ.get("SHARDRUN_USER_LOG_DIR", os.getcwd())
            instance.working_dir = os.environ.get("SHARDRUN_WORKING_DIR", os.getcwd())
            instance.dir = os.environ.get("SHARDRUN_ENTRY_SCRIPT_DIR", os.getcwd())
            instance.logger = logging.getLogger("shardrun.worker.entry_script")
            os.makedirs(instance.output_dir, exist_ok=True)
            cls._instance = instance
        return cls._instance

    def get_working_dir(self) -> str:
        """The pre-GA helper's name for :attr:`working_dir`."""
        return self.working_dir

    def get_log_dir(self) -> str:
        """The pre-GA helper's name for :attr:`log_dir`."""
        return self.log_dir

    def get_temp_dir(self) -> str:
        """A private scratch folder for this worker."""
        path = os.path.join(self.log_dir, "tmp", self.agent_name)
        os.makedirs(path, exist_ok=True)
        return path


def shim_path() -> str:
    """The folder of the ``azureml`` and ``azureml_user`` stand-ins."""
    return str(Path(__file__).parent / "shims")


def install_shims() -> None:
    """Make the stand-ins importable as a fallback: installed ``azureml.*`` packages win.

    The ``azureml`` stand-in is a namespace portion found by a finder that Python asks last
    (see ``_shardrun_azureml``), so it extends the installed ``azureml`` namespace (for
    example ``azureml.dataprep``, which ``mltable`` needs) and never hides it.
    """
    _shardrun_azureml.install()
