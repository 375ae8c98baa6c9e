"""Write ``tutorial.ipynb`` from ``tutorial.py`` (its ``# %%`` cells), or check they agree.

``python make_notebook.py`` writes the notebook; ``--check`` exits 1 if it is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cells(source: str) -> list[dict[str, object]]:
    """The notebook cells of a percent-format script."""
    found: list[dict[str, object]] = []
    kind, lines = "code", []  # text before the first marker is dropped

    def flush() -> None:
        text = "\n".join(lines).strip("\n")
        if not text:
            return
        if kind == "markdown":
            text = "\n".join(
                line.removeprefix("# ").removeprefix("#") for line in text.splitlines()
            )
            found.append({"cell_type": "markdown", "metadata": {}, "source": text})
        else:
            found.append(
                {
                    "cell_type": "code",
                    "metadata": {},
                    "execution_count": None,
                    "outputs": [],
                    "source": text,
                }
            )

    started = False
    for line in source.splitlines():
        if line.startswith("# %%"):
            if started:
                flush()
            started = True
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif started:
            lines.append(line)
    flush()
    return found


def notebook(source: str) -> str:
    """The notebook's JSON text."""
    document = {
        "cells": cells(source),
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(document, indent=1) + "\n"


def main() -> int:
    """Write or check the notebook."""
    text = notebook((HERE / "tutorial.py").read_text())
    target = HERE / "tutorial.ipynb"
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            print("tutorial.ipynb is out of date: run python examples/tutorial/make_notebook.py")
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
