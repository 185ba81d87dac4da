"""Replica autoscaling on the tiny local model (CPU): a burst of 64 concurrent clients on a
deployment that starts with 1 replica and may grow to 2. One JSON line per figure:

- seconds from the burst's start to the second replica being ready (upscale_delay_s included);
- requests/s and tokens/s while one replica served (before the autoscaler decided to grow),
  while the second loaded, and once two served (same run, so the ratio is what to read:
  absolute numbers depend on the machine and what else runs on it).

Each client sends its next request as soon as its last one is answered, for ``AFTER`` seconds
past the second replica's start; a one-shot burst would all be routed to the first replica
before the second exists.

    python benchmarks/llm_autoscale.py [--clients 64] [--after 10] [--max-tokens 16]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.llm.tiny_model import build_tiny_model

from pycluster import HeadNode, LLMClusterManager
from pycluster.llm import AutoscalingConfig

UPSCALE_DELAY = 5.0  # seconds; Ray Serve's default is 30, short here so the run stays short


def _client(llm: LLMClusterManager, dep: str, i: int, stop: threading.Event, max_tokens: int) -> list:
    done = []
    while not stop.is_set():
        result = llm.generate(dep, f"the quick brown fox {i}", max_tokens=max_tokens)
        done.append((time.monotonic(), result.tokens_generated, result.replica))
    return done


def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _wait(llm: LLMClusterManager, dep: str, field: str) -> float:
    while getattr(llm.deployment(dep), field) < 2:
        time.sleep(0.05)
    return time.monotonic()


def _rate(done: list, start: float, end: float) -> dict[str, float]:
    inside = [d for d in done if start <= d[0] < end]
    seconds = max(end - start, 1e-9)
    return {
        "seconds": round(seconds, 2),
        "requests": len(inside),
        "requests_per_s": round(len(inside) / seconds, 2),
        "tokens_per_s": round(sum(d[1] for d in inside) / seconds, 1),
        "requests_per_replica": {
            str(r): sum(d[2] == r for d in inside) for r in sorted({d[2] for d in inside})
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--after", type=float, default=10.0, help="seconds measured with two replicas")
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(Path(tmp) / "model")
        with HeadNode(
            "bench-autoscale",
            scheduler_port=0,
            dashboard_port=0,
            dask_dashboard_port=False,
            discovery_port=False,
            state_dir=str(Path(tmp) / "state"),
        ) as head:
            head.start(n_local_workers=2, threads_per_worker=1)
            # one torch thread per replica process: two replicas on a small machine must not
            # fight over its cores (the workers are fresh interpreters; Dask's Nanny would set it)
            head.cluster_manager.client.run(_one_torch_thread)
            llm = LLMClusterManager(head.cluster_manager)
            scaling = AutoscalingConfig(
                min_replicas=1,
                max_replicas=2,
                target_ongoing_requests=8,
                upscale_delay_s=UPSCALE_DELAY,
                downscale_delay_s=600,
            )
            dep = llm.deploy_model(
                str(model_dir), gpu_per_replica=0, batch_size=32, max_sequence_length=128, autoscaling=scaling
            )
            llm.inference(dep, "warm up", max_tokens=4)
            stop = threading.Event()
            started = time.monotonic()
            with ThreadPoolExecutor(args.clients) as pool:
                runs = [pool.submit(_client, llm, dep, i, stop, args.max_tokens) for i in range(args.clients)]
                decided = _wait(llm, dep, "replicas")  # the autoscaler started the second replica
                ready = _wait(llm, dep, "replicas_ready")
                time.sleep(args.after)
                stop.set()
                ended = time.monotonic()
                done = [d for r in runs for d in r.result()]
            base = {"clients": args.clients, "max_tokens": args.max_tokens, "upscale_delay_s": UPSCALE_DELAY}
            to_second = round(ready - started, 2)
            print(json.dumps({**base, "figure": "seconds_to_second_replica", "value": to_second}))
            print(json.dumps({**base, "figure": "seconds_to_decision", "value": round(decided - started, 2)}))
            # while the second replica loads it takes CPU from the first: shown apart
            before, after = _rate(done, started, decided), _rate(done, ready, ended)
            print(json.dumps({**base, "figure": "one_replica", **before}))
            loading = _rate(done, decided, ready)
            print(json.dumps({**base, "figure": "second_loading", **loading}))
            print(json.dumps({**base, "figure": "two_replicas", **after}))
            ratio = after["tokens_per_s"] / max(before["tokens_per_s"], 1e-9)
            print(json.dumps({**base, "figure": "tokens_per_s_two_over_one", "value": round(ratio, 2)}))
            # one replica at full speed (the burst's ramp-up over) against two: what a second replica adds
            steady = after["tokens_per_s"] / max(loading["tokens_per_s"], 1e-9)
            print(json.dumps({**base, "figure": "tokens_per_s_two_over_one_warm", "value": round(steady, 2)}))


if __name__ == "__main__":
    main()
