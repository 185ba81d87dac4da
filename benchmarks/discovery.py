"""How long discovery, scans and connection tests take on loopback.

Prints one JSON line per figure:
- one discovery probe answered by a head on 127.0.0.1 (median of N round trips),
- a scan of 127.0.0.0/24 (254 addresses x 2 ports) with one head in it,
- test_connection against that head.
Only 127.0.0.0/8 is ever contacted.

    python benchmarks/discovery.py [--probes 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from pycluster import HeadNode
from pycluster.net import discover_clusters_broadcast, scan_network_for_clusters, test_connection


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probes", type=int, default=50)
    args = parser.parse_args()
    with HeadNode(
        "bench", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, discovery_port=0
    ) as head:
        head.start()
        info = head.get_connection_info()
        latencies = []
        for _ in range(args.probes):
            (found,) = discover_clusters_broadcast(0.2, "127.0.0.1", info["discovery_port"])
            latencies.append(found["latency_ms"])
        emit(figure="discovery_round_trip_ms", median=statistics.median(latencies), probes=args.probes)
        scheduler_port = int(info["scheduler_address"].rsplit(":", 1)[1])
        dashboard_port = int(info["dashboard_url"].rsplit(":", 1)[1])
        started = time.perf_counter()
        found = scan_network_for_clusters(
            "127.0.0.0/24", ports=[scheduler_port, dashboard_port], dashboard_ports=[dashboard_port]
        )
        emit(
            figure="scan_127.0.0.0/24_seconds",
            value=round(time.perf_counter() - started, 3),
            found=len(found),
        )
        started = time.perf_counter()
        result = test_connection(info["scheduler_address"], discovery_port=info["discovery_port"])
        emit(
            figure="test_connection_seconds",
            value=round(time.perf_counter() - started, 3),
            ok=result["can_connect"],
        )


if __name__ == "__main__":
    main()
