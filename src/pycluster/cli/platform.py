"""``pycluster config``, ``startup-script``, ``service`` and ``firewall``, and ``head --config NAME``.

Thin like the rest of the CLI: each command calls :mod:`pycluster.platform`.
Registered on the ``pycluster`` group by :mod:`pycluster.cli.main`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from typing import Any

import click

from ..config import Settings
from ..errors import ConfigError, PyClusterError
from .install_windows import install_windows_command
from .output import fail, print_json

__all__ = ["PLATFORM_COMMANDS", "head_settings"]


def _command_line(argv: list[str]) -> str:
    return subprocess.list2cmdline(argv) if os.name == "nt" else shlex.join(argv)


def head_settings(config: str | None, **overrides: Any) -> Settings:
    """Settings for ``pycluster head --config VALUE``: a YAML path or a saved cluster config's name."""
    if not config:
        return Settings.load(None, **overrides)
    from ..platform.config_store import resolve_config_option, settings_values

    path, saved = resolve_config_option(config)
    if saved is None:
        return Settings.load(path, **overrides)
    return Settings.load(
        False,
        config_values=settings_values(saved),
        config_source=f"saved cluster config {config!r}",
        **overrides,
    )


# ------------------------------------------------------------------------ config
@click.group("config")
def config_group() -> None:
    """Saved cluster configs (used by `pycluster head --config NAME`) and the settings' schema."""


@config_group.command("list")
def config_list() -> None:
    """List saved configs and where they live."""
    from ..platform import config_dir, list_cluster_configs

    names = list_cluster_configs()
    click.echo(f"saved cluster configs in {config_dir()}:")
    click.echo("\n".join(f"  {n}" for n in names) if names else "  (none)")


@config_group.command("show")
@click.argument("name")
def config_show(name: str) -> None:
    """Print the saved config NAME as JSON."""
    from ..platform import load_cluster_config

    try:
        config = load_cluster_config(name)
        if config is None:
            raise ConfigError(f"no saved cluster config named {name!r}; see `pycluster config list`")
    except PyClusterError as exc:
        fail(exc)
    print_json(config)


@config_group.command("save")
@click.argument("name")
@click.argument("values", nargs=-1, required=True)
def config_save(name: str, values: tuple[str, ...]) -> None:
    """Save config NAME from KEY=VALUE pairs, e.g. cluster_name=prod host=0.0.0.0 n_workers=4.

    \b
    KEY is a setting as pycluster.yaml names it (cluster.n_workers, gpu.memory_fraction) or
    its flat key, the environment variable's name without PYCLUSTER_ (n_workers,
    gpu_memory_fraction; see `pycluster config schema`); local_workers is n_workers.
    """
    import yaml

    from ..config import flat_key
    from ..platform import save_cluster_config

    try:
        config = {}
        for item in values:
            key, sep, text = item.partition("=")
            if not sep:
                raise ConfigError(f"{item!r} is not KEY=VALUE (for example n_workers=4)")
            section, dot, setting = key.strip().partition(".")
            key = flat_key(section, setting) if dot else key.strip()
            config[key] = yaml.safe_load(text) if text.strip() else None
        save_cluster_config(config, name)
    except (PyClusterError, yaml.YAMLError) as exc:
        fail(exc)
    click.echo(f"saved cluster config {name!r}")


@config_group.command("schema")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write it to this file.  [default: stdout]"
)
def config_schema(output: str | None) -> None:
    """Print the JSON schema of pycluster.yaml (for editor completion and checks).

    \b
    VS Code and other YAML-language-server editors: save it beside the file and start
    pycluster.yaml with   # yaml-language-server: $schema=./pycluster.schema.json
    """
    from pathlib import Path

    from ..config_schema import schema_text

    if output is None:
        click.echo(schema_text(), nl=False)
        return
    try:
        Path(output).write_text(schema_text(), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc}")
    click.echo(f"wrote {output}", err=True)


@config_group.command("delete")
@click.argument("name")
def config_delete(name: str) -> None:
    """Remove the saved config NAME."""
    from ..platform import delete_cluster_config

    try:
        removed = delete_cluster_config(name)
    except PyClusterError as exc:
        fail(exc)
    click.echo(f"removed {name!r}" if removed else f"there was no saved config {name!r}")


# ------------------------------------------------------------------------ startup-script
@click.command("startup-script")
@click.argument("name")
@click.option("--target", type=click.Choice(["windows", "posix"]), help="Script kind.  [default: this OS's]")
@click.option(
    "--directory", type=click.Path(file_okay=False), help="Where to write it.  [default: config folder]"
)
def startup_script_command(name: str, target: str | None, directory: str | None) -> None:
    """Write a script (.bat and .ps1 on Windows, .sh elsewhere) that starts saved config NAME."""
    from ..platform import create_cluster_startup_script, load_cluster_config

    try:
        config = load_cluster_config(name)
        if config is None:
            raise ConfigError(f"no saved cluster config named {name!r}; see `pycluster config list`")
        path = create_cluster_startup_script(config, name, directory, target=target)
    except (PyClusterError, ValueError) as exc:
        fail(exc)
    click.echo(str(path))


