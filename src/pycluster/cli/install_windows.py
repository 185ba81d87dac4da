"""``pycluster install-windows``: shortcuts, firewall rules and (optionally) a service on Windows.

Thin: the options become :class:`~pycluster.platform.installer.WindowsInstallOptions` and the
plan comes from :func:`~pycluster.platform.installer.plan_windows_install`; ``--dry-run`` prints
that plan (on any system), otherwise it is carried out (Windows only). Bad input is a usage
error (exit 2), a step that fails a runtime one (exit 1).
"""

from __future__ import annotations

import sys
from pathlib import Path, PureWindowsPath

import click

from ..errors import ConfigError, PyClusterError
from .output import fail, print_json

__all__ = ["install_windows_command"]


@click.command("install-windows")
@click.option(
    "--config",
    # checked (exists, valid settings) by the plan: a usage error naming the file either way
    type=click.Path(dir_okay=False),
    help="pycluster.yaml the head starts with (shortcut and service); its ports are opened.",
)
@click.option(
    "--cluster-name",
    default="PyCluster",
    show_default=True,
    help="Names the firewall rules and shortcuts (and the head, without --config).",
)
@click.option(
    "--port", "ports", multiple=True, help="Port to open (repeat; 9000/udp for UDP).  [default: the config's]"
)
@click.option("--remote", help="Allow only this network through the firewall, e.g. 192.168.1.0/24.")
@click.option(
    "--shortcuts/--no-shortcuts", default=True, show_default=True, help="Start-menu and desktop shortcuts."
)
@click.option(
    "--firewall/--no-firewall", default=True, show_default=True, help="Windows Firewall rules (netsh)."
)
@click.option(
    "--service/--no-service",
    default=False,
    show_default=True,
    help="Also install a Windows service that starts the head at boot (needs pywin32).",
)
@click.option("--service-name", default="PyCluster", show_default=True, help="Name of that service.")
@click.option("--python", help="python.exe the shortcuts and service run.  [default: this one]")
@click.option("--start-menu-dir", help=r"Start Menu\Programs folder.  [default: the user's]")
@click.option("--desktop-dir", help="Desktop folder.  [default: the user's]")
@click.option("--dry-run", is_flag=True, help="Print every file and command instead of doing anything.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (with --dry-run).")
def install_windows_command(
    config: str | None,
    cluster_name: str,
    ports: tuple[str, ...],
    remote: str | None,
    shortcuts: bool,
    firewall: bool,
    service: bool,
    service_name: str,
    python: str | None,
    start_menu_dir: str | None,
    desktop_dir: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Set PyCluster up on this Windows machine: Start-menu and desktop shortcuts (head, status,
    dashboard), Windows Firewall rules for the head's ports, and with --service a Windows
    service running the head. Run it as Administrator; --dry-run shows exactly what it would do,
    on any system.

    \b
    pycluster install-windows --dry-run
    pycluster install-windows --config pycluster.yaml --service
    """
    from dataclasses import replace

    from ..platform.config_store import check_name
    from ..platform.installer import WindowsInstallOptions, install_windows
    from ..platform.shortcuts import WindowsFolders

    try:
        check_name(service_name, "service name")
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="'--service-name'") from None
    folders = WindowsFolders.of_this_user()
    if start_menu_dir:
        folders = replace(folders, programs=PureWindowsPath(start_menu_dir))
    if desktop_dir:
        folders = replace(folders, desktop=PureWindowsPath(desktop_dir))
    options = WindowsInstallOptions(
        cluster_name=cluster_name,
        config=Path(config) if config else None,
        ports=list(ports) or None,
        remote=remote,
        shortcuts=shortcuts,
        firewall=firewall,
        service=service,
        service_name=service_name,
        python=python,
        folders=folders,
    )
    if not dry_run and sys.platform != "win32":
        raise click.UsageError(
            "install-windows installs on Windows only; add --dry-run to see what it would do"
        )
    try:
        plan = install_windows(options, dry_run=dry_run)
    except ConfigError as exc:
        # everything a plan checks comes from the options or the --config file
        raise click.UsageError(str(exc)) from None
    except PyClusterError as exc:
        fail(exc)
    if as_json:
        print_json(
            {
                "dry_run": dry_run,
                "applied": plan.applied,
                "steps": [
                    {
                        "description": s.description,
                        "command": s.command,
                        "path": str(s.path) if s.path else None,
                        "content": s.content.decode("utf-8-sig") if s.content is not None else None,
                    }
                    for s in plan.steps
                ],
            }
        )
        return
    if dry_run:
        click.echo("# dry run: nothing was written or run; as Administrator, without --dry-run, this would:")
        click.echo(plan.render())
        return
    click.echo("\n".join(plan.outputs))
    click.echo(f"installed: {len(plan.steps)} steps done")
