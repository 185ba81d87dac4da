"""``pycluster profile``: profile a running cluster for a while, print (or save) the report."""

from __future__ import annotations

import threading

import click

from ..config import Settings
from ..errors import PyClusterError
from .output import fail, on_stop_signal, print_json
from .secret_options import warn_about_secret_options

__all__ = ["profile_command"]


@click.command("profile")
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds to profile (Ctrl-C stops early and still reports).",
)
@click.option(
    "--scheduler", "address", help="The head's scheduler (default tcp://127.0.0.1:<scheduler_port>)."
)
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write an HTML report here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of a summary.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Seconds between worker CPU/memory samples.",
)
@click.option("--no-code-profile", is_flag=True, help="Skip the sampling profile of worker code.")
@click.option(
    "--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the scheduler."
)
@click.option("--auth-key", envvar="PYCLUSTER_AUTH_KEY", help="The head's cluster key, if it has one.")
def profile_command(
    duration: float,
    address: str | None,
    html_path: str | None,
    as_json: bool,
    interval: float,
    no_code_profile: bool,
    timeout: float,
    auth_key: str | None,
) -> None:
    """Profile the cluster for DURATION seconds: tasks per function, worker CPU and memory, overheads."""
    warn_about_secret_options("auth_key")
    from ..cluster import ClusterManager
    from ..profiling import ClusterProfiler

    done = threading.Event()
    try:
        target = address or f"tcp://127.0.0.1:{Settings.load().cluster.scheduler_port}"
        with ClusterManager.connect(target, timeout=timeout, auth_key=auth_key) as manager:
            profiler = ClusterProfiler(manager, interval=interval, code_profile=not no_code_profile)
            profiler.start()
            on_stop_signal(done.set)
            if not as_json:
                click.echo(f"profiling {manager.scheduler_address} for {duration:g}s (Ctrl-C stops early)...")
            done.wait(duration)
            report = profiler.stop()
    except (PyClusterError, ValueError, OSError) as exc:
        fail(exc)
    if html_path:
        report.save_html(html_path)
    if as_json:
        print_json(report.to_dict())
        return
    click.echo(report.summary())
    if html_path:
        click.echo(f"HTML report: {html_path}")
