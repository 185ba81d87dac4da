"""``pycluster head`` (and ``pycluster-head``): a head node until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import sys
import threading
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config import Settings
from ..errors import PyClusterError
from .output import fail, on_stop_signal
from .platform import head_settings
from .secret_options import api_token_file_option, resolve_api_token, warn_if_on_command_line
from .sizing import hidden_alias, merge_aliases
from .web_options import web_options, web_overrides

if TYPE_CHECKING:
    from ..cluster.launchers import LauncherSettings

__all__ = ["head_command"]


def _wait_for_stop_signal() -> None:
    """Block until Ctrl-C, SIGTERM (or Ctrl-Break on Windows)."""
    stop = threading.Event()
    on_stop_signal(stop.set)
    while not stop.wait(0.5):
        pass


@click.command("head")
@click.option("--cluster-name", help="Name shown in the dashboard and the API.  [default: pycluster]")
@click.option(
    "--host", help="Interface to listen on; 0.0.0.0 opens the head to the network.  [default: 127.0.0.1]"
)
@click.option("--scheduler-port", type=int, help="Dask scheduler port (0 = any free).  [default: 8786]")
@click.option(
    "--dashboard-port", type=int, help="Dashboard and REST API port (0 = any free).  [default: 8787]"
)
@click.option(
    "--dask-dashboard-port",
    help="Dask's diagnostics dashboard port, or 'off' (then Dask serves no HTTP at all).  [default: 8789]",
)
@click.option(
    "--dask-dashboard-host",
    help="Interface for Dask's diagnostics dashboard, which has no authentication; use an SSH tunnel "
    "rather than opening it.  [default: loopback, even when --host is not]",
)
@click.option(
    "--nworkers",
    "local_workers",
    type=int,
    help="Worker processes to start on this machine.  [default: 2, or DASK_N_WORKERS]",
)
@hidden_alias("--local-workers", "--nworkers", "local_workers")
@click.option(
    "--nthreads",
    "threads_per_worker",
    type=int,
    help="Threads in each local worker.  [default: cores / workers]",
)
@hidden_alias("--threads-per-worker", "--nthreads", "threads_per_worker")
@click.option(
    "--memory-limit", help="Memory limit per local worker: 2GB, 0.5 (of RAM) or auto.  [default: auto]"
)
@click.option("--resources", help="Resources each local worker advertises, e.g. GPU=1.")
@click.option(
    "--adapt",
    metavar="MIN:MAX",
    help="Scale the local workers (or --launcher's worker jobs) between MIN and MAX with the load "
    "(queued tasks and jobs), e.g. 1:8.",
)
@click.option(
    "--launcher",
    metavar="slurm|pbs|sge|lsf",
    help="Start the workers as batch jobs of this scheduler (through dask-jobqueue), scaled with "
    "--adapt (default 0:4); the head should run on a login node and listen on --host 0.0.0.0.",
)
@click.option("--job-cores", type=int, default=1, show_default=True, help="Cores of each worker job.")
@click.option("--job-memory", default="2GB", show_default=True, help="Memory of each worker job.")
@click.option("--job-queue", help="Queue (SLURM partition) of the worker jobs.")
@click.option("--job-walltime", help="Time limit of each worker job, e.g. 01:00:00.")
@click.option("--job-account", help="Account (project) the worker jobs are charged to.")
@click.option(
    "--job-extra",
    multiple=True,
    help="An extra job header directive, e.g. --job-extra=--gres=gpu:1 (repeatable).",
)
@click.option(
    "--launcher-dir",
    type=click.Path(file_okay=False),
    help="A folder on a disk the batch nodes share: the key copy (0600) and the job logs.  "
    "[default: STATE_DIR/launcher]",
)
@click.option(
    "--api-token",
    envvar="PYCLUSTER_API_TOKEN",
    help="Require this bearer token on /api requests; prefer --api-token-file or the PYCLUSTER_API_TOKEN "
    "variable (ps shows command lines).",
)
@api_token_file_option
@click.option(
    "--auth-key",
    envvar="PYCLUSTER_AUTH_KEY",
    help="Cluster key: TLS with mutual authentication for every worker and client. "
    "Prefer the PYCLUSTER_AUTH_KEY variable (ps shows command lines).  [default: generated when --host "
    "is not loopback]",
)
@click.option("--insecure", is_flag=True, help="Open to the network without a cluster key (not recommended).")
@click.option(
    "--weak-key-ok",
    is_flag=True,
    default=None,
    help="Accept a guessable --auth-key on a network head (it can be guessed offline; not recommended).  "
    "[default: PYCLUSTER_WEAK_KEY_OK, else off]",
)
@click.option(
    "--discovery-port",
    type=int,
    help="UDP port that answers discovery probes (0 = any free).  [default: 8788]",
)
@click.option("--no-discovery", is_flag=True, help="Do not answer discovery probes.")
@click.option(
    "--config",
    "config_path",
    help="A pycluster.yaml file, or the name of a saved cluster config (pycluster config list).  "
    "[default: ./pycluster.yaml if present]",
)
@click.option(
    "--data-root",
    "data_roots",
    multiple=True,
    type=click.Path(file_okay=False),
    help="A folder datasets may be registered from over REST (repeatable).  [default: STATE_DIR/data]",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    help="Where jobs and datasets live.  [default: PYCLUSTER_STATE_DIR]",
)
@web_options
@click.option("--open-dashboard", is_flag=True, help="Open the dashboard in a web browser once started.")
@click.pass_context
def head_command(
    ctx: click.Context, config_path: str | None, open_dashboard: bool, insecure: bool, **options: Any
) -> None:
    """Start a head node: Dask scheduler, dashboard, REST API and local workers.

    Runs until Ctrl-C or SIGTERM, then stops everything it started.
    """
    from ..cluster import HeadNode
    from ..web.tls import WebTLS

    merge_aliases(
        options,
        {
            "local_workers": ("--nworkers", "--local-workers"),
            "threads_per_worker": ("--nthreads", "--threads-per-worker"),
        },
    )
    warn_if_on_command_line(ctx, "auth_key", "--auth-key", "the PYCLUSTER_AUTH_KEY variable")
    web = web_overrides(options)
    try:
        api_token = resolve_api_token(ctx, options["api_token"], options["api_token_file"])
        settings = head_settings(
            config_path,
            name=options["cluster_name"],
            host=options["host"],
            scheduler_port=options["scheduler_port"],
            dashboard_port=options["dashboard_port"],
            dask_dashboard_port=options["dask_dashboard_port"],
            dask_dashboard_host=options["dask_dashboard_host"],
            api_token=api_token,
            auth_key=options["auth_key"],
            weak_key_ok=options["weak_key_ok"],
            discovery_port="off" if options["no_discovery"] else options["discovery_port"],
            n_workers=options["local_workers"],
            threads_per_worker=options["threads_per_worker"],
            memory_limit=options["memory_limit"],
            state_dir=options["state_dir"],
            data__roots=[str(Path(r).resolve()) for r in options["data_roots"]] or None,
            **web,
        )
        # all checked before anything starts
        launcher = _launcher_settings(options, settings)
        adapt = _adapt_range(options["adapt"], settings, launched=launcher is not None)
        WebTLS.from_settings(settings.cluster)  # a wrong path or pair: one line before anything starts
        # Dask's own records at the level the logging set-up gave them (-v: its INFO too)
        dask_level = logging.getLogger("distributed").getEffectiveLevel()
        head = HeadNode(settings=settings, insecure=insecure, silence_logs=dask_level)
        c = settings.cluster
        n_workers = c.n_workers if adapt is None else min(max(c.n_workers, adapt[0]), adapt[1])
        if launcher is not None:  # its workers are batch jobs; local ones only when asked for
            n_workers = options["local_workers"] or 0
        info = head.start(
            n_local_workers=n_workers,
            threads_per_worker=c.threads_per_worker,
            memory_limit=c.memory_limit,
            worker_resources=options["resources"],
        )
        if launcher is not None:
            head.use_launcher(launcher)
        if adapt is not None:
            head.adapt(*adapt)
    except (PyClusterError, ValueError) as exc:
        if "head" in locals():
            head.shutdown()
        fail(exc)
    _print_head_banner(info, settings, head.login_url)
    if adapt is not None:
        kind = "local workers" if launcher is None else f"{launcher.kind.name} worker jobs"
        click.echo(f"  adaptive scaling: {adapt[0]} to {adapt[1]} {kind}")
    if launcher is not None and head.launched is not None:
        click.echo(f"  worker job logs:  {head.launched.log_directory}")
    sys.stdout.flush()
    if open_dashboard and head.login_url:
        webbrowser.open(head.login_url)
    try:
        _wait_for_stop_signal()
    finally:
        click.echo("Stopping the head node and its local workers...")
        head.shutdown()
        click.echo("Stopped.")


def _adapt_range(text: str | None, settings: Settings, launched: bool = False) -> tuple[int, int] | None:
    """``--adapt MIN:MAX`` checked against this machine's memory (not for batch-job workers,
    which run elsewhere; they scale 0:4 unless told), or None without it."""
    if text is None and launched:
        text = "0:4"
    if text is None:
        return None
    from ..cluster.adaptive import AdaptiveSettings, parse_adapt_range, worker_memory

    minimum, maximum = parse_adapt_range(text)
    memory = worker_memory(settings.cluster.memory_limit)
    AdaptiveSettings.create(minimum, maximum, worker_memory=memory, check_memory=not launched)
    return minimum, maximum


def _launcher_settings(options: dict[str, Any], settings: Settings) -> LauncherSettings | None:
    """The checked ``--launcher`` settings (unknown kind, missing submit command: ConfigError)."""
    if options["launcher"] is None:
        return None
    from ..cluster.launchers import LauncherSettings, default_directory

    directory = options["launcher_dir"]
    return LauncherSettings.create(
        options["launcher"],
        Path(directory).resolve() if directory else default_directory(settings.cluster.resolved_state_dir()),
        cores=options["job_cores"],
        memory=options["job_memory"],
        queue=options["job_queue"],
        walltime=options["job_walltime"],
        account=options["job_account"],
        job_extra=tuple(options["job_extra"]),
    )


def _print_head_banner(info: dict[str, Any], settings: Settings, login_url: str | None) -> None:
    line = click.style
    click.echo(line(f"pycluster head {info['cluster_name']!r} is running", fg="green", bold=True))
    rows = [
        ("scheduler", info["scheduler_address"]),
        ("dashboard", info["dashboard_url"]),
        *_tls_rows(settings),
        ("REST API docs", info["api_docs_url"]),
        ("Dask diagnostics", _diagnostics_line(info["dask_dashboard_url"], settings.cluster.host)),
        ("discovery", f"UDP {info['discovery_port']}" if info.get("discovery_port") else "off"),
        ("local workers", str(info["n_workers"])),
    ]
    for label, value in rows:
        click.echo(f"  {label + ':':<18}{value}")
    click.echo(_sign_in_line(login_url, settings))
    click.echo("Join a worker from another machine:")
    click.echo(f"  {info['worker_command']}")
    if settings.cluster.host in {"127.0.0.1", "localhost", "::1"}:
        click.echo(
            "  (this head listens on loopback only: start it with --host 0.0.0.0 "
            "to accept workers from other machines)"
        )
    click.echo("Press Ctrl-C to stop.", nl=True)
    sys.stdout.flush()


def _tls_rows(settings: Settings) -> list[tuple[str, str]]:
    """The HTTPS certificate's fingerprint (to compare before trusting a self-signed one) and
    the origins allowed cross-origin access."""
    from ..web.tls import WebTLS

    rows = []
    tls = WebTLS.from_settings(settings.cluster)
    if tls is not None:
        rows.append(("TLS certificate", f"{tls.certfile} (SHA-256 {tls.fingerprint()})"))
    if settings.cluster.cors_origins:
        rows.append(("CORS origins", ", ".join(settings.cluster.cors_origins)))
    return rows


def _sign_in_line(login_url: str | None, settings: Settings) -> str:
    """How a browser signs in: the URL holding the token on a terminal, else where the token is."""
    token_file = settings.cluster.resolved_state_dir() / "api_token"
    if login_url and sys.stdout.isatty():
        return f"Sign a browser in with (keep it private): {login_url}"
    where = "the PYCLUSTER_API_TOKEN you set" if not token_file.is_file() else str(token_file)
    return f"Sign a browser in at the dashboard with the API token from {where}"


def _diagnostics_line(url: str | None, head_host: str) -> str:
    from urllib.parse import urlsplit

    from ..cluster.diagnostics import is_loopback

    if url is None:
        return "off"
    if is_loopback(urlsplit(url).hostname or "") and not is_loopback(head_host):
        return f"{url}  (this machine only; from another, use an SSH tunnel)"
    return url
