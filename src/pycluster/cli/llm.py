"""``pycluster llm``: deploy, list, query, scale and undeploy models on a running head (REST)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from ..llm.results import DeploymentInfo, Generation
from ..progress import Progress
from .output import fail, print_json
from .rest import call, head_options, remember_head, stream_lines

__all__ = ["llm_group"]

MODELS = "/api/llm/models"


@click.group("llm")
@head_options
@click.pass_context
def llm_group(ctx: click.Context, url: str | None, api_token: str | None) -> None:
    """Language models served by a running head (also reachable as an OpenAI API at URL/v1)."""
    remember_head(ctx, url, api_token)


@llm_group.command("deploy")
@click.argument("model")
@click.option("--model-size", help="e.g. 7b, when the name does not say (for the memory estimate).")
@click.option(
    "--precision",
    type=click.Choice(["fp16", "bf16", "fp32", "int8", "int4"]),
    default=None,
    help="Default: the head's llm.default_precision (PYCLUSTER_DEFAULT_PRECISION, fp16 unless set).",
)
@click.option(
    "--gpus-per-replica",
    type=click.IntRange(0),
    default=1,
    show_default=True,
    help="0 serves on CPU workers.",
)
@click.option("--replicas", type=click.IntRange(1), default=1, show_default=True)
@click.option(
    "--sharding", type=click.Choice(["tensor_parallel", "pipeline_parallel"]), help="Across a replica's GPUs."
)
@click.option(
    "--batch-size", type=click.IntRange(1), default=8, show_default=True, help="Requests per forward batch."
)
@click.option("--max-sequence-length", type=click.IntRange(1), default=2048, show_default=True)
@click.option(
    "--engine", type=click.Choice(["auto", "transformers", "vllm"]), default="auto", show_default=True
)
@click.option("--name", help="What requests call it (default MODEL); NAME@VERSION pins a version.")
@click.option("--version", "model_version", help="A label (default: the next number for NAME).")
@click.option(
    "--min-replicas",
    type=click.IntRange(0),
    help="Autoscale (replaces --replicas): at least this many replicas; 0 scales to zero when idle.",
)
@click.option("--max-replicas", type=click.IntRange(1), help="Autoscale: at most this many replicas.")
@click.option(
    "--target-ongoing-requests",
    type=click.FloatRange(0, min_open=True),
    help="Autoscale: requests in flight per replica to aim at (default 2).",
)
@click.option("--upscale-delay", type=click.FloatRange(0), help="Autoscale: seconds of load before growing.")
@click.option("--downscale-delay", type=click.FloatRange(0), help="Autoscale: idle seconds before shrinking.")
@click.option("--no-wait", is_flag=True, help="Print the id at once instead of waiting for a ready replica.")
@click.option(
    "--timeout", type=float, default=600, show_default=True, help="Seconds to wait for the model to load."
)
@click.pass_context
def deploy_command(ctx: click.Context, /, model: str, **options: Any) -> None:
    """Load MODEL (a local folder, or a Hugging Face name already in the cache) on the
    cluster's workers; prints the deployment id once a replica is ready.

    \b
    pycluster llm deploy ./models/tiny-gpt2 --gpus-per-replica 0
    pycluster llm deploy deepseek-ai/deepseek-coder-7b-instruct-v1.5 --gpus-per-replica 2
    """
    no_wait, timeout = options.pop("no_wait"), options.pop("timeout")
    body = {
        "model_name": model,
        "model_size": options["model_size"],
        "precision": options["precision"],
        "gpu_per_replica": options["gpus_per_replica"],
        "replicas": options["replicas"],
        "sharding_strategy": options["sharding"],
        "batch_size": options["batch_size"],
        "max_sequence_length": options["max_sequence_length"],
        "engine": options["engine"],
        "autoscaling": _autoscaling(options),
        "name": options["name"],
        "version": options["model_version"],
    }
    answer = call(ctx, "POST", f"{MODELS}/deploy", json={k: v for k, v in body.items() if v is not None})
    deployment_id = answer["deployment_id"]
    for note in DeploymentInfo.from_dict(answer["deployment"]).notes:
        click.echo(f"note: {note}", err=True)
    if not no_wait:
        _wait_ready(ctx, deployment_id, timeout)
    click.echo(deployment_id)


_SCALING = {
    "min_replicas": "min_replicas",
    "max_replicas": "max_replicas",
    "target_ongoing_requests": "target_ongoing_requests",
    "upscale_delay": "upscale_delay_s",
    "downscale_delay": "downscale_delay_s",
}


def _autoscaling(options: dict[str, Any]) -> dict[str, Any] | None:
    """The autoscaling options given, as the REST body's ``autoscaling`` (None: a fixed count)."""
    given = {field: options[name] for name, field in _SCALING.items() if options[name] is not None}
    return given or None


