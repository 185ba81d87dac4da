"""``pycluster jobs``: submit, list, follow and manage a running head's jobs (over its REST API).

Every subcommand takes ``--json`` (the head's answer, as JSON on stdout); otherwise it prints
tables and lines for people. Job ids and results go to stdout, notes and progress to stderr,
so ``ID=$(pycluster jobs submit sleep seconds=1)`` works.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import click

from ..progress import Progress
from .output import fail, print_json
from .rest import call, head_options, remember_head, stream_lines

__all__ = ["jobs_group"]

JOBS = "/api/processing/jobs"
FINISHED = {"completed", "failed", "cancelled"}
PRIORITIES = ["LOW", "NORMAL", "HIGH", "CRITICAL"]
STATUSES = ["pending", "queued", "running", "completed", "failed", "cancelled"]


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print the head's answer as JSON.")(command)


@click.group("jobs")
@head_options
@click.pass_context
def jobs_group(ctx: click.Context, url: str | None, api_token: str | None) -> None:
    """Jobs of a running head: operations run on the cluster by priority.

    \b
    pycluster jobs submit sleep seconds=2 pieces=4 --priority HIGH
    pycluster jobs wait JOB_ID          (a progress bar with ETA)
    pycluster jobs list --status queued (and why each waits)
    """
    remember_head(ctx, url, api_token)


# ---------------------------------------------------------------- submit
@jobs_group.command("submit")
@click.argument("operation")
@click.argument("parameters", nargs=-1)
@click.option("--dataset", "dataset_id", help="The dataset the operation reads (pycluster data list).")
@click.option("--priority", type=click.Choice(PRIORITIES, case_sensitive=False), default="NORMAL")
@click.option("--max-cores", type=float, help="Cores (pieces at once) the job may use.")
@click.option("--max-memory-gb", type=float, help="Memory per worker the job needs.")
@click.option("--retries", type=int, help="Retries of a failed piece.  [default: the head's, 3]")
@click.option(
    "--retry-backoff-s", type=float, help="Seconds before the first retry; doubled per retry, with jitter."
)
@click.option("--timeout-s", type=float, help="Seconds a piece may run; the job fails past it.")
@click.option("--result-ttl-s", type=float, help="Delete the finished job and its result this long after.")
@click.option("--client-id", help="Whose job it is, for fair sharing.  [default: your address]")
@click.option(
    "--depends-on",
    multiple=True,
    help="A job that must complete first (repeat for more); if it fails, so does this.",
)
@click.option(
    "--run-at", help="Not before this time: ISO 8601 (UTC unless it names a zone) or epoch seconds."
)
@click.option(
    "--cron", help="Submit it at every slot of this cron expression (UTC) instead: prints the schedule id."
)
@click.option("--wait", "wait_too", is_flag=True, help="Then wait for it, as pycluster jobs wait.")
@json_option
@click.pass_context
def submit_command(
    ctx: click.Context, /, operation: str, parameters: tuple[str, ...], **options: Any
) -> None:
    """Queue OPERATION with PARAMETERS: key=value pairs (values are read as JSON when they
    can be: seconds=0.5, names='["a","b"]', else as text) or one JSON object; prints the job id.

    \b
    pycluster jobs submit echo value=hello
    pycluster jobs submit aggregate --dataset ds_1 '{"group_by": ["city"]}'
    pycluster jobs submit echo value=2 --depends-on JOB_ID --run-at 2030-01-01T09:00:00Z
    pycluster jobs submit sleep seconds=1 --cron '*/5 * * * *'   (schedules: GET /api/processing/schedules)
    """
    as_json, wait_too = options.pop("as_json"), options.pop("wait_too")
    options["depends_on"] = list(options["depends_on"]) or None
    body = {
        "operation": operation,
        "parameters": parse_parameters(parameters),
        **{k: v for k, v in options.items() if v is not None},
    }
    body["priority"] = body["priority"].upper()
    if "cron" in body:
        if "depends_on" in body or "run_at" in body or wait_too:
            raise click.UsageError("--cron cannot go with --depends-on, --run-at or --wait")
        schedule = call(ctx, "POST", "/api/processing/schedules", json=body)
        if as_json:
            print_json(schedule)
        else:
            click.echo(f"{schedule['schedule_id']} (next run {schedule['next_run_at']})")
        return
    answer = call(ctx, "POST", f"{JOBS}/submit", json=body)
    if wait_too:
        _wait(ctx, answer["job_id"], timeout=None, interval=0.5, as_json=as_json, quiet=False)
    elif as_json:
        print_json(answer)
    else:
        click.echo(answer["job_id"])


def parse_parameters(items: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` pairs and JSON objects, merged in order; UsageError naming a bad one.

    >>> parse_parameters(("seconds=0.5", "name=big city", '{"pieces": 2}', "flag=true"))
    {'seconds': 0.5, 'name': 'big city', 'pieces': 2, 'flag': True}
    """
    parameters: dict[str, Any] = {}
    for item in items:
        if item.lstrip().startswith("{"):
            try:
                value = json.loads(item)
            except ValueError as exc:
                raise click.UsageError(f"parameters {item!r} are not a JSON object: {exc}") from None
            if not isinstance(value, dict):
                raise click.UsageError(f"parameters {item!r} are not a JSON object")
            parameters.update(value)
            continue
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"parameter {item!r} is not key=value (or a JSON object)")
        try:
            parameters[key.strip()] = json.loads(text)
        except ValueError:
            parameters[key.strip()] = text
    return parameters


