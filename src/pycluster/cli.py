"""The ``pycluster`` command (and ``pycluster-head`` / ``pycluster-worker``).

Thin by design: options build the real objects (HeadNode, WorkerOptions,
ClusterManager) and call them; no logic lives only here.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import webbrowser
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .cli_data import data_group
from .cli_llm import llm_group
from .cli_net import NET_COMMANDS, discovery_options, resolve_worker_scheduler
from .cli_platform import PLATFORM_COMMANDS, head_settings
from .config import Settings
from .errors import PyClusterError
from .units import format_bytes

if TYPE_CHECKING:
    from .cluster.results import WorkerInfo

__all__ = ["cli", "head_main", "main", "worker_main"]


def _fail(exc: Exception) -> None:
    click.secho(f"error: {exc}", fg="red", err=True)
    sys.exit(1)


def _wait_for_stop_signal() -> None:
    """Block until Ctrl-C, SIGTERM (or Ctrl-Break on Windows)."""
    stop = threading.Event()
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pycluster")
def cli() -> None:
    """pycluster: a head node, workers, a dashboard and a REST API on top of Dask.

    \b
    Start a head with two local workers:   pycluster head --local-workers 2
    Join a worker from another machine:    pycluster worker --scheduler tcp://HEAD:8786
    See what is running:                   pycluster status tcp://HEAD:8786
    """


# ------------------------------------------------------------------------ head
@cli.command("head")
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
    "--local-workers",
    type=int,
    help="Worker processes to start on this machine.  [default: 2, or DASK_N_WORKERS]",
)
@click.option(
    "--threads-per-worker", type=int, help="Threads in each local worker.  [default: cores / workers]"
)
@click.option(
    "--memory-limit", help="Memory limit per local worker: 2GB, 0.5 (of RAM) or auto.  [default: auto]"
)
@click.option("--resources", help="Resources each local worker advertises, e.g. GPU=1.")
@click.option("--api-token", envvar="PYCLUSTER_API_TOKEN", help="Require this bearer token on /api requests.")
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
@click.option("--open-dashboard", is_flag=True, help="Open the dashboard in a web browser once started.")
def head_command(config_path: str | None, open_dashboard: bool, insecure: bool, **options: Any) -> None:
    """Start a head node: Dask scheduler, dashboard, REST API and local workers.

    Runs until Ctrl-C or SIGTERM, then stops everything it started.
    """
    from .cluster import HeadNode

    try:
        settings = head_settings(
            config_path,
            name=options["cluster_name"],
            host=options["host"],
            scheduler_port=options["scheduler_port"],
            dashboard_port=options["dashboard_port"],
            dask_dashboard_port=options["dask_dashboard_port"],
            dask_dashboard_host=options["dask_dashboard_host"],
            api_token=options["api_token"],
            auth_key=options["auth_key"],
            weak_key_ok=options["weak_key_ok"],
            discovery_port="off" if options["no_discovery"] else options["discovery_port"],
            n_workers=options["local_workers"],
            threads_per_worker=options["threads_per_worker"],
            memory_limit=options["memory_limit"],
            state_dir=options["state_dir"],
            data__roots=[str(Path(r).resolve()) for r in options["data_roots"]] or None,
        )
        head = HeadNode(settings=settings, insecure=insecure)
        c = settings.cluster
        info = head.start(
            n_local_workers=c.n_workers,
            threads_per_worker=c.threads_per_worker,
            memory_limit=c.memory_limit,
            worker_resources=options["resources"],
        )
    except (PyClusterError, ValueError) as exc:
        _fail(exc)
    _print_head_banner(info, settings, head.login_url)
    if open_dashboard and head.login_url:
        webbrowser.open(head.login_url)
    try:
        _wait_for_stop_signal()
    finally:
        click.echo("Stopping the head node and its local workers...")
        head.shutdown()
        click.echo("Stopped.")


def _print_head_banner(info: dict[str, Any], settings: Settings, login_url: str | None) -> None:
    line = click.style
    click.echo(line(f"pycluster head {info['cluster_name']!r} is running", fg="green", bold=True))
    rows = [
        ("scheduler", info["scheduler_address"]),
        ("dashboard", info["dashboard_url"]),
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


def _sign_in_line(login_url: str | None, settings: Settings) -> str:
    """How a browser signs in: the URL holding the token on a terminal, else where the token is."""
    token_file = settings.cluster.resolved_state_dir() / "api_token"
    if login_url and sys.stdout.isatty():
        return f"Sign a browser in with (keep it private): {login_url}"
    where = "the PYCLUSTER_API_TOKEN you set" if not token_file.is_file() else str(token_file)
    return f"Sign a browser in at the dashboard with the API token from {where}"


def _diagnostics_line(url: str | None, head_host: str) -> str:
    from urllib.parse import urlsplit

    from .cluster.diagnostics import is_loopback

    if url is None:
        return "off"
    if is_loopback(urlsplit(url).hostname or "") and not is_loopback(head_host):
        return f"{url}  (this machine only; from another, use an SSH tunnel)"
    return url


# ------------------------------------------------------------------------ worker
@cli.command("worker")
@click.option(
    "--scheduler",
    "scheduler_address",
    envvar="PYCLUSTER_SCHEDULER_ADDRESS",
    help="Scheduler to join, e.g. tcp://192.168.1.100:8786 (or use --discover).",
)
@discovery_options
@click.option(
    "--workers", "n_workers", type=int, help="Worker processes to start.  [default: 1, or one per GPU set]"
)
@click.option(
    "--threads", "threads_per_worker", type=int, help="Threads per worker.  [default: cores / workers]"
)
@click.option(
    "--memory-limit", default="auto", show_default=True, help="Per worker: 2GB, 0.5 (of RAM) or auto."
)
@click.option("--name", help="Worker name (suffixed -0, -1, ... when several).")
@click.option("--resources", help="Resources each worker advertises, e.g. GPU=1 or GPU=1,FPGA=2.")
@click.option(
    "--host", help="Interface the workers listen on.  [default: the one that reaches the scheduler]"
)
@click.option(
    "--connect-timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds to wait for the scheduler to answer before giving up.",
)
@click.option("--death-timeout", type=float, help="Stop after this many seconds without a scheduler.")
@click.option(
    "--gpus",
    help="One worker per GPU, pinned with CUDA_VISIBLE_DEVICES and advertising GPU=1: "
    "all, a number (2 = the first two) or indices (0,1; device=1 for one).",
)
@click.option(
    "--gpus-per-worker", type=int, default=1, show_default=True, help="GPUs each worker gets with --gpus."
)
@click.option(
    "--skip-gpu-check",
    "check_gpus",
    is_flag=True,
    flag_value=False,
    default=True,
    help="Trust the --gpus indices without asking NVML (containers that hide NVML; tests).",
)
@click.option(
    "--auth-key",
    envvar="PYCLUSTER_AUTH_KEY",
    help="The head's cluster key; prefer the PYCLUSTER_AUTH_KEY variable (ps shows command lines).",
)
@click.option("--watch-pid", type=int, hidden=True, help="Stop when this process ends (used by HeadNode).")
def worker_command(watch_pid: int | None, **options: Any) -> None:
    """Start worker processes that join a head node (Dask Nannies: a dead worker is restarted).

    Runs until Ctrl-C or SIGTERM, then closes its workers.
    """
    from .cluster.worker_options import WorkerOptions
    from .cluster.worker_runner import run_workers

    try:
        options["scheduler_address"] = resolve_worker_scheduler(options)
        worker_options = WorkerOptions.create(**options)
    except (PyClusterError, ValueError) as exc:
        _fail(exc)
    if worker_options.n_workers == 0:
        _fail(ValueError("--workers must be at least 1"))
    code = run_workers(worker_options, watch_pid=watch_pid, announce=_announce)
    sys.exit(code)


def _announce(message: str) -> None:
    # errors to stderr; the ready line to stdout (a parent HeadNode reads both from one log)
    click.echo(message, err=message.startswith("error: "))


# ------------------------------------------------------------------------ status
@cli.command("status")
@click.argument("address", required=False)
@click.option(
    "--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the scheduler."
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw status as JSON.")
@click.option("--auth-key", envvar="PYCLUSTER_AUTH_KEY", help="The head's cluster key, if it has one.")
def status_command(address: str | None, timeout: float, as_json: bool, auth_key: str | None) -> None:
    """Show the workers of the cluster at ADDRESS (default tcp://127.0.0.1:8786)."""
    import json

    from .cluster import ClusterManager
    from .cluster.results import ClusterSummary

    try:
        target = address or f"tcp://127.0.0.1:{Settings.load().cluster.scheduler_port}"
        with ClusterManager.connect(target, timeout=timeout, auth_key=auth_key) as manager:
            if as_json:
                click.echo(json.dumps(manager.get_cluster_info(), indent=2, default=str))
                return
            scheduler = manager.scheduler_address
            summary = ClusterSummary.from_identity(manager.client.scheduler_info(n_workers=-1))
    except (PyClusterError, ValueError, OSError) as exc:
        _fail(exc)
    click.echo(
        f"cluster at {scheduler}: {summary.n_workers} workers, {summary.total_cores} cores, "
        f"{format_bytes(summary.used_memory_bytes)} / {format_bytes(summary.total_memory_bytes)} memory, "
        f"{summary.active_tasks} tasks running"
    )
    click.echo(_table(summary.workers))


def _table(workers: Sequence[WorkerInfo]) -> str:
    header = ("NAME", "HOST", "STATUS", "CORES", "CPU%", "MEMORY", "TASKS", "RESOURCES")
    rows = [header]
    for w in workers:
        resources = ",".join(f"{k}={v:g}" for k, v in w.resources.items()) or "-"
        memory = f"{format_bytes(w.memory_used)}/{format_bytes(w.memory_limit)}"
        rows.append(
            (
                w.name,
                str(w.host),
                w.status,
                str(w.nthreads),
                f"{w.cpu_percent:.0f}",
                memory,
                str(w.tasks_executing),
                resources,
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


# ------------------------------------------------------------------------ gpu
@cli.command("gpu")
@click.argument("address", required=False)
@click.option("--once", is_flag=True, help="Print the table once and exit.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document (the REST API's shape) and exit."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes.",
)
@click.option(
    "--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the scheduler."
)
def gpu_command(address: str | None, once: bool, as_json: bool, interval: float, timeout: float) -> None:
    """Show NVIDIA GPUs: this machine's, or those of every worker of the cluster at ADDRESS.

    Refreshes every --interval seconds until Ctrl-C; --once and --json print once (for scripts).
    """
    import json

    from .monitor.gpu_watch import GPUWatch

    try:
        watch = GPUWatch.open(address, timeout)
    except (PyClusterError, ValueError, OSError) as exc:
        _fail(exc)
    try:
        if as_json:
            click.echo(json.dumps(watch.document(), indent=2, default=str))
        elif once or watch.unchanging:
            click.echo(watch.table())
        else:
            _refresh_until_stopped(watch.table, interval)
    except (PyClusterError, OSError) as exc:
        _fail(exc)
    finally:
        watch.close()


def _refresh_until_stopped(render: Callable[[], str], interval: float) -> None:
    stop = threading.Event()
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: stop.set())
    while not stop.is_set():
        text = render()
        if sys.stdout.isatty():
            click.clear()
        click.echo(f"{text}\n(every {interval:g}s; Ctrl-C to stop)")
        sys.stdout.flush()
        stop.wait(interval)


# ------------------------------------------------------------------------ report
@cli.command("report")
@click.option("--url", help="The dashboard's URL.  [default: http://127.0.0.1:8787, or the configured port]")
@click.option("--api-token", envvar="PYCLUSTER_API_TOKEN", help="The head's API token, if it needs one.")
@click.option(
    "--html", "html_path", type=click.Path(dir_okay=False), help="Write a standalone HTML page with charts."
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
def report_command(url: str | None, api_token: str | None, html_path: str | None, as_json: bool) -> None:
    """A complete report of a running cluster, from its dashboard (as JSON or an offline HTML page)."""
    import json

    from .dashboard_client import DashboardManager

    try:
        target = url or f"http://127.0.0.1:{Settings.load().cluster.dashboard_port}"
        manager = DashboardManager(target, token=api_token)
        report = manager.generate_dashboard_report()
        if html_path:
            click.echo(f"wrote {manager.write_html_report(html_path, report)}")
    except (PyClusterError, ValueError, OSError) as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    elif not html_path:
        c = report["cluster"]
        click.echo(
            f"{c['cluster_name']}: {c['n_workers']} workers, {c['total_cores']} cores, "
            f"{c['used_memory']} / {c['total_memory']} memory, up {c['uptime_seconds']:.0f} s"
        )


# ------------------------------------------------------------------------ api
def _quiet_server_class() -> type:
    import contextlib

    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn that leaves signals to us, so SIGTERM ends in a clean exit code 0."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer


@cli.command("api")
@click.option("--host", help="Interface to listen on.  [default: 127.0.0.1]")
@click.option("--port", type=int, help="Port of the REST API.  [default: 8001, or PYCLUSTER_API_PORT]")
@click.option("--api-token", envvar="PYCLUSTER_API_TOKEN", help="Require this bearer token on /api requests.")
@click.option(
    "--state-dir", type=click.Path(file_okay=False), help="Where jobs live.  [default: PYCLUSTER_STATE_DIR]"
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="A pycluster.yaml file.")
def api_command(
    host: str | None, port: int | None, api_token: str | None, state_dir: str | None, config_path: str | None
) -> None:
    """Serve the REST API alone; the cluster is started over REST.

    \b
    POST /api/processing/cluster/start   starts a local cluster sized by
                                          DASK_N_WORKERS, DASK_THREADS_PER_WORKER, DASK_MEMORY_LIMIT
    Docs at http://HOST:PORT/docs. Runs until Ctrl-C or SIGTERM, then stops the cluster.
    """
    import uvicorn

    from .cluster.ports import bind_listening_socket
    from .web.app import create_app
    from .web.auth import ensure_token
    from .web.controller import StandaloneController, served_url

    quiet_server = _quiet_server_class()

    try:
        settings = Settings.load(
            config_path, host=host, api_port=port, api_token=api_token, state_dir=state_dir
        )
        c = settings.cluster
        ensure_token(settings, c.resolved_state_dir())
        sock = bind_listening_socket(c.host, c.api_port, "API")
        url = served_url(c.host, sock.getsockname()[1])
        # the queue and the registry answer before the cluster starts (the state dir is taken now)
        controller = StandaloneController(settings, url=url).open()
    except (PyClusterError, ValueError) as exc:
        _fail(exc)
    # timeout_graceful_shutdown: open dashboard streams must not hold a Ctrl-C forever
    config = uvicorn.Config(
        create_app(controller), log_level="warning", access_log=False, timeout_graceful_shutdown=2
    )
    server = quiet_server(config)
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda *_: setattr(server, "should_exit", True))
    click.echo(f"pycluster API listening on {url} (docs at /docs)")
    click.echo("Start the cluster with: POST /api/processing/cluster/start")
    sys.stdout.flush()
    try:
        server.run(sockets=[sock])
    finally:
        controller.close()


for _command in (*NET_COMMANDS, *PLATFORM_COMMANDS, data_group, llm_group):
    cli.add_command(_command)


# ------------------------------------------------------------------------ entry points
def _prog_name() -> str:
    """The name usage lines show: the script's own (``pycluster-head``), or ``pycluster`` under -m."""
    name = os.path.basename(sys.argv[0])
    return "pycluster" if not name or name.endswith(".py") else name


def _run(command: Callable[..., Any]) -> None:
    command(prog_name=_prog_name())


def main() -> None:
    _run(cli)


def head_main() -> None:
    _run(head_command)


def worker_main() -> None:
    _run(worker_command)


if __name__ == "__main__":  # python -m pycluster.cli
    main()
