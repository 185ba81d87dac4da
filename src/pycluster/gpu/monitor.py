"""GPUMonitor: this machine's NVIDIA GPUs, polled in a background thread, with history and alerts.

>>> monitor = GPUMonitor()
>>> monitor.available or monitor.reason is not None   # e.g. "NVIDIA driver not found (...)"
True
>>> status = monitor.get_gpu_status()
>>> status["available"] == monitor.available and status["count"] == len(status["gpus"])
True
>>> monitor.start_monitoring(interval=1.0)   # a no-op (one log line) where there is no GPU
>>> monitor.stop_monitoring()

Where no GPU can be read, ``available`` is False and ``reason`` says why
("nvidia-ml-py not installed: ...", "NVIDIA driver not found (...)", ...); nothing polls,
nothing retries, and every call answers at once.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from ..config import Settings
from .alerts import Alert, AlertTracker, GPUThresholds
from .history import GPUHistory
from .nvml import NVMLState, NVMLStatus
from .reader import GPUReader, machine_reader
from .readings import gpu_status, history_sample, iso_time

__all__ = ["GPUMonitor"]

logger = logging.getLogger(__name__)
_logged_reasons: set[str] = set()  # "GPU monitoring is off" is said once per process and reason


class GPUMonitor:
    """NVIDIA GPUs of this machine (through NVML), or a ``reason`` why there are none.

    ``reader`` replaces NVML (e.g. :class:`~pycluster.gpu.reader.RecordedReader`; by default
    NVML, or the recording ``PYCLUSTER_GPU_RECORDING`` names);
    thresholds and retention come from ``settings`` (pycluster.yaml's ``gpu`` and
    ``monitoring`` sections); ``on_alert`` is called with each alert raised.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        reader: GPUReader | None = None,
        retention: float | None = None,
        on_alert: Callable[[Alert], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or Settings.load()
        m = self.settings.monitoring
        self._reader = reader if reader is not None else machine_reader()
        self._status: NVMLStatus = self._reader.open()
        self._clock = clock
        self.history = GPUHistory(m.metrics_retention if retention is None else retention)
        self.alerts = AlertTracker(GPUThresholds.from_settings(self.settings), on_alert)
        self.default_interval = m.gpu_interval
        self.hostname = socket.gethostname()
        self._latest: list[dict[str, Any]] = []
        self._latest_at: float | None = None
        self._poll_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ----------------------------------------------------------------- state
    @property
    def available(self) -> bool:
        """True when at least one GPU can be read."""
        return self._status.available

    @property
    def reason(self) -> str | None:
        """Why no GPU can be read (None when ``available``)."""
        return self._status.reason

    @property
    def state(self) -> NVMLState:
        return self._status.state

    @property
    def monitoring(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ----------------------------------------------------------------- polling
    def poll(self) -> list[dict[str, Any]]:
        """Read every GPU now, keep it in the history and check the alert thresholds."""
        if not self.available:
            return []
        with self._poll_lock:
            now = self._clock()
            gpus = [gpu_status(raw) for raw in self._reader.read()]
            self._latest, self._latest_at = gpus, now
            self.history.append(history_sample(gpus, now), now)
            self.alerts.update(gpus, now)
            return gpus

    def get_gpu_status(self) -> dict[str, Any]:
        """Every GPU's latest reading (read now unless the background thread keeps them fresh).

        ``{"available", "state", "reason", "count", "driver_version", "cuda_driver_version",
        "hostname", "timestamp", "gpus": [...], "alerts": [active alerts]}``
        """
        if self.available and not self.monitoring:
            self.poll()
        s = self._status
        return {
            "available": s.available,
            "state": s.state.value,
            "reason": s.reason,
            "count": len(self._latest) if s.available else 0,
            "driver_version": s.driver_version,
            "cuda_driver_version": s.cuda_driver_version,
            "hostname": self.hostname,
            "timestamp": iso_time(self._latest_at) if self._latest_at else None,
            "gpus": list(self._latest),
            "alerts": self.alerts.active(),
        }

    def get_metrics_history(self, seconds: float | None = None) -> list[dict[str, Any]]:
        """Samples of the last ``seconds`` (default: all kept), oldest first."""
        window = self.history.retention if seconds is None else seconds
        return self.history.since(window, self._clock())

    def get_alerts(self, active_only: bool = False) -> list[Alert]:
        """Active alerts, or the recent ones (raised and resolved), oldest first."""
        return self.alerts.active() if active_only else list(self.alerts.recent)

    # ----------------------------------------------------------------- background thread
    def start_monitoring(self, interval: float | None = None) -> None:
        """Poll every ``interval`` seconds (``monitoring.gpu_interval``, 1 s) until ``stop_monitoring()``."""
        if not self.available:
            _log_once(f"GPU monitoring is off: {self.reason}")
            return
        if self.monitoring:
            return
        period = max(0.05, float(interval if interval is not None else self.default_interval))
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(period,), name="pycluster-gpu-monitor", daemon=True
        )
        self._thread.start()

    def stop_monitoring(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def _run(self, period: float) -> None:
        next_at = time.monotonic()
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            try:
                self.poll()
            except Exception as exc:  # a driver hiccup must not end monitoring
                _log_once(f"GPU poll failed: {exc!r}")
            # keep the cadence, but never try to catch up on polls missed while suspended
            next_at = max(next_at + period, time.monotonic())

    def close(self) -> None:
        self.stop_monitoring()
        self._reader.close()

    def __enter__(self) -> GPUMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        what = f"{len(self._latest)} GPUs" if self.available else f"off: {self.reason}"
        return f"<GPUMonitor {what}>"


def _log_once(message: str) -> None:
    if message not in _logged_reasons:
        _logged_reasons.add(message)
        logger.info(message)
