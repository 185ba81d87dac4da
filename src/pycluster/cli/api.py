"""``pycluster api``: the REST API alone, its cluster started over REST."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import click

from ..config import Settings
from ..errors import PyClusterError
from .output import fail, on_stop_signal
from .secret_options import api_token_file_option, resolve_api_token
from .web_options import web_options, web_overrides

__all__ = ["api_command"]


def _quiet_server_class() -> type:
    import contextlib

    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn that leaves signals to us, so SIGTERM ends in a clean exit code 0."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer


@click.command("api")
@click.option("--host", help="Interface to listen on.  [default: 127.0.0.1]")
@click.option("--port", type=int, help="Port of the REST API.  [default: 8001, or PYCLUSTER_API_PORT]")
@click.option(
    "--api-token",
    envvar="PYCLUSTER_API_TOKEN",
    help="Require this bearer token on /api requests; prefer --api-token-file or the PYCLUSTER_API_TOKEN "
    "variable (ps shows command lines).",
)
@api_token_file_option
@click.option(
    "--state-dir", type=click.Path(file_okay=False), help="Where jobs live.  [default: PYCLUSTER_STATE_DIR]"
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="A pycluster.yaml file.")
@web_options
@click.pass_context
def api_command(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    api_token: str | None,
    api_token_file: str | None,
    state_dir: str | None,
    config_path: str | None,
    **web: Any,
) -> None:
    """Serve the REST API alone; the cluster is started over REST.

    \b
    POST /api/processing/cluster/start   starts a local cluster sized by
                                          DASK_N_WORKERS, DASK_THREADS_PER_WORKER, DASK_MEMORY_LIMIT
    Docs at http://HOST:PORT/docs. Runs until Ctrl-C or SIGTERM, then stops the cluster.
    """
    import uvicorn

    from ..cluster.ports import bind_listening_socket
    from ..web.app import create_app
    from ..web.auth import ensure_token
    from ..web.controller import StandaloneController, served_url
    from ..web.tls import WebTLS

    quiet_server = _quiet_server_class()

    try:
        api_token = resolve_api_token(ctx, api_token, api_token_file)
        settings = Settings.load(
            config_path,
            host=host,
            api_port=port,
            api_token=api_token,
            state_dir=state_dir,
            **web_overrides(web),
        )
        c = settings.cluster
        ensure_token(settings, c.resolved_state_dir())
        tls = WebTLS.from_settings(c)
        sock = bind_listening_socket(c.host, c.api_port, "API")
        url = served_url(c.host, sock.getsockname()[1], https=tls is not None)
        # the queue and the registry answer before the cluster starts (the state dir is taken now)
        controller = StandaloneController(settings, url=url).open()
    except (PyClusterError, ValueError) as exc:
        fail(exc)
    # timeout_graceful_shutdown: open dashboard streams must not hold a Ctrl-C forever
    config = uvicorn.Config(
        create_app(controller),
        log_level="warning",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=2,
        **(tls.uvicorn_options() if tls else {}),
    )
    server = quiet_server(config)
    on_stop_signal(lambda: setattr(server, "should_exit", True))
    click.echo(f"pycluster API listening on {url} (docs at /docs)")
    if tls is not None:
        click.echo(f"TLS certificate {tls.certfile} (SHA-256 {tls.fingerprint()})")
    click.echo("Start the cluster with: POST /api/processing/cluster/start")
    sys.stdout.flush()
    try:
        server.run(sockets=[sock])
    finally:
        controller.close()
