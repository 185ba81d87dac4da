"""Secrets given as options: ``ps`` shows every command line to every user of the machine.

A secret typed as ``--api-token VALUE`` still works, with a warning on stderr that names the
safer ways (a user-only file, or the environment). ``--api-token-file PATH`` reads a file that
must be the user's alone (refused otherwise, as ssh refuses a readable key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..cluster.secret_files import read_secret

__all__ = [
    "api_token_file_option",
    "resolve_api_token",
    "warn_about_secret_options",
    "warn_if_on_command_line",
]


def warn_if_on_command_line(ctx: click.Context, param: str, option: str, *safer: str) -> None:
    """Warn on stderr when ``param`` came from the command line, where ``ps`` shows it."""
    if ctx.get_parameter_source(param) is ParameterSource.COMMANDLINE:
        click.echo(
            f"pycluster: warning: {option} on the command line is visible to every user of this "
            f"machine (ps, /proc); prefer {' or '.join(safer)}",
            err=True,
        )


def warn_about_secret_options(*params: str) -> None:
    """For client commands: warn about ``--auth-key`` (``auth_key``) and ``--api-token``
    (``api_token``) typed on the current command line."""
    safer = {"auth_key": "the PYCLUSTER_AUTH_KEY variable", "api_token": "the PYCLUSTER_API_TOKEN variable"}
    ctx = click.get_current_context()
    for param in params:
        warn_if_on_command_line(ctx, param, "--" + param.replace("_", "-"), safer[param])


def api_token_file_option(function: Any) -> Any:
    return click.option(
        "--api-token-file",
        type=click.Path(dir_okay=False),
        help="A user-only file (chmod 600) holding the API token; keeps it out of ps.  "
        "[default: PYCLUSTER_API_TOKEN_FILE]",
    )(function)


def resolve_api_token(ctx: click.Context, api_token: str | None, api_token_file: str | None) -> str | None:
    """The token the command was given: ``--api-token-file``'s content (it wins over the
    environment's PYCLUSTER_API_TOKEN, as any option does), else ``--api-token``. Warns about a
    token typed on the command line; refuses both on the command line at once."""
    warn_if_on_command_line(
        ctx, "api_token", "--api-token", "--api-token-file PATH", "the PYCLUSTER_API_TOKEN variable"
    )
    if not api_token_file:
        return api_token
    if api_token and ctx.get_parameter_source("api_token") is ParameterSource.COMMANDLINE:
        raise click.UsageError("give --api-token or --api-token-file, not both")
    return read_secret(Path(api_token_file).expanduser())
