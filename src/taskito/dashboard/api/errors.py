"""``ApiError``: the one error a route function raises, carrying the HTTP status and the
text of the ``{"error": ...}`` body, and ``as_api_error``: which status any other exception a
route raises stands for. No web framework type appears in the JSON layer."""

from __future__ import annotations

from typing import Any

import taskito


class ApiError(Exception):
    """A request the API refuses: ``status`` (400, 401, 403, 404, 413, 503...) and a message
    for the body ``{"error": message}``; ``extra`` adds keys to that body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.message!r})"


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def as_api_error(exc: BaseException) -> ApiError | None:
    """The answer an exception from a route function stands for: itself for an ``ApiError``,
    400 for an option the Queue refused (``ConfigurationError``), 503 when storage cannot be
    reached; None for anything else (a server error, which the server logs and hides)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, taskito.ConfigurationError):
        return ApiError(400, str(exc))
    if isinstance(exc, taskito.StorageUnavailableError):
        return ApiError(503, "Storage unavailable")
    return None


__all__ = ["ApiError", "as_api_error", "bad_request", "not_found"]