# ---------------------------------------------------------------- list, show
@jobs_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only jobs in this state.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@json_option
@click.pass_context
def list_command(ctx: click.Context, status: str | None, limit: int, offset: int, as_json: bool) -> None:
    """The newest jobs first: id, status, priority, progress, ETA, operation; queued jobs say why
    they wait."""
    params: dict[str, Any] = {"limit": limit, "offset": offset, **({"status": status} if status else {})}
    answer = call(ctx, "GET", f"{JOBS}/list", params=params)
    if as_json:
        print_json(answer)
        return
    found = answer["jobs"]
    if not found:
        hint = f" {status}" if status else " yet: pycluster jobs submit OPERATION"
        click.echo(f"no jobs{hint}", err=True)
        return
    header = f"{'ID':<18}{'STATUS':<11}{'PRIORITY':<10}{'PROGRESS':>9}{'ETA':>10}  {'CREATED':<20}"
    click.echo(f"{header} OPERATION")
    for job in found:
        created = (job.get("created_at") or "-")[:19].replace("T", " ")
        click.echo(
            f"{job['job_id']:<18}{job['status']:<11}{job['priority']:<10}{job['progress']:>8.0f}%"
            f"{_eta(job):>10}  {created:<20} {job['operation']}"
        )
        if job.get("waiting_reason"):
            click.echo(f"{'':<18}waiting: {job['waiting_reason']}")
    if answer["total"] > offset + len(found):
        click.echo(f"{len(found)} of {answer['total']} jobs shown: --offset {offset + len(found)}", err=True)


