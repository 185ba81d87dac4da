"""``pycluster report``: a running cluster's complete report, as JSON or an HTML page."""

from __future__ import annotations

import click

from ..config import Settings
from ..errors import PyClusterError
from .output import fail, print_json
from .rest import api_token_option, url_option

__all__ = ["report_command"]


@click.command("report")
@url_option
@api_token_option
@click.option(
    "--html", "html_path", type=click.Path(dir_okay=False), help="Write a standalone HTML page with charts."
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
def report_command(url: str | None, api_token: str | None, html_path: str | None, as_json: bool) -> None:
    """A complete report of a running cluster, from its dashboard (as JSON or an offline HTML page)."""
    from ..dashboard import DashboardManager

    try:
        target = url or f"http://127.0.0.1:{Settings.load().cluster.dashboard_port}"
        manager = DashboardManager(target, token=api_token)
        report = manager.generate_dashboard_report()
        if html_path:
            click.echo(f"wrote {manager.write_html_report(html_path, report)}")
    except (PyClusterError, ValueError, OSError) as exc:
        fail(exc)
    if as_json:
        print_json(report)
    elif not html_path:
        c = report["cluster"]
        click.echo(
            f"{c['cluster_name']}: {c['n_workers']} workers, {c['total_cores']} cores, "
            f"{c['used_memory']} / {c['total_memory']} memory, up {c['uptime_seconds']:.0f} s"
        )
