"""GPUMonitor on this machine (no NVIDIA driver: the real "unavailable" path) and on recorded readings."""

from __future__ import annotations

import doctest
import importlib
import json
import logging
import subprocess
import sys
import threading

import pytest

from pycluster import GPUMonitor, Settings
from pycluster.errors import ConfigError
from pycluster.gpu import RecordedReader
from pycluster.gpu.nvml import NVMLState, NVMLStatus, nvml_status
from pycluster.gpu.reader import RECORDING_ENV, machine_reader
from tests.gpu.readings import A100, RTX4090, hot_then_cool, reading
from tests.helpers import wait_for

NO_DRIVER = nvml_status().state is NVMLState.DRIVER_MISSING
needs_no_driver = pytest.mark.skipif(not NO_DRIVER, reason="this machine has an NVIDIA driver")


class Clock:
    """Recorded readings come with their own time, so retention is exact."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def recorded(snapshots: list[list[dict]], settings: Settings | None = None, **kwargs: object) -> GPUMonitor:
    return GPUMonitor(settings or Settings(), reader=RecordedReader(snapshots), **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- unavailable (real NVML, no driver)
@needs_no_driver
def test_without_a_driver_the_monitor_says_why_and_costs_nothing(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monitor = GPUMonitor(Settings())
    assert monitor.available is False
    assert monitor.state is NVMLState.DRIVER_MISSING
    assert monitor.reason.startswith("NVIDIA driver not found (NVML Shared Library Not Found)")
    status = monitor.get_gpu_status()
    assert status["available"] is False and status["count"] == 0 and status["gpus"] == []
    assert status["reason"] == monitor.reason and status["state"] == "driver_missing"
    before = set(threading.enumerate())
    with caplog.at_level(logging.DEBUG, logger="pycluster"):
        for _ in range(3):
            monitor.start_monitoring(interval=0.05)
        pynvml = importlib.import_module("pynvml")
        init = pynvml.nvmlInit
        tries: list[int] = []
        # counts NVML's own start-up calls (pynvml, not our code): a poll must not try again
        monkeypatch.setattr(pynvml, "nvmlInit", lambda *a, **k: (tries.append(1), init(*a, **k))[1])
        polls = [monitor.poll() for _ in range(10_000)]
    # no monitoring thread was started (other tests' threads may come and go meanwhile)
    started = [t for t in set(threading.enumerate()) - before if t.name == "pycluster-gpu-monitor"]
    assert started == [] and not monitor.monitoring
    assert polls[-1] == [] and tries == []  # no NVML retry per poll (it costs a library load)
    assert len([r for r in caplog.records if "GPU monitoring is off" in r.message]) <= 1
    assert monitor.get_metrics_history() == [] and monitor.get_alerts() == []
    monitor.stop_monitoring()


def test_without_nvidia_ml_py_the_reason_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['pynvml'] = None\n"
        "from pycluster import GPUMonitor\n"
        "m = GPUMonitor(); print(m.available, m.state.value); print(m.reason)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    first, reason = result.stdout.splitlines()
    assert first == "False library_missing"
    assert reason == 'nvidia-ml-py not installed: pip install "pycluster[gpu]"'


# ---------------------------------------------------------------- recorded readings
def test_status_has_every_field_in_readable_units() -> None:
    status = recorded([[A100, RTX4090]]).get_gpu_status()
    assert status["available"] and status["count"] == 2 and status["state"] == "ready"
    a100, rtx = status["gpus"]
    # the PyCluster v2 document's fields
    assert {
        k: a100[k] for k in ("id", "name", "memory_total", "memory_used", "utilization", "temperature")
    } == {
        "id": 0,
        "name": "NVIDIA A100-SXM4-40GB",
        "memory_total": 40.0,
        "memory_used": 18.0,
        "utilization": 87,
        "temperature": 72,
    }
    assert a100["power_usage"] == 300.5 and a100["power_limit"] == 400.0 and a100["power_percent"] == 75.1
    assert a100["memory_total_bytes"] == 40 * 2**30 and a100["memory_free"] == 22.0
    assert a100["memory_utilization"] == 45 and a100["clocks"] == {
        "sm": 1410,
        "memory": 1215,
        "graphics": 1410,
    }
    assert a100["performance_state"] == "P0" and a100["throttle_reasons"] == ["sw_power_cap"]
    assert a100["ecc_errors"] == {"corrected": 2, "uncorrected": 0}
    assert a100["fan_speed"] is None  # not supported on this card: None, not an error
    assert a100["processes"] == [
        {
            "pid": 4242,
            "name": "python",
            "type": "compute",
            "memory_used": 17.0,
            "memory_used_bytes": 17 * 2**30,
        }
    ]
    assert rtx["fan_speed"] == 30 and rtx["ecc_errors"] is None and rtx["throttle_reasons"] == ["gpu_idle"]
    assert rtx["processes"][0]["memory_used"] is None  # WDDM / Xorg: NVML cannot tell
    json.dumps(status)  # plain JSON all the way down


def test_a_card_that_answers_almost_nothing_gives_nones_not_errors() -> None:
    bare = {"index": 0, "name": "NVIDIA T4", "uuid": "GPU-bare"}
    gpu = recorded([[bare]]).get_gpu_status()["gpus"][0]
    assert gpu["id"] == 0 and gpu["name"] == "NVIDIA T4"
    for field in (
        "memory_total",
        "memory_percent",
        "utilization",
        "temperature",
        "power_usage",
        "power_percent",
    ):
        assert gpu[field] is None, field
    assert gpu["ecc_errors"] is None and gpu["throttle_reasons"] is None and gpu["processes"] == []
    assert gpu["performance_state"] is None


def test_history_is_kept_for_metrics_retention() -> None:
    clock = Clock()
    settings = Settings.load(config_path=False, monitoring__metrics_retention="5s")
    monitor = recorded(
        [[reading(A100, utilization_gpu=u), RTX4090] for u in range(10)], settings, clock=clock
    )
    for _ in range(10):
        monitor.poll()
        clock.now += 1.0
    history = monitor.get_metrics_history()
    assert [s["gpus"][0]["utilization"] for s in history] == [5, 6, 7, 8, 9]  # the last 5 s
    last = history[-1]
    assert last["count"] == 2 and last["avg_utilization"] == 6.0  # (9 + 3) / 2
    assert last["memory_used"] == 19.0 and last["memory_total"] == 64.0 and last["max_temperature"] == 72
    assert set(last["gpus"][0]) >= {"id", "uuid", "utilization", "memory_used", "temperature", "power_usage"}
    assert [s["time"] for s in monitor.get_metrics_history(seconds=2)] == [clock.now - 2, clock.now - 1]


def test_temperature_alerts_rise_escalate_and_resolve_without_flapping() -> None:
    clock = Clock()
    seen: list[dict] = []
    monitor = recorded(hot_then_cool(), clock=clock, on_alert=seen.append)
    levels = []
    for _ in hot_then_cool():  # 72, 81, 86, 84, 83, 79, 76, 70 C
        monitor.poll()
        levels.append([a["level"] for a in monitor.get_alerts(active_only=True)])
        clock.now += 1.0
    assert levels == [[], ["warning"], ["critical"], ["critical"], ["critical"], ["warning"], [], []]
    assert [(a["kind"], a["level"], a["value"]) for a in seen] == [
        ("temperature", "warning", 81),
        ("temperature", "critical", 86),
        ("temperature", "warning", 79),
    ]
    assert seen[1]["threshold"] == 85.0 and seen[1]["setting"] == "gpu.temperature_threshold"
    assert "GPU 0 (NVIDIA A100-SXM4-40GB) is at 86 C" in seen[1]["message"]
    assert all(a["active"] is False and a["resolved_at"] for a in monitor.get_alerts())


def test_power_and_memory_alerts_use_the_yaml_thresholds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "pycluster.yaml"
    config.write_text(
        "gpu:\n  temperature_threshold: 90\n  power_limit_threshold: 0.8\n"
        "monitoring:\n  alert_thresholds:\n    gpu_temperature: 88\n    gpu_memory: 0.5\n"
    )
    settings = Settings.load(config)
    snapshots = [
        [
            reading(A100, temperature=86, power_usage=330_000, memory_used=22 * 2**30)
        ],  # 0.825 power, 0.55 memory
    ]
    monitor = recorded(snapshots, settings)
    monitor.poll()
    active = {a["kind"]: a for a in monitor.get_alerts(active_only=True)}
    assert set(active) == {"power", "memory"}  # 86 C is under this file's 88 C
    assert active["power"]["value"] == 0.825 and active["power"]["setting"] == "gpu.power_limit_threshold"
    assert active["memory"]["threshold"] == 0.5 and "uses 55% of its memory" in active["memory"]["message"]


def test_an_alert_logs_once_and_a_failing_callback_does_not_stop_polling(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(alert: dict) -> None:
        raise RuntimeError("callback bug")

    monitor = recorded([[reading(A100, temperature=90)]], on_alert=broken)
    with caplog.at_level(logging.WARNING, logger="pycluster"):
        for _ in range(5):
            monitor.poll()
    assert len([r for r in caplog.records if r.getMessage().startswith("GPU alert")]) == 1
    assert len(monitor.get_alerts()) == 1


def test_background_thread_polls_at_the_interval_and_stops() -> None:
    monitor = recorded([[A100, RTX4090]])
    monitor.start_monitoring(interval=0.05)
    try:
        assert monitor.monitoring
        wait_for(lambda: len(monitor.history) >= 3, 10, 0.02, "three polls")
        status = monitor.get_gpu_status()  # served from the thread's reading
        assert status["count"] == 2 and status["timestamp"]
    finally:
        monitor.stop_monitoring()
    assert not monitor.monitoring
    assert not [t for t in threading.enumerate() if t.name == "pycluster-gpu-monitor"]


def test_recorded_reader_replays_an_unavailable_machine_and_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    off = NVMLStatus(NVMLState.NO_GPUS, "the NVIDIA driver 550.54 is loaded but sees no GPU")
    monitor = GPUMonitor(Settings(), reader=RecordedReader([], off))
    assert not monitor.available and monitor.reason == off.reason and monitor.poll() == []
    path = tmp_path / "gpus.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in hot_then_cool()[:2]) + "\n")
    replay = GPUMonitor(Settings(), reader=RecordedReader.from_jsonl(path))
    assert [replay.poll()[0]["temperature"] for _ in range(3)] == [72, 81, 81]  # the last one repeats


def test_the_recording_env_replaces_nvml_and_the_readings_take_nvmls_path(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "gpus.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in hot_then_cool()) + "\n")
    monkeypatch.setenv(RECORDING_ENV, str(path))
    monitor = GPUMonitor(Settings())  # no reader given: what a worker's GPUReporter builds
    temperatures = [monitor.poll()[0]["temperature"] for _ in range(3)]
    status = monitor.get_gpu_status()
    assert temperatures == [72, 81, 86] and monitor.available
    # raw bytes and milliwatts came out in GB and watts, as NVML's readings do, and alerted
    assert status["gpus"][1]["memory_total"] == 24.0 and status["gpus"][0]["power_usage"] == 300.5
    assert [a["level"] for a in status["alerts"]] == ["critical"]

    monkeypatch.setenv(RECORDING_ENV, str(tmp_path / "missing.jsonl"))
    with pytest.raises(ConfigError, match=r"PYCLUSTER_GPU_RECORDING.*missing\.jsonl"):
        GPUMonitor(Settings())
    (tmp_path / "bad.jsonl").write_text("not json\n")
    with pytest.raises(ConfigError, match="not a recording"):
        machine_reader(env=str(tmp_path / "bad.jsonl"))


@pytest.mark.parametrize(
    "module",
    [
        "pycluster.gpu.alerts",
        "pycluster.gpu.history",
        "pycluster.gpu.monitor",
        "pycluster.gpu.nvml",
        "pycluster.gpu.pinning",
        "pycluster.gpu.reader",
        "pycluster.gpu.readings",
        "pycluster.gpu.worker_plugin",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