@jobs_group.command("show")
@click.argument("job_id")
@json_option
@click.pass_context
def show_command(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """Everything about JOB_ID: state, why it waits, progress, limits, error or result."""
    detail = call(ctx, "GET", f"{JOBS}/{job_id}/status")
    if as_json:
        print_json(detail)
        return
    for line in describe(detail):
        click.echo(line)


def describe(job: dict[str, Any]) -> list[str]:
    """A job's detail as aligned ``name: value`` lines (empty fields left out)."""
    rows: list[tuple[str, Any]] = [
        ("job", job["job_id"]),
        ("operation", job["operation"]),
        ("status", job["status"]),
        ("waiting", job.get("waiting_reason")),
        ("depends_on", ", ".join(job.get("depends_on") or ())),
        ("run_at", job.get("run_at")),
        ("schedule", job.get("schedule_id")),
        ("priority", job["priority"]),
        ("progress", f"{job['progress']:.0f}% ({job['pieces_done']}/{job['pieces_total']} pieces)"),
        ("eta", _eta(job) if job["status"] == "running" else None),
        ("dataset", job.get("dataset_id")),
        ("parameters", json.dumps(job.get("parameters") or {})),
        ("limits", f"{job.get('max_cores')} cores, {job.get('max_memory_gb')} GB"),
        ("timeout_s", job.get("timeout_s")),
        ("retries", f"{job['attempts']} failed attempts, up to {job['max_retries']} retries"),
        ("retry_backoff_s", job.get("retry_backoff_s")),
        ("result_ttl_s", job.get("result_ttl_s")),
        ("expires_at", job.get("expires_at")),
        ("retry_of", job.get("retry_of")),
        ("client", job.get("client_id")),
        ("created", job.get("created_at")),
        ("started", job.get("started_at")),
        ("finished", job.get("finished_at")),
        ("error", job.get("error")),
        ("result_url", job.get("result_url")),
    ]
    if job["status"] == "completed" and job.get("result") is not None:
        rows.append(("result", json.dumps(job["result"], default=str)))
    width = max(len(name) for name, _ in rows) + 1
    return [f"{name + ':':<{width}} {value}" for name, value in rows if value not in (None, "")]


# ---------------------------------------------------------------- logs
@jobs_group.command("logs")
@click.argument("job_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the job has ended.")
@json_option
@click.pass_context
def logs_command(ctx: click.Context, job_id: str, follow: bool, as_json: bool) -> None:
    """What JOB_ID's pieces wrote to stdout, stderr and logging, with failed pieces' tracebacks.

    \b
    pycluster jobs logs JOB_ID            (everything captured so far)
    pycluster jobs logs JOB_ID --follow   (then new lines as they come, until the job ends)

    With --json: the head's answer (entries, pieces with durations); with --follow, one JSON
    object per batch, a line each.
    """
    first = call(ctx, "GET", f"{JOBS}/{job_id}/logs")  # an unknown job: the head's own 404 reason
    if as_json and not follow:
        print_json(_all_pages(ctx, job_id, first))
        return
    if not follow:
        entries = _all_pages(ctx, job_id, first)["entries"]
        for entry in entries:
            click.echo(log_line(entry))
        if not entries:
            click.echo(f"no logs captured yet for {job_id} ({first['status']})", err=True)
        return
    for data in stream_lines(ctx, "GET", f"{JOBS}/{job_id}/logs", params={"follow": "true"}):
        page = json.loads(data)
        if as_json:
            click.echo(json.dumps(page))
        elif "entries" in page:
            for entry in page["entries"]:
                click.echo(log_line(entry))
        else:
            click.echo(f"{job_id} {page.get('status')}", err=True)


def _all_pages(ctx: click.Context, job_id: str, first: dict[str, Any]) -> dict[str, Any]:
    """``first`` with the entries of the pages after it (the head answers a page at a time)."""
    answer, page = dict(first), first
    answer["entries"] = list(first["entries"])
    while page["next_offset"] > page["offset"]:
        page = call(ctx, "GET", f"{JOBS}/{job_id}/logs", params={"offset": page["next_offset"]})
        answer["entries"].extend(page["entries"])
        answer["next_offset"] = page["next_offset"]
    return answer


def log_line(entry: dict[str, Any]) -> str:
    """One entry for people: ``piece 2 stdout: loaded 10 rows`` (``piece 2 #1``: its first retry)."""
    if entry["piece"] < 0:
        return f"pycluster: {entry['text']}"
    where = f"piece {entry['piece']}" + (f" #{entry['attempt']}" if entry["attempt"] else "")
    return f"{where} {entry['stream']}: {entry['text']}"


# ---------------------------------------------------------------- wait
@jobs_group.command("wait")
@click.argument("job_id")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), help="Give up after this many seconds.")
@click.option("--interval", type=click.FloatRange(0.05), default=0.5, show_default=True, help="Seconds.")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@json_option
@click.pass_context
def wait_command(
    ctx: click.Context, job_id: str, timeout: float | None, interval: float, quiet: bool, as_json: bool
) -> None:
    """Wait for JOB_ID to finish, with its pieces, rate and ETA on stderr; prints its result.

    Exits 0 when it completed, 1 when it failed, was cancelled, or --timeout passed. On a
    terminal the bar redraws in place; otherwise (a log file, CI) it prints a plain line
    per tenth of the pieces or change of state, never a carriage return.
    """
    _wait(ctx, job_id, timeout, interval, as_json, quiet)


