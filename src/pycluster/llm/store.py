"""Deployments as rows in the head's SQLite file (beside jobs and datasets)."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

__all__ = ["DeploymentStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_deployments (
    id TEXT PRIMARY KEY, spec TEXT, status TEXT, reason TEXT, created_at REAL
);
CREATE TABLE IF NOT EXISTS llm_traffic (name TEXT PRIMARY KEY, weights TEXT, previous TEXT);
"""


class DeploymentStore:
    def __init__(self, db_path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def save(
        self, deployment_id: str, spec: dict[str, Any], status: str, reason: str | None, created: float
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO llm_deployments VALUES (?, ?, ?, ?, ?)",
                (deployment_id, json.dumps(spec), status, reason, created),
            )

    def delete(self, deployment_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM llm_deployments WHERE id = ?", (deployment_id,))

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, spec, status, reason, created_at FROM llm_deployments"
            ).fetchall()
        return [
            {"id": r[0], "spec": json.loads(r[1]), "status": r[2], "reason": r[3], "created_at": r[4]}
            for r in rows
        ]

    def save_traffic(self, name: str, weights: dict[str, float], previous: dict[str, float] | None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO llm_traffic VALUES (?, ?, ?)",
                (name, json.dumps(weights), json.dumps(previous)),
            )

    def delete_traffic(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM llm_traffic WHERE name = ?", (name,))

    def traffic(self) -> dict[str, tuple[dict[str, float], dict[str, float] | None]]:
        """Each name's traffic weights and the weights before the last change."""
        with self._lock:
            rows = self._db.execute("SELECT name, weights, previous FROM llm_traffic").fetchall()
        return {r[0]: (json.loads(r[1]), json.loads(r[2])) for r in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
