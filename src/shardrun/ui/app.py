"""The dashboard's routes (Starlette): three pages, their JSON, log files and ``/metrics``.

Pages are static HTML with a little JavaScript that polls the JSON routes every second::

    /                                   experiments, pipeline runs and runs
    /runs/{run_id}                      one run: progress, ETA, throughput, workers, failures
    /pipelines/{experiment}/{run_id}    a pipeline run: its steps as a graph
    /runs/{run_id}/files/{path}         one log file of a run (text)
    /metrics                            Prometheus text format

Read-only: no route writes into the workspace. A path in a request that would leave its
folder (``..``, an absolute path, a symlink out) is answered 403.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from shardrun.engine import history
from shardrun.errors import ConfigError, RunNotFound
from shardrun.ui import metrics, records
from shardrun.ui.auth import TokenGate
from shardrun.ui.records import PathEscape

STATIC = Path(__file__).parent / "static"
LOG_LIMIT = 2_000_000
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
}


def create_app(workspace: Path, token: str | None = None) -> TokenGate:
    """The dashboard for ``workspace``, behind the token gate (see :mod:`.auth`)."""
    workspace = workspace.resolve()

    def page(name: str) -> Response:
        return FileResponse(STATIC / name, headers=HEADERS)

    async def index(request: Request) -> Response:
        return page("index.html")

    async def run_page(request: Request) -> Response:
        records.run_dir(workspace, request.path_params["run_id"])
        return page("run.html")

    async def pipeline_page(request: Request) -> Response:
        params = request.path_params
        records.inside(workspace / "experiments", params["experiment"], params["run_id"])
        return page("pipeline.html")

    async def overview(request: Request) -> Response:
        runs = [r.to_dict() for r in history.summaries(workspace)]
        pipelines = records.pipeline_runs(workspace)
        experiments = sorted({str(p["experiment"]) for p in pipelines})
        body = {
            "workspace": str(workspace),
            "experiments": experiments,
            "pipeline_runs": pipelines,
            "runs": runs,
        }
        return JSONResponse(body, headers=HEADERS)

    async def run_json(request: Request) -> Response:
        body = records.run_details(workspace, request.path_params["run_id"])
        return JSONResponse(body, headers=HEADERS)

    async def pipeline_json(request: Request) -> Response:
        params = request.path_params
        body = records.pipeline_run(workspace, params["experiment"], params["run_id"])
        return JSONResponse(body, headers=HEADERS)

    async def log_file(request: Request) -> Response:
        folder = records.run_dir(workspace, request.path_params["run_id"])
        path = records.inside(folder, *request.path_params["path"].split("/"))
        if not path.is_file():
            raise FileNotFoundError(request.path_params["path"])
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - LOG_LIMIT))
            text = handle.read().decode(errors="replace")
        if size > LOG_LIMIT:
            text = f"[first {size - LOG_LIMIT} bytes left out]\n" + text
        return PlainTextResponse(text, headers=HEADERS)

    async def prometheus(request: Request) -> Response:
        text = metrics.render(workspace)
        return Response(text, media_type=metrics.CONTENT_TYPE, headers=HEADERS)

    routes = [
        Route("/", index),
        Route("/runs/{run_id}", run_page),
        Route("/runs/{run_id}/files/{path:path}", log_file),
        Route("/pipelines/{experiment}/{run_id}", pipeline_page),
        Route("/api/overview", overview),
        Route("/api/runs/{run_id}", run_json),
        Route("/api/pipelines/{experiment}/{run_id}", pipeline_json),
        Route("/metrics", prometheus),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            PathEscape: _forbidden,
            RunNotFound: _not_found,
            FileNotFoundError: _not_found,
            NotADirectoryError: _not_found,
            ConfigError: _bad_request,
        },
    )
    return TokenGate(app, token)


async def _forbidden(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("403 forbidden: the path leaves the workspace\n", 403)


async def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("404 not found\n", 404)


async def _bad_request(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"400 {exc}\n", 400)
