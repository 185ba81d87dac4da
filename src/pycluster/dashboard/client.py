"""DashboardManager: the dashboard of a running head, from Python (an HTTP client, nothing more).

>>> dashboard = DashboardManager("http://127.0.0.1:8787")  # doctest: +SKIP
>>> dashboard.is_accessible()  # doctest: +SKIP
True
>>> [w["name"] for w in dashboard.get_worker_info()["workers"]]  # doctest: +SKIP
['tcp://127.0.0.1:40123', 'tcp://127.0.0.1:40125']
"""

from __future__ import annotations

import webbrowser
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from ..errors import DashboardError

__all__ = ["DashboardManager"]


class DashboardManager:
    """Read a head's dashboard API: status, workers, a complete report (also as an HTML page).

    ``token`` is the head's API token, when it requires one (``PYCLUSTER_API_TOKEN``).
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    # ------------------------------------------------------------------ product documentation API
    def is_accessible(self) -> bool:
        """True when the dashboard's API answers (with this token, if one is needed)."""
        try:
            with self._client() as client:
                return client.get("/api/health").status_code == 200
        except httpx.HTTPError:
            return False

    def open_in_browser(self) -> bool:
        """Open the dashboard in the default web browser; False when none could be opened."""
        try:
            return bool(webbrowser.open(self.url))
        except webbrowser.Error:
            return False

    def get_cluster_status(self) -> dict[str, Any]:
        """GET /api/cluster/status: name, addresses, workers, cores, memory, tasks, uptime."""
        return self._get("/api/cluster/status")

    def get_worker_info(self) -> dict[str, Any]:
        """GET /api/cluster/workers: ``{"n_workers", "workers": [{name, host, memory_usage, ...}]}``."""
        return self._get("/api/cluster/workers")

    def generate_dashboard_report(self) -> dict[str, Any]:
        """Everything the dashboard shows, at one moment, as one dict (see ``write_html_report``)."""
        snapshot = self._get("/api/dashboard/snapshot")
        metrics = self._get("/api/cluster/metrics")
        return {
            "generated_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
            "dashboard_url": self.url,
            "accessible": True,
            "health": self._get("/api/health"),
            "cluster": self.get_cluster_status(),
            "workers": snapshot.get("workers", []),
            "tasks": snapshot.get("tasks"),
            "jobs": snapshot.get("jobs"),
            "alerts": snapshot.get("alerts"),
            "metrics": {"current": metrics.get("current"), "history": metrics.get("history", [])},
            "gpu": self._get_optional("/api/llm/gpu/status"),
        }

    # ------------------------------------------------------------------ HTML
    def write_html_report(self, path: str | Path, report: dict[str, Any] | None = None) -> Path:
        """Write the report as one standalone HTML page, charts included (works offline)."""
        from .report import render_html_report

        target = Path(path)
        target.write_text(render_html_report(report or self.generate_dashboard_report()), encoding="utf-8")
        return target

    # ------------------------------------------------------------------ HTTP
    def _client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=self.timeout)

    def _get(self, path: str) -> dict[str, Any]:
        answer = self._request(path)
        if answer.status_code != 200:
            raise DashboardError(self._refusal(path, answer))
        return answer.json()

    def _get_optional(self, path: str) -> dict[str, Any] | None:
        answer = self._request(path)
        return answer.json() if answer.status_code == 200 else None

    def _request(self, path: str) -> httpx.Response:
        try:
            with self._client() as client:
                return client.get(path)
        except httpx.HTTPError as exc:
            raise DashboardError(
                f"the dashboard at {self.url} did not answer ({exc}); is the head running, "
                "and is the URL right (http://HEAD:8787)?"
            ) from exc

    def _refusal(self, path: str, answer: httpx.Response) -> str:
        if answer.status_code == 401:
            return f"the dashboard at {self.url} needs its API token: DashboardManager(url, token=...)"
        try:
            detail = answer.json().get("detail")
        except ValueError:
            detail = answer.text[:200]
        return f"GET {path} answered {answer.status_code}: {detail}"

    def __repr__(self) -> str:
        return f"<DashboardManager {self.url}>"
