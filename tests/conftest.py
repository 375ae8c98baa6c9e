"""Shared fixtures: input folders whose files tell tests/scripts/behave.py what to do."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"


def write_inputs(folder: Path, directives: Sequence[str]) -> list[Path]:
    """One file per directive, named so that sorting keeps their order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, directive in enumerate(directives):
        path = folder / f"item{number:05d}.txt"
        path.write_text(directive)
        paths.append(path)
    return paths


@pytest.fixture
def inputs(tmp_path: Path) -> Callable[[Sequence[str]], Path]:
    """Make an input folder from a list of directives; returns the folder."""

    def make(directives: Sequence[str]) -> Path:
        folder = tmp_path / "data"
        write_inputs(folder, directives)
        return folder

    return make


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh workspace folder."""
    return tmp_path / "ws"
