"""The server's routes, thin over the Python API: /health; OpenAI-compatible /v1/models and
/v1/chat/completions; the REST API /api/ask, /api/articles (list, upload, delete) and
/api/jobs/{id}. Plain `def` routes run in FastAPI's thread pool, so questions are answered in
parallel over the one Assistant."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from assistant.api import Assistant
from assistant.frontends.bodies import AskBody, ChatBody
from assistant.frontends.ingest_jobs import IngestJobs
from assistant.frontends.openai_format import (
    Reply,
    answer_markdown,
    completion,
    extras,
    models_list,
    server_sent_events,
    stream_chunks,
    text_pieces,
    token_usage,
)
from core.settings import ServerSettings
from ingest.load import SUPPORTED_SUFFIXES

STARTED = int(time.time())
UPLOAD_FIELD = "files"


def health_routes(model: str) -> APIRouter:
    router = APIRouter()

    @router.get("/health")
    def health() -> dict[str, str]:
        """Whether the server answers (no key needed)."""
        return {"status": "ok", "model": model}

    return router


def chat_routes(assistant: Assistant, model: str) -> APIRouter:
    """OpenAI's chat completions: the last user message is the question, earlier ones let a
    follow-up ("and how many were injured?") be read in context."""
    router = APIRouter(prefix="/v1")

    @router.get("/models")
    def models() -> dict[str, Any]:
        return models_list(model, STARTED)

    @router.post("/chat/completions", response_model=None)
    def chat(body: ChatBody) -> dict[str, Any] | StreamingResponse:
        if body.model != model:
            raise HTTPException(404, f"model {body.model!r} is not served here: use {model!r}")
        filters = body.filters.filters() if body.filters else None
        answer = assistant.chat(body.conversation(), k=body.k, filters=filters)
        reply, prompt = Reply(model), [m.text() for m in body.messages]
        if not body.stream:
            return completion(reply, answer, prompt)
        content = answer_markdown(answer)
        ending = extras(answer)
        if body.stream_options and body.stream_options.include_usage:
            ending |= {"usage": token_usage(prompt, content)}
        events = stream_chunks(reply, text_pieces(content), ending)
        return StreamingResponse(server_sent_events(events), media_type="text/event-stream")

    return router


def rest_routes(assistant: Assistant, jobs: IngestJobs, limits: ServerSettings) -> APIRouter:
    router = APIRouter(prefix="/api")

    @router.post("/ask")
    def ask(body: AskBody) -> dict[str, Any]:
        """The Answer as JSON, the same shape as `news-assistant ask --json`."""
        filters = body.filters.filters() if body.filters else None
        answer = assistant.ask(body.question, k=body.k, filters=filters, history=body.history)
        return answer.to_dict()

    @router.get("/articles")
    def articles() -> list[dict[str, Any]]:
        """Every stored article (as `news-assistant list --json`)."""
        return [asdict(a) for a in assistant.articles()]

    @router.delete("/articles/{article_id:path}")
    def delete(article_id: str) -> dict[str, str]:
        if not assistant.delete(article_id):
            raise HTTPException(404, f"no article {article_id!r} is stored: see GET /api/articles")
        return {"deleted": article_id}

    @router.post("/articles", status_code=202, response_model=None)
    async def upload(request: Request, source: str = "", wait: bool = False) -> JSONResponse:
        """Multipart files (field `files`) to ingest in the background: 202 with the job
        (`GET /api/jobs/{id}` shows its progress and summary); `wait=true` answers once the
        job has ended, with its summary. `source` fills articles that name none."""
        form = await request.form(max_files=limits.max_upload_files, max_fields=10)
        try:
            folder = await run_in_threadpool(save_uploads, form.getlist(UPLOAD_FIELD), limits)
        finally:
            await form.close()
        job = jobs.submit(folder, {"source": source.strip()} if source.strip() else {})
        if wait:
            job = await run_in_threadpool(jobs.wait, job)
        headers = {"Location": f"/api/jobs/{job.id}"}
        return JSONResponse(job.to_dict(), status_code=200 if wait else 202, headers=headers)

    @router.get("/jobs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        found = jobs.get(job_id)
        if found is None:
            raise HTTPException(
                404, f"no job {job_id!r} (jobs are forgotten when the server stops)"
            )
        return found.to_dict()

    return router


def save_uploads(parts: list[UploadFile | str], limits: ServerSettings) -> Path:
    """Check every uploaded file (name, type, size) and save them in a new folder. A refusal
    names each bad file and why (413 when only sizes are wrong, else 400) and saves nothing."""
    if not parts:
        raise HTTPException(400, f"no files: send them as multipart form field {UPLOAD_FIELD!r}")
    files = [part for part in parts if isinstance(part, UploadFile)]
    if len(files) < len(parts):
        raise HTTPException(400, f"every {UPLOAD_FIELD!r} field must be a file, not text")
    names = [upload_name(f) for f in files]
    wrong = [p for f, name in zip(files, names, strict=True) if (p := kind_problem(name))]
    wrong += [f"{name}: sent twice" for name in sorted(set(names)) if names.count(name) > 1]
    large = [
        p for f, name in zip(files, names, strict=True) if (p := size_problem(f, name, limits))
    ]
    if wrong or large:
        raise HTTPException(400 if wrong else 413, "refused: " + "; ".join(wrong + large))
    folder = Path(tempfile.mkdtemp(prefix="news-assistant-upload-"))
    for upload, name in zip(files, names, strict=True):
        with (folder / name).open("wb") as out:
            shutil.copyfileobj(upload.file, out)
    return folder


def upload_name(upload: UploadFile) -> str:
    """The file name the client gave, without any folder (a Windows path's too) or control
    characters."""
    name = re.split(r"[\\/]", upload.filename or "")[-1]
    return "".join(ch for ch in name if ch.isprintable()).strip()


def kind_problem(name: str) -> str | None:
    """Why a file of this name cannot be ingested, or None."""
    if not name or name.startswith("."):
        return f"{name!r}: give the file a name such as news.jsonl"
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kind = f"'{suffix}'" if suffix else "(no extension)"
        return f"{name}: unsupported file type {kind}; send {', '.join(SUPPORTED_SUFFIXES)}"
    return None


def size_problem(upload: UploadFile, name: str, limits: ServerSettings) -> str | None:
    if upload.size is None or upload.size <= limits.max_upload_bytes:
        return None
    size = upload.size / (1024 * 1024)
    return f"{name}: {size:.1f} MB is over the limit of {limits.max_upload_mb:g} MB per file"
