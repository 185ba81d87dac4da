"""``pycluster jobs``: submit, list, follow and manage a running head's jobs (over its REST API).

Every subcommand takes ``--json`` (the head's answer, as JSON on stdout); otherwise it prints
tables and lines for people. Job ids and results go to stdout, notes and progress to stderr,
so ``ID=$(pycluster jobs submit sleep seconds=1)`` works.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import click

from .output import fail, print_json
from .rest import call, head_options, remember_head

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
@json_option
@click.pass_context
def logs_command(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """What JOB_ID's pieces printed, when the head captures per-job logs."""
    call(ctx, "GET", f"{JOBS}/{job_id}/status")  # an unknown job: the head's own 404 reason
    answer = call(ctx, "GET", f"{JOBS}/{job_id}/logs", missing_ok=True)
    if as_json:
        print_json(answer if answer is not None else {"job_id": job_id, "captured": False, "logs": []})
        return
    if answer is None:
        click.echo(f"no logs captured yet for {job_id} (this head does not keep per-job logs)", err=True)
        return
    lines = answer.get("lines") if isinstance(answer, dict) else None
    if isinstance(lines, list):
        for line in lines:
            click.echo(line if isinstance(line, str) else json.dumps(line, default=str))
    else:
        print_json(answer)


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
    """Wait for JOB_ID to finish, with a progress bar and ETA on stderr; prints its result.

    Exits 0 when it completed, 1 when it failed, was cancelled, or --timeout passed. On a
    terminal the bar redraws in place; otherwise (a log file, CI) it prints a plain line
    whenever the state or progress changes, never a carriage return.
    """
    _wait(ctx, job_id, timeout, interval, as_json, quiet)


def _wait(
    ctx: click.Context, job_id: str, timeout: float | None, interval: float, as_json: bool, quiet: bool
) -> None:
    bar = None if quiet else ProgressBar(sys.stderr, job_id)
    started = time.monotonic()
    while True:
        job = call(ctx, "GET", f"{JOBS}/{job_id}/status")
        if bar is not None:
            bar.show(job)
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


class ProgressBar:
    """A job's progress on ``stream``: redrawn in place on a terminal, else one plain line per
    change of state or of at least :attr:`STEP` percent (logs never get a carriage return)."""

    WIDTH = 24
    STEP = 10.0

    def __init__(self, stream: TextIO, job_id: str) -> None:
        self.stream = stream
        self.job_id = job_id
        self.tty = stream.isatty()
        self._last: tuple[str, float, str | None] | None = None
        self._drawn = 0

    def show(self, job: dict[str, Any]) -> None:
        status, progress, reason = job["status"], float(job.get("progress") or 0.0), job.get("waiting_reason")
        if self.tty:
            line = self._line(job)
            self.stream.write("\r" + line.ljust(self._drawn))
            self._drawn = len(line)
            self.stream.flush()
            return
        last = self._last
        if last is None or last[0] != status or last[2] != reason or progress - last[1] >= self.STEP:
            self._last = (status, progress, reason)
            self.stream.write(self._line(job) + "\n")
            self.stream.flush()

    def _line(self, job: dict[str, Any]) -> str:
        status = job["status"]
        if status in ("queued", "pending"):
            return f"{self.job_id} {status}: {job.get('waiting_reason') or 'waiting'}"
        progress = float(job.get("progress") or 0.0)
        filled = round(self.WIDTH * progress / 100)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        pieces = f"{job.get('pieces_done', 0)}/{job.get('pieces_total', 0)} pieces"
        eta = f", ETA {_eta(job)}" if status == "running" and job.get("eta_seconds") is not None else ""
        return f"{self.job_id} {status:<9} [{bar}] {progress:5.1f}% {pieces}{eta}"

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


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
