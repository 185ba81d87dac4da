"""The options head and worker share: the scheduler address, and sizing with one spelling.

``--nworkers``, ``--nthreads`` and ``--memory-limit`` are what ``dask worker`` users type;
the spellings pycluster had before (``--local-workers``, ``--threads-per-worker`` on the
head, ``--workers``, ``--threads`` on the worker) still work as hidden aliases, so scripts
and service units written for them keep running.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["ALIAS_SUFFIX", "hidden_alias", "merge_aliases", "merge_scheduler_address", "show_envvars"]

F = TypeVar("F", bound=Callable[..., Any])

# An alias keeps its own destination (merged by merge_aliases), since click before 8.2 lets
# the last of two options that share a destination win even when it was not given
ALIAS_SUFFIX = "__alias"


def hidden_alias(old: str, new: str, dest: str, type: Any = int) -> Callable[[F], F]:
    """A hidden option ``old`` that means the same as ``new`` (whose destination is ``dest``)."""
    return click.option(old, dest + ALIAS_SUFFIX, type=type, hidden=True, help=f"Old spelling of {new}.")


def merge_aliases(options: dict[str, Any], spellings: dict[str, tuple[str, str]]) -> None:
    """Fold each alias's value into its option's; both given with different values is a usage error.

    ``spellings`` maps a destination to its (new, old) option names, for the message.
    """
    for dest, (new, old) in spellings.items():
        alias = options.pop(dest + ALIAS_SUFFIX, None)
        if alias is None:
            continue
        if options.get(dest) is not None and options[dest] != alias:
            raise click.UsageError(f"{new} {options[dest]} and {old} {alias} disagree; give only {new}")
        options[dest] = alias


def merge_scheduler_address(positional: str | None, option: str | None) -> str | None:
    """The address given as ``pycluster worker ADDRESS`` or ``--scheduler ADDRESS`` (or its variable).

    The positional one wins over the environment variable; both typed and different is a usage error.
    """
    if positional and option and positional != option:
        source = click.get_current_context().get_parameter_source("scheduler_address")
        if source == click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError(f"two scheduler addresses, {positional} and --scheduler {option}")
    return positional or option


def show_envvars(command: click.Command) -> None:
    """Show the environment variable of every option of ``command`` (and its subcommands) in --help."""
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            param.show_envvar = True
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            show_envvars(sub)
