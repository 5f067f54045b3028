"""The server (`news-assistant serve`): one FastAPI app over one Assistant, serving programs
(OpenAI-compatible chat under /v1, the REST API under /api, /health) and people (the web UI at
/). Routes are thin: they parse, call the API and return its results as JSON.

Requests are answered in parallel threads (FastAPI runs plain `def` routes in its thread pool);
uploads are ingested in the background (ingest_jobs.py). Errors are JSON in OpenAI's shape,
`{"error": {"message", "type"}}`, and never carry a stack trace (those go to the log).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.api import Assistant
from assistant.frontends.ingest_jobs import IngestJobs
from assistant.frontends.openai_format import model_name
from assistant.frontends.routes import chat_routes, health_routes, rest_routes
from core.errors import (
    LoadError,
    ModelError,
    NewsAssistantError,
    QuestionError,
    SettingsError,
    StoreConnectionError,
    StoreError,
)
from core.settings import ServerSettings, Settings

logger = logging.getLogger(__name__)

UI_USER = "news-assistant"  # the web UI's login name when the API key is its password
KEY_HINT = (
    "send the header `Authorization: Bearer KEY` (the server's NEWS_ASSISTANT_SERVER__API_KEY)"
)
UPLOAD_PATH = "/api/articles"
STATUS = {  # the most specific class of an error decides its HTTP status
    QuestionError: 400,
    LoadError: 400,
    SettingsError: 400,
    StoreConnectionError: 503,
    StoreError: 409,
    ModelError: 500,
    NewsAssistantError: 400,
}


def build_app(assistant: Assistant, settings: Settings, *, ui: bool = True) -> FastAPI:
    """The server's app over `assistant`: /health, /v1 (OpenAI-compatible), /api (REST) and,
    with `ui`, the Gradio web UI at /. Refuses (SettingsError) to be exposed beyond this
    machine without an API key."""
    server = settings.server
    key = api_key(server)
    jobs = IngestJobs(assistant, max_bytes=min(server.max_upload_bytes, settings.ingest.max_bytes))
    app = FastAPI(title="news-assistant", lifespan=_lifespan(assistant, jobs, warm=not ui))
    _handle_errors(app)
    app.add_middleware(BodyLimit, path=UPLOAD_PATH, max_bytes=upload_limit(server))
    keyed = [Depends(key_check(key))]
    name = model_name(settings)
    app.include_router(health_routes(name))
    app.include_router(chat_routes(assistant, name), dependencies=keyed)
    app.include_router(rest_routes(assistant, jobs, server), dependencies=keyed)
    if ui:
        _mount_ui(app, assistant, settings, key)
    return app


def serve(assistant: Assistant, settings: Settings, *, ui: bool = True) -> None:
    """Run the server on the settings' host and port until interrupted."""
    import uvicorn

    app = build_app(assistant, settings, ui=ui)
    server = settings.server
    uvicorn.run(app, host=server.host, port=server.port, log_level="info", access_log=False)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine reaches (127.0.0.0/8, ::1, "localhost")."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def api_key(server: ServerSettings) -> str | None:
    """The API key clients must send, or None; SettingsError when the host is reachable from
    other machines and no key is set, or when the key is blank."""
    key = server.api_key.get_secret_value() if server.api_key is not None else None
    if key is not None and not key.strip():
        raise SettingsError("NEWS_ASSISTANT_SERVER__API_KEY is blank: set a real key or unset it")
    if key is None and not is_loopback(server.host):
        raise SettingsError(
            f"refusing to listen on {server.host} without an API key: other machines could "
            "reach it. Set NEWS_ASSISTANT_SERVER__API_KEY (clients send `Authorization: Bearer "
            "KEY`) or listen on 127.0.0.1"
        )
    return key


def key_check(key: str | None) -> Callable[..., None]:
    """A dependency refusing requests without `Authorization: Bearer <key>` (none when no key
    is set)."""
    bearer = HTTPBearer(auto_error=False)

    def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        if key is None:
            return
        if credentials is None:
            raise HTTPException(401, f"missing API key: {KEY_HINT}", _CHALLENGE)
        if not hmac.compare_digest(credentials.credentials.encode(), key.encode()):
            raise HTTPException(401, f"wrong API key: {KEY_HINT}", _CHALLENGE)

    return check


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def upload_limit(server: ServerSettings) -> int:
    """The largest upload request accepted: every file at its limit, plus room for the form."""
    return server.max_upload_files * server.max_upload_bytes + 1024 * 1024


def _lifespan(assistant: Assistant, jobs: IngestJobs, *, warm: bool) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm:  # the UI warms the assistant up itself when mounted
            threading.Thread(target=_warm_up, args=(assistant,), daemon=True).start()
        yield
        jobs.close()

    return lifespan


def _warm_up(assistant: Assistant) -> None:
    try:
        assistant.warm_up()
    except Exception:  # the first question will report it to its client
        logger.exception("warming up the assistant failed")


def error_json(status: int, message: str, kind: str, headers: Any = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


def _handle_errors(app: FastAPI) -> None:
    app.add_exception_handler(NewsAssistantError, _our_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _our_error(request: Request, exc: NewsAssistantError) -> JSONResponse:
    status = next(code for kind, code in STATUS.items() if isinstance(exc, kind))
    return error_json(status, str(exc), type(exc).__name__)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    kind = "authentication_error" if exc.status_code == 401 else "invalid_request_error"
    return error_json(exc.status_code, str(exc.detail), kind, exc.headers)


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each field that is wrong: `body.messages: Field required`."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    ]
    return error_json(422, "; ".join(problems), "invalid_request_error")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    message = f"internal error ({type(exc).__name__}); the details are in the server log"
    return error_json(500, message, "server_error")


class BodyLimit:
    """Refuses request bodies over `max_bytes` on `path` (413): at once when Content-Length
    says so, else as soon as the bytes received pass it."""

    def __init__(self, app: ASGIApp, *, path: str, max_bytes: int) -> None:
        self.app, self.path, self.max_bytes = app, path, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Callable[[], Awaitable[Message]]:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self.message())
            return message

        return counted

    def message(self) -> str:
        mb = self.max_bytes / (1024 * 1024)
        return f"upload too large: requests over {mb:.0f} MB are refused (see the upload limits)"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_json(413, self.message(), "invalid_request_error")
        await response(scope, receive, send)


def _mount_ui(app: FastAPI, assistant: Assistant, settings: Settings, key: str | None) -> None:
    """The web UI at /, behind its login (NEWS_ASSISTANT_UI__AUTH_*) when one is set, else,
    when the server has an API key, behind the login `news-assistant` with the key."""
    import gradio as gr

    from assistant.frontends.login import LoginThrottle, login_check
    from assistant.frontends.ui import CSS
    from assistant.frontends.ui import build_app as build_ui

    auth = login_check(settings.ui)
    if auth is None and key is not None:
        auth = LoginThrottle(UI_USER, key).check
    size = int(settings.ui.max_upload_mb * 1024 * 1024)
    gr.mount_gradio_app(app, build_ui(assistant), path="/", auth=auth, max_file_size=size, css=CSS)
