"""``pycluster data``: register, list, inspect and delete a head's datasets (over its REST API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .output import print_json
from .rest import call, head_options, remember_head

__all__ = ["data_group"]


def _call(ctx: click.Context, method: str, path: str, **kwargs: Any) -> Any:
    return call(ctx, method, f"/api/processing/data{path}", **kwargs)


@click.group("data")
@head_options
@click.pass_context
def data_group(ctx: click.Context, url: str | None, api_token: str | None) -> None:
    """Datasets of a running head: CSV, Parquet or JSON lines, larger than memory."""
    remember_head(ctx, url, api_token)


@data_group.command("register")
@click.argument("path")
@click.option("--name", help="A name to show in lists.  [default: the file or folder name]")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "parquet", "json"]), help="When the suffix does not say."
)
@click.pass_context
def register_command(ctx: click.Context, path: str, name: str | None, fmt: str | None) -> None:
    """Register PATH (a file, a glob in quotes, a folder, or an fsspec URL); prints the dataset id.

    The head reads local paths itself, so they must be inside its data roots
    (its state directory's data/ folder, or folders given with pycluster head --data-root).
    """
    target = path if "://" in path else str(Path(path).expanduser().absolute())
    body = {"path": target, "name": name, "format": fmt}
    answer = _call(ctx, "POST", "/register", json={k: v for k, v in body.items() if v is not None})
    summary = answer["dataset"]
    click.echo(answer["dataset_id"])
    click.echo(
        f"  {summary['format']}, {summary['files']} file(s), {summary['size_mb']} MB, "
        f"~{summary['row_estimate']} rows, columns: {', '.join(summary['columns'])}",
        err=True,
    )


@data_group.command("list")
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """One line per dataset: id, name, format, size, rows."""
    answer = _call(ctx, "GET", "/list")
    for d in answer["datasets"]:
        size, rows = f"{d['size_mb']:>10} MB", f"~{d['row_estimate']} rows"
        click.echo(f"{d['dataset_id']}  {d['name']:<24} {d['format']:<8} {size}  {rows}")
    if not answer["datasets"]:
        click.echo("no datasets yet: pycluster data register PATH", err=True)


@data_group.command("inspect")
@click.argument("dataset_id")
@click.pass_context
def inspect_command(ctx: click.Context, dataset_id: str) -> None:
    """Columns, dtypes, row estimate, size and partitions of DATASET_ID (JSON)."""
    print_json(_call(ctx, "GET", f"/{dataset_id}"))


@data_group.command("delete")
@click.argument("dataset_id")
@click.pass_context
def delete_command(ctx: click.Context, dataset_id: str) -> None:
    """Forget DATASET_ID (files you registered stay where they are)."""
    _call(ctx, "DELETE", f"/{dataset_id}")
    click.echo(f"deleted {dataset_id}")
