"""The driver program the chaos tests start and kill: it runs a job, or resumes it.

Deliberately written without an ``if __name__ == "__main__":`` guard (issue 8, item 10).
Argument: a JSON object with ``workspace``, ``run_id``, ``data``, ``output`` and ``config``.
"""

import json
import shutil
import sys
from pathlib import Path

from shardrun import ParallelRunConfig, resume, run_parallel

settings = json.loads(sys.argv[1])
workspace = Path(settings["workspace"])
run_dir = workspace / "runs" / settings["run_id"]
if (run_dir / "run.json").exists():
    result = resume(settings["run_id"], workspace=workspace, show_progress=False)
else:
    # Killed before the run's record was written: nothing ran, start it again.
    shutil.rmtree(run_dir, ignore_errors=True)
    result = run_parallel(
        ParallelRunConfig(**settings["config"]),
        settings["data"],
        settings["output"],
        workspace=workspace,
        run_id=settings["run_id"],
        show_progress=False,
    )
print("STATUS", result.status, result.reason, flush=True)