# ------------------------------------------------------------------------ service
@click.group("service")
def service_group() -> None:
    """Run a head (or any pycluster command) as a Windows service, systemd unit or launchd agent."""


_system_option = click.option(
    "--system", "system_wide", is_flag=True, help="A system service (needs root) instead of a user one."
)
_dry_run_option = click.option("--dry-run", is_flag=True, help="Print the commands instead of running them.")


@service_group.command("install", context_settings={"ignore_unknown_options": True})
@click.option("--name", help="Service name.  [default: pycluster-CONFIG]")
@click.option("--config", "config_name", help="Saved cluster config the service's head starts with.")
@_system_option
@_dry_run_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def service_install(
    name: str | None, config_name: str | None, system_wide: bool, dry_run: bool, command: tuple[str, ...]
) -> None:
    """Install and start a service.

    \b
    A head from a saved config:   pycluster service install --config production
    Any pycluster command:        pycluster service install --name w1 -- worker --scheduler tcp://HEAD:8786
    """
    from ..platform import create_service, install_service

    try:
        argv, service_name = _service_command(name, config_name, list(command))
        definition = create_service(service_name, argv, system_wide=system_wide)
        commands = install_service(definition, dry_run=dry_run)
    except (PyClusterError, ValueError) as exc:
        fail(exc)
    _report(f"service {service_name!r} ({definition.kind.value}, file {definition.path})", commands, dry_run)


def _service_command(name: str | None, config_name: str | None, extra: list[str]) -> tuple[list[str], str]:
    from ..platform import load_cluster_config
    from ..platform.scripts import head_command

    if config_name:
        config = load_cluster_config(config_name)
        if config is None:
            raise ConfigError(f"no saved cluster config named {config_name!r}; see `pycluster config list`")
        return head_command(config) + extra, name or f"pycluster-{config_name}"
    if not extra or not name:
        raise ConfigError("give --config NAME, or --name NAME and the command after --")
    return [sys.executable, "-m", "pycluster", *extra], name


@service_group.command("uninstall")
@click.argument("name")
@_system_option
@_dry_run_option
def service_uninstall(name: str, system_wide: bool, dry_run: bool) -> None:
    """Stop and remove the service NAME."""
    from ..platform.services import service_definition, uninstall_service

    try:
        commands = uninstall_service(service_definition(name, system_wide=system_wide), dry_run=dry_run)
    except (PyClusterError, ValueError) as exc:
        fail(exc)
    _report(f"service {name!r}", commands, dry_run)


@service_group.command("status")
@click.argument("name")
@_system_option
def service_status_command(name: str, system_wide: bool) -> None:
    """Ask the service manager about the service NAME."""
    from ..platform.services import service_definition, service_status

    try:
        status = service_status(service_definition(name, system_wide=system_wide))
    except (PyClusterError, ValueError) as exc:
        fail(exc)
    click.echo(f"$ {_command_line(status['command'])}")
    click.echo(status["output"] or f"(exit code {status['returncode']})")
    sys.exit(0 if status["returncode"] == 0 else 1)


def _report(what: str, commands: list[list[str]], dry_run: bool) -> None:
    click.echo(f"{what}: {'would run' if dry_run else 'ran'}:")
    for argv in commands:
        click.echo(f"  {_command_line(argv)}")


# ------------------------------------------------------------------------ firewall
@click.command("firewall")
@click.argument("ports", nargs=-1)
@click.option("--apply", is_flag=True, help="Run the commands (needs root or Administrator).")
@click.option("--tool", type=click.Choice(["netsh", "ufw", "firewalld"]), help="[default: this machine's]")
@click.option("--remote", help="Allow only this network, e.g. 192.168.1.0/24.")
def firewall_command(ports: tuple[str, ...], apply: bool, tool: str | None, remote: str | None) -> None:
    """Open PORTS (default 8786 8787 8788; 8788 is UDP, or write 9000/udp). Prints the commands
    unless --apply."""
    from ..platform import install_firewall_rules

    try:
        result = install_firewall_rules(list(ports) or [8786, 8787, 8788], not apply, tool, remote)
    except (PyClusterError, ValueError) as exc:
        fail(exc)
    click.echo(str(result))
    if not result.dry_run or not result.commands:
        click.echo(result.reason, err=True)
    sys.exit(0 if result.applied or (result.dry_run and result.commands) else 1)


PLATFORM_COMMANDS = [
    config_group,
    startup_script_command,
    service_group,
    firewall_command,
    install_windows_command,
]
