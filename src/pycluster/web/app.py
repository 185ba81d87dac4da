"""create_app: the FastAPI application a head node (or ``pycluster api``) serves."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from .. import __version__
from ..errors import (
    ClusterNotRunningError,
    ConfigError,
    DataAccessError,
    DatasetFormatError,
    DatasetNotFoundError,
    DeploymentBusyError,
    DeploymentNotFoundError,
    DeploymentStateError,
    InferenceRequestError,
    JobDoesNotFitError,
    JobNotFoundError,
    JobRejectedError,
    JobStateError,
    MissingDependencyError,
    ModelDoesNotFitError,
    ModelNotFoundError,
    PortInUseError,
    PyClusterError,
    StorageError,
    StorageFullError,
)
from .api_docs import mount_api_docs
from .assets import mount_dashboard
from .auth import require_token
from .body_guard import MAX_BODY_BYTES, BodyGuard
from .controller import HeadController, StandaloneController
from .cors import CORS_HEADERS, CORS_METHODS, parse_origins
from .origin import HostOriginGuard
from .peercred import PeerCredentials
from .routers import (
    cluster,
    dashboard,
    data,
    gpu,
    health,
    llm,
    openai_compat,
    operations,
    processing,
    prometheus,
)
from .routers.llm_adapters import router as adapters_router
from .session import login_router
from .session import router as auth_router

if TYPE_CHECKING:
    from ..cluster.head import HeadNode

__all__ = ["MAX_BODY_BYTES", "create_app"]


# Our errors, as HTTP: the message already says what to do.
_STATUS_FOR = [
    (DataAccessError, 403),
    (DatasetNotFoundError, 404),
    (DatasetFormatError, 422),
    (JobNotFoundError, 404),
    (DeploymentNotFoundError, 404),
    (ModelNotFoundError, 404),
    (InferenceRequestError, 422),
    (ModelDoesNotFitError, 422),
    (MissingDependencyError, 422),
    (DeploymentBusyError, 429),
    (DeploymentStateError, 409),
    (JobStateError, 409),
    (PortInUseError, 409),
    (JobDoesNotFitError, 409),  # before JobRejectedError, its base: the cluster, not the body
    (JobRejectedError, 422),
    (ConfigError, 422),
    (ClusterNotRunningError, 503),
    (StorageFullError, 507),
    (StorageError, 503),
    (PyClusterError, 400),
]


_ERROR_BODY = {"application/json": {"schema": {"type": "object", "properties": {"detail": {}}}}}
# what any protected route may answer before its own code runs: documented, so clients
# (and the schema check in the tests) know a refusal is JSON with a reason
REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"description": "no API token, or the wrong one", "content": _ERROR_BODY},
    403: {"description": "Host, Origin or CSRF check failed", "content": _ERROR_BODY},
}


def create_app(
    target: HeadNode | HeadController | StandaloneController,
    api_token: str | None = None,
    *,
    bind_host: str | None = None,
    allowed_hosts: Iterable[str] = (),
    allowed_origins: Iterable[str] = (),
    cors_origins: Iterable[str] | None = None,
) -> FastAPI:
    """The app for a running HeadNode (or a controller); routers slot in under /api.

    ``bind_host`` (default: the settings' host) decides the Host check: a loopback server takes
    only loopback Host names, plus ``allowed_hosts``; ``allowed_origins`` adds origins (a reverse
    proxy's) to the request's own. ``cors_origins`` (default: the settings' ``cors_origins``, none)
    are the other sites whose pages may call the API from a browser. See ``origin.py``,
    ``cors.py`` and ``auth.py``."""
    ctrl = target if isinstance(target, (HeadController, StandaloneController)) else HeadController(target)
    app = FastAPI(
        title="pycluster",
        version=__version__,
        description="REST API of a pycluster cluster: status, workers, jobs, queue, metrics.",
        # our own /docs and /redoc (api_docs.py): the same pages without a CDN
        docs_url=None,
        redoc_url=None,
        **_telemetry_options(),
    )
    app.state.controller = ctrl
    settings = getattr(target, "settings", None)
    app.state.api_token = api_token or (settings.cluster.api_token if settings else None)
    app.state.peer_credentials = PeerCredentials()
    app.state.stream_tickets = {}
    if bind_host is None and settings is not None:
        bind_host = settings.cluster.host
    if cors_origins is None:
        cors_origins = settings.cluster.cors_origins if settings is not None else ()
    cors = parse_origins(cors_origins)
    protected = [Depends(require_token)]
    app.include_router(health.router, prefix="/api", dependencies=protected, responses=REFUSED)
    app.include_router(cluster.router, prefix="/api/cluster", dependencies=protected, responses=REFUSED)
    app.include_router(processing.router, prefix="/api/processing", dependencies=protected, responses=REFUSED)
    app.include_router(data.router, prefix="/api/processing/data", dependencies=protected, responses=REFUSED)
    app.include_router(gpu.router, prefix="/api/llm/gpu", dependencies=protected, responses=REFUSED)
    app.include_router(llm.router, prefix="/api/llm/models", dependencies=protected, responses=REFUSED)
    app.include_router(adapters_router, prefix="/api/llm/models", dependencies=protected, responses=REFUSED)
    app.include_router(openai_compat.router, prefix="/v1", dependencies=protected, responses=REFUSED)
    app.include_router(prometheus.router, dependencies=protected, responses=REFUSED)
    app.include_router(dashboard.router, prefix="/api/dashboard")  # token checked in the router
    app.include_router(dashboard.stream_router, prefix="/api/dashboard")  # or a one-time ?ticket=
    app.include_router(operations.router, prefix="/api/dashboard")  # token checked in the router
    app.include_router(auth_router, prefix="/api/auth")
    app.include_router(login_router)
    _add_error_handlers(app)
    mount_dashboard(app)
    mount_api_docs(app)
    # before any body is read: credentials first, then the size cap however the body is framed
    app.add_middleware(BodyGuard)
    if cors:
        # outside the body guard, so its 401 and 413 answers carry the CORS headers too (a page
        # can then read why it was refused); cookies are never allowed cross-origin (cors.py)
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            allow_credentials=False,
            max_age=600,
        )
    # outermost: Host and Origin are checked before anything else, authentication included
    app.add_middleware(
        HostOriginGuard,
        bind_host=bind_host,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
        cors_origins=cors,
    )
    return app


def _telemetry_options() -> dict[str, Any]:
    """FastAPI's own OpenTelemetry, decided once: off unless OpenTelemetry is set up when the app
    is made. FastAPI otherwise asks OpenTelemetry on every request whether it has been set up
    meanwhile (reading the environment each time: a tenth of the head's CPU under load)."""
    if os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return {}
    try:
        from fastapi.telemetry._api import _unconfigured
        from opentelemetry import _logs, metrics, trace
    except ImportError:  # a FastAPI without native telemetry: nothing to turn off
        return {}
    providers = (trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider())
    if not all(_unconfigured(p) for p in providers):
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def _add_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        status = next(code for kind, code in _STATUS_FOR if isinstance(exc, kind))
        message = json_safe(str(exc))
        body: dict[str, Any] = {"detail": message}
        if _is_openai(request):
            body["error"] = _openai_error(message, type(exc).__name__)
        return JSONResponse(body, status_code=status)

    async def handle_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # the errors echo the input, which may hold what JSON cannot carry (Infinity, "\\ud800")
        errors = json_safe(jsonable_encoder(exc.errors()))
        if not _is_openai(request):
            return JSONResponse({"detail": errors}, status_code=422)
        first = errors[0] if errors else {}
        where = ".".join(str(part) for part in first.get("loc", ())[1:])
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        body = {"detail": errors, "error": _openai_error(message, "invalid_request_error", where or None)}
        return JSONResponse(body, status_code=422)

    async def handle_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405:
            allow = allowed_methods(request.app, request.url.path)
            if allow:
                headers = {**(exc.headers or {}), "Allow": ", ".join(allow)}
                exc = StarletteHTTPException(405, exc.detail, headers=headers)
        return await http_exception_handler(request, exc)

    app.add_exception_handler(PyClusterError, handle)
    app.add_exception_handler(RequestValidationError, handle_invalid)
    app.add_exception_handler(StarletteHTTPException, handle_http)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The documented methods of the resource at ``path``, for a 405's ``Allow`` header.

    Starlette names only the first route whose path matched, but one path may have several
    routes (GET and DELETE of ``/data/{dataset_id}``), and a fixed path (``/data/partition``)
    also matches a templated one: the resource is the fixed path when one matches. Read from
    the OpenAPI document, which is what clients go by. Empty: a path the document lacks."""
    table: list[tuple[re.Pattern[str], bool, list[str]]] | None = getattr(app.state, "allow_table", None)
    if table is None:
        table = []
        for template, item in app.openapi().get("paths", {}).items():
            regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            methods = sorted(m.upper() for m in item if m in _HTTP_METHODS)
            table.append((re.compile(regex), "{" not in template, methods))
        table.sort(key=lambda row: not row[1])  # fixed paths first
        app.state.allow_table = table
    return next((methods for pattern, _fixed, methods in table if pattern.fullmatch(path)), [])


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def json_safe(value: Any) -> Any:
    """``value`` with what strict JSON in UTF-8 cannot hold spelled out: non-finite numbers as
    text ("inf"), lone surrogates escaped ("\\ud800")."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _is_openai(request: Request) -> bool:
    return request.url.path.startswith("/v1/")


def _openai_error(message: str, kind: str, param: str | None = None) -> dict[str, Any]:
    """The error object OpenAI clients read (they show ``error.message``)."""
    return {"message": message, "type": kind, "param": param, "code": None}
