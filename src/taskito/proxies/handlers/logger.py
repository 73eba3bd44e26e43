"""``LoggerHandler``: a ``logging.Logger`` crosses as its name and level; the worker uses its
own logger of that name (``logging.getLogger``), setting the level only when that logger has
none of its own, so a producer never overrides the worker's logging configuration."""

from __future__ import annotations

import logging
from typing import Any

from taskito.proxies.handler import FieldSpec


class LoggerHandler:
    name = "logger"
    version = 1
    handled_types: tuple[type, ...] = (logging.Logger,)
    schema = {"name": FieldSpec(str), "level": FieldSpec(int, required=False)}

    def detect(self, obj: Any) -> bool:
        return isinstance(obj, logging.Logger)

    def deconstruct(self, obj: Any) -> dict[str, Any]:
        # The root logger is named "root" but fetched with no name.
        name = "" if isinstance(obj, logging.RootLogger) else obj.name
        return {"name": name, "level": obj.level}

    def reconstruct(self, recipe: dict[str, Any], version: int) -> Any:
        logger = logging.getLogger(recipe["name"] or None)
        level = recipe.get("level") or 0
        if level and logger.level == logging.NOTSET:
            logger.setLevel(level)
        return logger

    def cleanup(self, obj: Any) -> None:
        """Nothing: the logger belongs to the worker's logging tree."""


__all__ = ["LoggerHandler"]
