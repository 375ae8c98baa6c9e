"""``shardrun ui``: check where it may listen, print how to open it, serve with uvicorn."""

from __future__ import annotations

from pathlib import Path

import click

from shardrun.errors import ConfigError
from shardrun.ui.auth import is_loopback, new_token


def serve(workspace: Path, host: str, port: int, token: str | None) -> None:
    """Serve the dashboard until Ctrl-C or SIGTERM.

    Any address other than a loopback one needs a token; one is made (and printed once)
    when none is given.

    Raises:
        ConfigError: The port is out of range or the workspace folder does not exist.
    """
    import uvicorn

    from shardrun.ui.app import create_app

    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535; got {port}")
    if not workspace.is_dir():
        raise ConfigError(
            f"--workspace {str(workspace)!r} is not a folder; run a job first or pass "
            "the workspace's folder"
        )
    if token is not None and len(token) < 16:
        raise ConfigError("--token must be at least 16 characters long; got a shorter one")
    made = token is None and not is_loopback(host)
    if made:
        token = new_token()
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/"
    click.echo(f"shardrun ui: {url} (workspace {workspace}); Ctrl-C stops it", err=False)
    if token is not None:
        click.echo(f"token{' (made for this session)' if made else ''}: {token}")
        click.echo(f"open {url}?token={token} once (it sets a cookie)")
    config = uvicorn.Config(
        create_app(workspace, token),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="off",
    )
    uvicorn.Server(config).run()