def _wait(
    ctx: click.Context, job_id: str, timeout: float | None, interval: float, as_json: bool, quiet: bool
) -> None:
    bar = None if quiet else Progress(None, job_id, unit="piece")
    started = time.monotonic()
    while True:
        job = call(ctx, "GET", f"{JOBS}/{job_id}/status")
        if bar is not None:
            show_job(bar, job)
        if job["status"] in FINISHED:
            break
        if timeout is not None and time.monotonic() - started > timeout:
            if bar is not None:
                bar.close()
            fail(f"job {job_id} is still {job['status']} after {timeout:g} s (it goes on)")
        time.sleep(interval)
    if bar is not None:
        bar.close()
    if as_json:
        print_json(job)
    elif job["status"] == "completed" and job.get("result") is not None:
        click.echo(json.dumps(job["result"], indent=2, default=str))
    if job["status"] != "completed":
        fail(f"job {job_id} {job['status']}: {job.get('error') or 'no reason given'}")


def show_job(bar: Progress, job: dict[str, Any]) -> None:
    """A job's state on ``bar``: its pieces done of all, and why it waits while queued."""
    status = job["status"]
    reason = job.get("waiting_reason") if status in ("queued", "pending") else None
    bar.set_status(f"{status}: {reason}" if reason else status)
    bar.set(int(job.get("pieces_done") or 0), int(job.get("pieces_total") or 0) or None)


def _eta(job: dict[str, Any]) -> str:
    seconds = job.get("eta_seconds")
    if seconds is None or job.get("status") != "running":
        return "-"
    return duration(float(seconds))


def duration(seconds: float) -> str:
    """Seconds for people.

    >>> duration(4.2), duration(125), duration(7322)
    ('4 s', '2 min 5 s', '2 h 2 min')
    """
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"


# ---------------------------------------------------------------- cancel, retry, delete
@jobs_group.command("cancel")
@click.argument("job_id")
@json_option
@click.pass_context
def cancel_command(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """Cancel a queued or running JOB_ID (its running pieces are stopped)."""
    answer = call(ctx, "POST", f"{JOBS}/{job_id}/cancel")
    if as_json:
        print_json(answer)
    else:
        click.echo(f"cancelled {job_id}")


@jobs_group.command("retry")
@click.argument("job_id")
@json_option
@click.pass_context
def retry_command(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """Submit a failed or cancelled JOB_ID again with the same spec; prints the new job's id."""
    answer = call(ctx, "POST", f"{JOBS}/{job_id}/retry")
    if as_json:
        print_json(answer)
        return
    click.echo(answer["job_id"])
    click.echo(f"submitted {job_id} again as {answer['job_id']}", err=True)


@jobs_group.command("delete")
@click.argument("job_id")
@json_option
@click.pass_context
def delete_command(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """Delete a finished JOB_ID and its result file (cancel a queued or running one first)."""
    answer = call(ctx, "DELETE", f"{JOBS}/{job_id}")
    if as_json:
        print_json(answer)
    else:
        click.echo(f"deleted {job_id}")
