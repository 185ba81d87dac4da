"""What GPU monitoring costs: one full poll, the monitor thread's CPU share, the heartbeat entry.

Prints one JSON line per figure:

- ``gpu_monitor_poll``: one ``GPUMonitor.poll()`` (every GPU, every field, history and alerts),
  median of ``--polls``; where a GPU exists, against a raw ``pynvml`` loop reading the same
  fields (``ratio`` = ours / raw). Where none exists it is the cost of the unavailable path.
- ``gpu_monitor_poll_recorded``: the same poll over 8 recorded GPUs: pycluster's own share
  (conversion, history, alerts) without NVML, measurable on any machine.
- ``gpu_monitor_thread_cpu_share``: process CPU time / wall time while only the monitor thread
  runs at ``--interval`` (1 s) for ``--seconds``.
- ``gpu_unavailable_path``: first ``GPUMonitor()`` (one NVML attempt), later ones (cached),
  and log lines written by 10,000 polls and 3 ``start_monitoring`` calls. Only where no GPU.
- ``gpu_worker_report``: the ``gpus`` entry a worker's heartbeat carries (``GPUReporter.report``).

    python benchmarks/gpu_monitor.py [--polls 200] [--seconds 10] [--interval 1.0]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

from pycluster import GPUMonitor, Settings
from pycluster.gpu import RecordedReader
from pycluster.gpu.nvml import nvml_module, nvml_status
from pycluster.gpu.worker_plugin import GPUReporter

# one GPU's raw reading in NVML units (as tests/gpu/readings.py), every field present
READING: dict[str, Any] = {
    "name": "NVIDIA A100-SXM4-40GB",
    "pci_bus_id": "00000000:07:00.0",
    "memory_total": 40 * 2**30,
    "memory_used": 18 * 2**30,
    "memory_free": 22 * 2**30,
    "utilization_gpu": 87,
    "utilization_memory": 45,
    "temperature": 72,
    "power_usage": 300_512,
    "power_limit": 400_000,
    "fan_speed": 40,
    "clock_sm": 1410,
    "clock_memory": 1215,
    "clock_graphics": 1410,
    "performance_state": 0,
    "throttle_reasons": 0x4,
    "ecc_corrected": 2,
    "ecc_uncorrected": 0,
    "processes": [{"pid": 4242, "name": "python", "used_memory": 17 * 2**30, "type": "compute"}],
}


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def median_seconds(run: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def raw_pynvml_poll(nvml: Any, handles: list[Any]) -> list[dict[str, Any]]:
    """The same fields as NvmlReader, read the plain way (the baseline for ``ratio``)."""
    calls: list[tuple[str, Callable[[Any], Any]]] = [
        ("memory", nvml.nvmlDeviceGetMemoryInfo),
        ("utilization", nvml.nvmlDeviceGetUtilizationRates),
        ("temperature", lambda h: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)),
        ("power", nvml.nvmlDeviceGetPowerUsage),
        ("power_limit", nvml.nvmlDeviceGetEnforcedPowerLimit),
        ("fan", nvml.nvmlDeviceGetFanSpeed),
        ("sm", lambda h: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM)),
        ("mem_clock", lambda h: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM)),
        ("graphics", lambda h: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_GRAPHICS)),
        ("pstate", nvml.nvmlDeviceGetPerformanceState),
        ("throttle", nvml.nvmlDeviceGetCurrentClocksThrottleReasons),
        ("ecc_c", lambda h: nvml.nvmlDeviceGetTotalEccErrors(h, 0, nvml.NVML_VOLATILE_ECC)),
        ("ecc_u", lambda h: nvml.nvmlDeviceGetTotalEccErrors(h, 1, nvml.NVML_VOLATILE_ECC)),
        ("compute", nvml.nvmlDeviceGetComputeRunningProcesses),
        ("graphics_procs", nvml.nvmlDeviceGetGraphicsRunningProcesses),
    ]
    out = []
    for handle in handles:
        values = {}
        for name, call in calls:
            try:
                values[name] = call(handle)
            except nvml.NVMLError:
                values[name] = None
        out.append(values)
    return out


def poll_cost(polls: int) -> None:
    monitor = GPUMonitor(Settings())
    status = nvml_status()
    ours = median_seconds(monitor.poll, polls)
    figure: dict[str, Any] = {
        "benchmark": "gpu_monitor_poll",
        "gpus": status.count,
        "state": status.state.value,
        "pycluster_seconds": round(ours, 9),
    }
    if status.available:
        nvml = nvml_module()
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(status.count)]
        raw = median_seconds(lambda: raw_pynvml_poll(nvml, handles), polls)
        figure.update(raw_pynvml_seconds=round(raw, 9), ratio=round(ours / raw, 3))
    else:
        figure["note"] = f"no GPU here ({monitor.reason}): the unavailable path, no NVML call"
    emit(**figure)


def recorded_poll_cost(polls: int) -> None:
    gpus = [{**READING, "index": i, "uuid": f"GPU-{i}"} for i in range(8)]
    monitor = GPUMonitor(Settings(), reader=RecordedReader([gpus]))
    emit(
        benchmark="gpu_monitor_poll_recorded",
        gpus=8,
        pycluster_seconds=round(median_seconds(monitor.poll, polls), 9),
        note="conversion + history + alerts for 8 recorded GPUs, no NVML",
    )


def thread_cpu_share(seconds: float, interval: float) -> None:
    monitor = GPUMonitor(Settings())
    cpu, wall = time.process_time(), time.perf_counter()
    monitor.start_monitoring(interval)
    time.sleep(seconds)  # the main thread sleeps: the CPU time spent is the monitor thread's
    monitor.stop_monitoring()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    emit(
        benchmark="gpu_monitor_thread_cpu_share",
        interval_s=interval,
        seconds=round(wall, 2),
        polls=len(monitor.history),
        thread_running=monitor.available,
        cpu_seconds=round(cpu, 6),
        cpu_share_percent=round(100 * cpu / wall, 4),
    )


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def unavailable_path() -> None:
    if nvml_status().available:
        return
    counter = _Count()
    logger = logging.getLogger("pycluster")
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    later = median_seconds(lambda: GPUMonitor(Settings()), 50)
    monitor = GPUMonitor(Settings())
    for _ in range(3):
        monitor.start_monitoring(0.01)
    poll = median_seconds(monitor.poll, 10_000)
    logger.removeHandler(counter)
    emit(
        benchmark="gpu_unavailable_path",
        reason=monitor.reason,
        later_monitor_seconds=round(later, 6),
        poll_seconds=round(poll, 9),
        log_lines=counter.count,
        thread_started=monitor.monitoring,
    )


def worker_report_cost(polls: int) -> None:
    reporter = GPUReporter(1.0)
    reporter.monitor = GPUMonitor(Settings(), retention=0)
    reporter.monitor.start_monitoring(1.0)
    try:
        cost = median_seconds(reporter.report, polls)
    finally:
        reporter.monitor.close()
    emit(benchmark="gpu_worker_report", gpus=nvml_status().count, seconds=round(cost, 9))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    start = time.perf_counter()
    GPUMonitor(Settings())  # the first one starts NVML (or finds there is none): timed on its own
    emit(
        benchmark="gpu_first_monitor",
        seconds=round(time.perf_counter() - start, 4),
        state=nvml_status().state.value,
    )
    poll_cost(args.polls)
    recorded_poll_cost(args.polls)
    unavailable_path()
    worker_report_cost(args.polls)
    thread_cpu_share(args.seconds, args.interval)


if __name__ == "__main__":
    main()
