"""What open dashboards cost the cluster, measured with real headless browsers.

Prints one JSON line per figure:
- tasks/s of a no-op task workload with 0 and with N dashboards open (one chromium, N pages,
  each its own renderer, on the Overview tab with its live charts), median of the rounds,
  and their ratio (target >= 0.95). Here the browsers share the cluster's 2 cores, which a
  real viewer's browser does not: so it runs twice, with the browsers at normal priority
  (worst case) and at nice 19 (standing in for browsers on the viewers' own machines);
- the head process's CPU share during the workload (the scheduler, the web app and the
  client share that process) and while idle, with 0 and N dashboards;
- the dashboard's first load: bytes over the wire and seconds until live data shows,
  then the same for a second load (browser cache warm).

    python benchmarks/dashboard_load.py [--tasks 3000] [--rounds 3] [--dashboards 5] [--tab overview]
                                        [--priorities normal,nice]

Needs /usr/bin/chromium and playwright (pip install -e ".[test]"). Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.dashboard.browser import CHROMIUM, CHROMIUM_ARGS  # the same flags as the browser tests

from pycluster import HeadNode

LIVE = "#live-pill[data-state=live]"


def noop(x: int) -> int:
    return x


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def _browser_processes() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name()]


class CpuMeter:
    """CPU seconds of this process (the head) and of the browsers, as shares of one core."""

    def __init__(self) -> None:
        self._proc = psutil.Process()

    @contextmanager
    def measure(self) -> Iterator[dict[str, float]]:
        result: dict[str, float] = {}
        browsers = _browser_processes()
        head0, browsers0 = _cpu_seconds([self._proc]), _cpu_seconds(browsers)
        wall0 = time.perf_counter()
        yield result
        result["wall_s"] = wall = time.perf_counter() - wall0
        result["cpu_percent"] = 100.0 * (_cpu_seconds([self._proc]) - head0) / wall
        result["browser_cpu_percent"] = 100.0 * (_cpu_seconds(browsers) - browsers0) / wall


def workload(head: HeadNode, n: int, meter: CpuMeter) -> dict[str, float]:
    client = head.cluster_manager.client
    with meter.measure() as m:
        client.gather(client.map(noop, range(n), pure=False))
    return {"tasks_per_s": n / m["wall_s"], **m}


def open_dashboards(browser: Any, head: Any, n: int, tab: str = "overview") -> list[Any]:
    contexts = []
    for _ in range(n):
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        page = context.new_page()
        page.goto(head.login_url)  # every head has a token: the login link sets the session cookie
        page.goto(f"{head.dashboard_url}/#{tab}")
        page.wait_for_selector(LIVE, timeout=60_000)
        contexts.append(context)
    time.sleep(3)  # let the pages settle into their steady update rhythm
    return contexts


def first_load(browser: Any, head: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(head.login_url)  # sign in first: the cold visit then measures the dashboard itself
    page.goto("about:blank")
    url = head.dashboard_url
    for visit in ("cold", "warm"):
        started = time.perf_counter()
        page.goto(f"{url}/#overview")
        page.wait_for_selector(LIVE, timeout=60_000)
        page.wait_for_function("/[0-9]/.test(document.querySelector('#card-workers .v').textContent)")
        seconds = time.perf_counter() - started
        transferred = page.evaluate(
            """() => performance.getEntriesByType('navigation')
                 .concat(performance.getEntriesByType('resource'))
                 .reduce((sum, e) => sum + (e.transferSize || 0), 0)"""
        )
        emit(benchmark="dashboard_first_load", cache=visit, bytes=transferred, seconds=round(seconds, 3))
        if visit == "cold":
            page.goto("about:blank")
    context.close()


def throughput(
    head: HeadNode, browser: Any, args: argparse.Namespace, meter: CpuMeter, priority: str
) -> None:
    runs: dict[int, list[dict[str, float]]] = {0: [], args.dashboards: []}
    workload(head, args.tasks, meter)  # warm-up: workers import, caches fill
    for round_no in range(args.rounds):
        order = [0, args.dashboards] if round_no % 2 == 0 else [args.dashboards, 0]
        for n in order:
            contexts = open_dashboards(browser, head, n, args.tab)
            runs[n].append(workload(head, args.tasks, meter))
            for context in contexts:
                context.close()
    for n, results in runs.items():
        emit(
            benchmark="dashboard_throughput",
            tab=args.tab,
            browser_priority=priority,
            dashboards=n,
            tasks=args.tasks,
            rounds=args.rounds,
            tasks_per_s=round(statistics.median(r["tasks_per_s"] for r in results), 1),
            head_process_cpu_percent=round(statistics.median(r["cpu_percent"] for r in results), 1),
            browser_cpu_percent=round(statistics.median(r["browser_cpu_percent"] for r in results), 1),
        )
    with_dashboards = statistics.median(r["tasks_per_s"] for r in runs[args.dashboards])
    ratio = with_dashboards / statistics.median(r["tasks_per_s"] for r in runs[0])
    emit(
        benchmark="dashboard_throughput_ratio",
        tab=args.tab,
        browser_priority=priority,
        dashboards=args.dashboards,
        ratio=round(ratio, 3),
        target=">= 0.95",
    )


def idle_cost(head: HeadNode, browser: Any, n: int, meter: CpuMeter, seconds: float = 10.0) -> None:
    for dashboards in (0, n):
        contexts = open_dashboards(browser, head, dashboards)
        with meter.measure() as m:
            time.sleep(seconds)
        feed = getattr(head.services["web"].server.app.state, "live_feed", None)
        emit(
            benchmark="head_process_cpu_idle",
            dashboards=dashboards,
            seconds=seconds,
            cpu_percent=round(m["cpu_percent"], 2),
            browser_cpu_percent=round(m["browser_cpu_percent"], 2),
            stream_producers=feed.producers if feed else {},
        )
        for context in contexts:
            context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dashboards", type=int, default=5)
    parser.add_argument("--tab", default="overview", help="the tab the dashboards show")
    parser.add_argument(
        "--priorities", default="normal,nice", help="browser priorities to run: normal, nice (19), or both"
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    meter = CpuMeter()
    with (
        HeadNode("bench-dash", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False) as head,
        tempfile.TemporaryDirectory() as tmp,
        sync_playwright() as pw,
    ):
        head.start(n_local_workers=2, threads_per_worker=1)
        wanted = set(args.priorities.split(","))
        for priority, executable in (("normal", CHROMIUM), ("nice 19", _niced_chromium(Path(tmp)))):
            if priority.split()[0] not in wanted:
                continue
            browser = pw.chromium.launch(executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)
            if priority == "normal":
                first_load(browser, head)
                idle_cost(head, browser, args.dashboards, meter)
            throughput(head, browser, args, meter, priority)
            browser.close()


def _niced_chromium(folder: Path) -> str:
    """A wrapper that starts chromium at nice 19 (its renderers inherit the priority)."""
    wrapper = folder / "chromium-nice"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n 19 {CHROMIUM} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return os.fspath(wrapper)


if __name__ == "__main__":
    main()
