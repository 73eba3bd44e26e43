"""``ApiError``: the one error a route function raises, carrying the HTTP status and the
text of the ``{"error": ...}`` body. No web framework type appears in the JSON layer."""

from __future__ import annotations

from typing import Any


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


__all__ = ["ApiError", "bad_request", "not_found"]
