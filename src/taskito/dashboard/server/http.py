"""Requests in, responses out: the request body read under the 1 MiB cap, JSON answers and
``{"error"}`` bodies, and the one place a route's exceptions become status codes."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

import taskito
from taskito.dashboard.api.errors import ApiError, as_api_error, bad_request
from taskito.dashboard.api.values import Answer, PlainText
from taskito.dashboard.server.config import MAX_BODY_BYTES

logger = logging.getLogger("taskito.dashboard")

#: API answers may hold job data: never stored by a browser or a proxy.
NO_STORE = {"cache-control": "no-store"}


def too_large() -> ApiError:
    return ApiError(413, f"request body larger than {MAX_BODY_BYTES} bytes")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, or 413 as soon as it is known to pass ``limit`` (from its
    Content-Length, or while it streams in)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise bad_request("Content-Length must be a number of bytes")
        if int(declared) > limit:
            raise too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request) -> Any:
    """The JSON body (None when empty); 400 when it is not JSON, 413 when too large."""
    body = await read_body(request)
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("the request body is not valid JSON") from None


def json_response(data: Any, status: int = 200) -> Response:
    content = json.dumps(data, default=str, ensure_ascii=False, separators=(",", ":"))
    return Response(content, status, headers=NO_STORE, media_type="application/json")


def error_response(error: ApiError) -> Response:
    return json_response(error.body(), error.status)


def answer(result: Any) -> Response:
    """A route function's result as a response: JSON with 200, or what ``PlainText`` and
    ``Answer`` say."""
    if isinstance(result, PlainText):
        return Response(
            result.content, result.status, headers=NO_STORE, media_type=result.media_type
        )
    if isinstance(result, Answer):
        return json_response(result.data, result.status)
    return json_response(result)


def failure_response(exc: BaseException, what: str) -> Response:
    """The answer to an exception a route raised (``api.errors.as_api_error``): its own
    status for an ``ApiError``, 400 for a refused option, 503 when storage is unreachable
    (logged as a warning), 500 for anything else (logged, never shown)."""
    error = as_api_error(exc)
    if error is None:
        logger.error("%s failed", what, exc_info=exc)
        return error_response(ApiError(500, "Internal server error"))
    if isinstance(exc, taskito.StorageUnavailableError):
        logger.warning("%s: storage unavailable: %s", what, exc)
    return error_response(error)


__all__ = [
    "NO_STORE",
    "answer",
    "error_response",
    "failure_response",
    "json_response",
    "read_body",
    "read_json",
]
