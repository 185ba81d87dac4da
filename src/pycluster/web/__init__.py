"""The head's web app: dashboard and REST API (FastAPI), served by uvicorn."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
