"""Old name of the detached pipeline driver, kept because saved run records name it.

``python -m shardrun.pipeline_driver FOLDER`` runs :mod:`shardrun.pipelines.driver`.
"""

from __future__ import annotations

from shardrun.pipelines.driver import main

if __name__ == "__main__":
    raise SystemExit(main())
