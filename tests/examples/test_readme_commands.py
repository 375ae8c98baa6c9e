"""Every command a README shows runs, exactly as written (issue 8, item 21).

The commands are read from the code blocks of ``README.md`` and ``examples/*/README.md``:
a block tagged ``sh``/``bash``/``shell``, or an untagged one whose first word is a program
(``make``, ``python``, ``shardrun``, ``.venv/bin/python``, ...). Each one is either in
:data:`EXPECTED` (run here, with the line its output must hold) or in :data:`EXCLUDED`
(with the reason): a README command that is in neither fails the test, so a new one cannot
go untested.

They run as a reader runs them after ``make test``: from the root of a clean copy of the
checkout (no ``build/`` folders), with ``.venv`` (the one ``make test`` made) activated,
that is ``.venv/bin`` first on ``PATH``, through ``bash -c``, in the order the READMEs give
them (the MNIST command-line step needs what ``demo.py`` made, as its README says). Nothing
is started for them: the tutorial starts its own Azurite, as its README says.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import stop_pipeline_drivers

ROOT = Path(__file__).resolve().parents[2]
READMES = [
    "README.md",
    *sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("examples/*/README.md")),
]
PROGRAMS = re.compile(r"(\.venv/bin/)?(make|python3?|shardrun|pip|npm|node|bash)\b")

# README -> its commands in order, each with a regular expression a line of its output
# must match.
EXPECTED: dict[str, list[tuple[str, str]]] = {
    "README.md": [
        ("make demo", r"^/.+/examples/mnist/build/output/parallel_run_step\.txt$"),
    ],
    "examples/mnist/README.md": [
        (
            "python examples/mnist/demo.py      # or: make demo",
            r"^accuracy: 0\.9\d+$",
        ),
        (
            "shardrun run examples/mnist/job.yaml --workspace examples/mnist/build/workspace",
            r"^Completed\. 100 of 100 mini-batches processed .* 5000 items succeeded, 0 failed",
        ),
        (
            "shardrun runs --workspace examples/mnist/build/workspace",
            r"│ Completed │",
        ),
    ],
    "examples/tabular/README.md": [
        (
            "python examples/tabular/run.py                 # 300,000 customers; --rows N for "
            "another size",
            r"^rows: 300000 in, 300000 out$",
        ),
        (
            "shardrun run examples/tabular/job.yaml --workspace examples/tabular/build/workspace",
            r"^Completed\. 11 of 11 mini-batches processed .* 300000 items succeeded, 0 failed",
        ),
    ],
    "examples/tutorial/README.md": [
        (".venv/bin/python examples/tutorial/tutorial.py", r"^Prediction has  500  rows$"),
    ],
}

EXCLUDED: dict[tuple[str, str], str] = {
    ("README.md", "make test"): "it runs this test suite: run here, it would run itself",
    (
        "README.md",
        "shardrun run job.yaml [--workspace DIR] [--run-id ID] [--set key=value ...]",
    ): "a synopsis of the options, with placeholders; tests/test_cli.py runs each subcommand",
    (
        "README.md",
        "shardrun resume RUN_ID [--workspace DIR]",
    ): "a synopsis, with placeholders; tests/test_cli.py runs resume",
    (
        "README.md",
        "shardrun runs | show RUN_ID | logs RUN_ID [--errors]",
    ): "a synopsis, with placeholders; tests/test_cli.py runs runs, show and logs",
}


def readme_commands(readme: str) -> list[str]:
    """The shell commands in the code blocks of ``readme``, in order."""
    commands: list[str] = []
    block: list[str] | None = None
    tag = ""
    for line in (ROOT / readme).read_text().splitlines():
        if line.startswith("```"):
            if block is None:
                block, tag = [], line[3:].strip()
                continue
            lines = [item for item in block if item.strip()]
            shell = tag in {"sh", "bash", "shell", "console"}
            if lines and (shell or (not tag and PROGRAMS.match(lines[0]))):
                commands.extend(lines)
            block = None
        elif block is not None:
            block.append(line)
    return commands


def test_every_readme_command_is_run_or_excluded_with_a_reason() -> None:
    found = {(readme, command) for readme in READMES for command in readme_commands(readme)}
    listed = {(readme, command) for readme, items in EXPECTED.items() for command, _ in items}
    assert found == listed | set(EXCLUDED)
    for readme, items in EXPECTED.items():
        order = [command for command in readme_commands(readme) if (readme, command) in listed]
        assert order == [command for command, _ in items], readme


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A clean copy of the checkout, with ``make test``'s ``.venv`` and ``.cache``."""
    venv = ROOT / ".venv"
    if not (venv / "bin" / "python").exists():
        pytest.skip(f"the READMEs' commands run after `make test`, which makes {venv}")
    copy = tmp_path_factory.mktemp("checkout") / "shardrun"
    ignore = shutil.ignore_patterns(
        ".git", ".venv", ".cache", "build", "__pycache__", "*_cache", ".hypothesis"
    )
    shutil.copytree(ROOT, copy, ignore=ignore)  # copy2: mtimes kept, so make sees no change
    # A venv of links to make test's, with copies of its stamps: `make demo` may touch them.
    (copy / ".venv").mkdir()
    for entry in venv.iterdir():
        if entry.name.startswith(".installed"):
            shutil.copy2(entry, copy / ".venv" / entry.name)
        else:
            (copy / ".venv" / entry.name).symlink_to(entry)
    (copy / ".cache").symlink_to((ROOT / ".cache").resolve())
    try:
        yield copy
    finally:
        stop_pipeline_drivers(copy)


def run(command: str, cwd: Path, timeout: float = 600) -> str:
    """Run ``command`` as a reader would, in the activated venv; returns its output."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SHARDRUN_", "TUTORIAL_")) and key != "VIRTUAL_ENV"
    }
    env["PATH"] = f"{cwd / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(cwd / ".venv")
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command!r} exited {done.returncode}:\n{output[-4000:]}"
    return output


def check(readme: str, checkout: Path) -> None:
    for command, expected in EXPECTED[readme]:
        output = run(command, checkout)
        assert re.search(expected, output, re.MULTILINE), f"{command!r}:\n{output[-4000:]}"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_top_readme(checkout: Path) -> None:
    stamp = checkout / ".venv" / ".installed-test"
    newer = [checkout / "pyproject.toml", checkout / ".venv" / "bin" / "python"]
    if not stamp.exists() or any(p.stat().st_mtime > stamp.stat().st_mtime for p in newer):
        pytest.skip("`make test` has not installed the current pyproject.toml: run it first")
    # After `make test`, `make demo` must not install anything (the test extra holds the
    # examples extra), and only then is it safe to run here.
    dry_run = run("make -n demo", checkout)
    assert "pip install" not in dry_run, dry_run
    check("README.md", checkout)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_mnist_readme(checkout: Path) -> None:
    check("examples/mnist/README.md", checkout)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_tabular_readme(checkout: Path) -> None:
    check("examples/tabular/README.md", checkout)


@pytest.mark.slow
@pytest.mark.service
@pytest.mark.timeout(900)
def test_tutorial_readme(checkout: Path) -> None:
    check("examples/tutorial/README.md", checkout)