def _wait_ready(ctx: click.Context, deployment_id: str, timeout: float) -> None:
    started = time.monotonic()
    with Progress(None, f"loading {deployment_id}", unit="replica") as bar:
        while True:
            info = DeploymentInfo.from_dict(call(ctx, "GET", f"{MODELS}/{deployment_id}"))
            bar.set_status(info.status)
            bar.set(info.replicas_ready, info.replicas or None)
            elapsed = time.monotonic() - started
            if info.status == "ready":
                break
            if info.status == "failed":
                bar.close()
                fail(f"deployment {deployment_id} failed: {info.reason}")
            if elapsed > timeout:
                bar.close()
                fail(
                    f"{deployment_id} is still {info.status} after {timeout:.0f} s (it goes on loading): "
                    f"check with pycluster llm show {deployment_id}"
                )
            time.sleep(1)
    click.echo(f"{deployment_id} ready after {elapsed:.0f} s", err=True)


@llm_group.command("list")
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """One line per deployment: id, status, replicas, requests/s, tokens/s, p50 latency, model."""
    deployments = [DeploymentInfo.from_dict(d) for d in call(ctx, "GET", MODELS)["deployments"]]
    if not deployments:
        click.echo("no models deployed: pycluster llm deploy MODEL", err=True)
        return
    click.echo(f"{'ID':<14}{'STATUS':<10}{'REPLICAS':>9}{'REQ/S':>8}{'TOK/S':>9}{'P50 MS':>9}  MODEL")
    for d in deployments:
        p50, m = d.metrics.latency_ms.p50, d.metrics
        click.echo(
            f"{d.deployment_id:<14}{d.status:<10}{d.replicas_ready:>4}/{d.replicas:<4}"
            f"{m.requests_per_second:>8.2f}{m.tokens_per_second:>9.1f}"
            f"{'-' if p50 is None else f'{p50:.0f}':>9}  {d.model_name}"
        )
        if d.status == "failed" and d.reason:
            click.echo(f"{'':<14}reason: {d.reason}")


@llm_group.command("show")
@click.argument("deployment")
@click.pass_context
def show_command(ctx: click.Context, deployment: str) -> None:
    """Everything about DEPLOYMENT (JSON): replicas and their workers, metrics, notes."""
    print_json(call(ctx, "GET", f"{MODELS}/{deployment}"))


@llm_group.command("infer")
@click.argument("deployment")
@click.argument("prompt")
@click.option("--max-tokens", type=click.IntRange(1), default=128, show_default=True)
@click.option("--temperature", type=click.FloatRange(0), default=0.0, show_default=True, help="0 is greedy.")
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True)
@click.option("--stop", multiple=True, help="Stop before this text (repeatable).")
@click.option("--seed", type=click.IntRange(0), help="For reproducible sampling.")
@click.option("--stream/--no-stream", default=True, show_default=True, help="Print text as it is generated.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON (implies --no-stream).")
@click.pass_context
def infer_command(ctx: click.Context, /, deployment: str, prompt: str, **options: Any) -> None:
    """Complete PROMPT with DEPLOYMENT (an id or the deployed model's name); PROMPT "-" reads stdin."""
    stream, as_json = options.pop("stream") and not options["as_json"], options.pop("as_json")
    body = {
        "prompt": sys.stdin.read() if prompt == "-" else prompt,
        "max_tokens": options["max_tokens"],
        "temperature": options["temperature"],
        "top_p": options["top_p"],
        "stop_sequences": list(options["stop"]) or None,
        "seed": options["seed"],
    }
    path = f"{MODELS}/{deployment}/inference"
    if not stream:
        answer = call(ctx, "POST", path, timeout=600, json=body)
        click.echo(json.dumps(answer, indent=2) if as_json else answer["text"])
        return
    for line in stream_lines(ctx, "POST", path, json={**body, "stream": True}):
        event = json.loads(line)
        if "error" in event:
            click.echo()
            fail(event["error"]["message"])
        if event.get("done"):
            result = Generation.from_replica(event["result"], event["result"]["latency_ms"])
            click.echo()
            tokens, reason = result.tokens_generated, result.finish_reason
            click.echo(f"[{tokens} tokens, {reason}, {result.latency_ms:.0f} ms]", err=True)
        else:
            click.echo(event["text"], nl=False)


@llm_group.command("scale")
@click.argument("deployment")
@click.argument("replicas", type=click.IntRange(1))
@click.pass_context
def scale_command(ctx: click.Context, deployment: str, replicas: int) -> None:
    """Run REPLICAS copies of DEPLOYMENT (new ones load in the background)."""
    answer = DeploymentInfo.from_dict(
        call(ctx, "POST", f"{MODELS}/{deployment}/scale", json={"replicas": replicas})
    )
    click.echo(f"{answer.deployment_id}: {answer.replicas_ready}/{answer.replicas} replicas ready")


@llm_group.command("undeploy")
@click.argument("deployment")
@click.pass_context
def undeploy_command(ctx: click.Context, deployment: str) -> None:
    """Stop DEPLOYMENT's replicas and forget it."""
    answer = call(ctx, "DELETE", f"{MODELS}/{deployment}")
    click.echo(f"undeployed {answer['deployment_id']}")
