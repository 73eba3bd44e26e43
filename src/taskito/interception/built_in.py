"""``build_default_registry``: the built-in type table (docs/interception.md lists it).

Classes of optional libraries are named as ``"module:qualname"`` and match only once that
library is imported, so building the table imports none of them.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import decimal
import enum
import io
import logging
import pathlib
import re
import socket
import subprocess
import threading
import types
import uuid
from collections import OrderedDict

from taskito.interception.registry import TypeRef, TypeRegistry
from taskito.interception.strategy import Strategy

_REJECTS: tuple[tuple[tuple[TypeRef, ...], str, tuple[str, ...]], ...] = (
    (
        (
            type(threading.Lock()),
            type(threading.RLock()),
            threading.Semaphore,
            threading.BoundedSemaphore,
            threading.Event,
            threading.Condition,
        ),
        "Thread locks and events belong to this process; a worker cannot share them.",
        (
            "Create the lock inside the task",
            "Use queue.lock(name) for a lock every worker sees",
        ),
    ),
    (
        (socket.socket,),
        "An open socket belongs to this process.",
        ("Pass the address and connect inside the task", "Use a worker resource"),
    ),
    (
        (types.GeneratorType, types.AsyncGeneratorType),
        "A generator's running state cannot be sent to another process.",
        ("Pass list(generator) instead", "Pass the arguments that make the generator"),
    ),
    (
        (types.CoroutineType,),
        "A coroutine object cannot be sent to another process.",
        ("Await it and pass its result", "Pass the arguments and await inside an async task"),
    ),
    (
        (subprocess.Popen,),
        "A running subprocess belongs to this process.",
        ("Pass the command and start it inside the task",),
    ),
    (
        (asyncio.Task, asyncio.Future),
        "An asyncio task or future belongs to its event loop.",
        ("Await it and pass its result",),
    ),
    (
        (contextvars.Context,),
        "A contextvars.Context cannot cross processes.",
        ("Pass the values the task needs as arguments",),
    ),
    (
        (
            "multiprocessing.synchronize:Lock",
            "multiprocessing.synchronize:RLock",
            "multiprocessing.synchronize:Semaphore",
            "multiprocessing.queues:Queue",
        ),
        "A multiprocessing lock or queue belongs to the processes that created it.",
        ("Use queue.lock(name), or pass the data instead",),
    ),
)

_REDIRECTS: dict[str, tuple[str, ...]] = {
    "db": (
        "sqlalchemy.orm.session:Session",
        "sqlalchemy.ext.asyncio.session:AsyncSession",
        "sqlalchemy.engine.base:Engine",
        "sqlalchemy.ext.asyncio.engine:AsyncEngine",
        "psycopg2.extensions:connection",
        "psycopg:Connection",
        "psycopg:AsyncConnection",
        "asyncpg.connection:Connection",
        "asyncpg.pool:Pool",
        "django.db.backends.base.base:BaseDatabaseWrapper",
    ),
    "redis": ("redis.client:Redis", "redis.asyncio.client:Redis"),
    "mongo": ("pymongo.mongo_client:MongoClient", "motor.motor_asyncio:AsyncIOMotorClient"),
    "aiohttp_session": ("aiohttp.client:ClientSession",),
}

_PROXIES: dict[str, tuple[TypeRef, ...]] = {
    "file": (io.TextIOWrapper, io.BufferedReader, io.BufferedWriter, io.BufferedRandom, io.FileIO),
    "logger": (logging.Logger,),
    "requests_session": ("requests.sessions:Session",),
    "httpx_client": ("httpx:Client", "httpx:AsyncClient"),
    "boto3_client": ("botocore.client:BaseClient",),
    "gcs_client": (
        "google.cloud.storage.client:Client",
        "google.cloud.storage.bucket:Bucket",
        "google.cloud.storage.blob:Blob",
    ),
}

_CONVERTS: tuple[tuple[tuple[TypeRef, ...], str, int], ...] = (
    ((dt.datetime,), "datetime", 11),
    ((dt.date,), "date", 10),
    ((dt.time,), "time", 10),
    ((dt.timedelta,), "timedelta", 10),
    ((uuid.UUID,), "uuid", 10),
    ((decimal.Decimal,), "decimal", 10),
    ((pathlib.PurePath,), "path", 10),
    ((re.Pattern,), "pattern", 10),
    ((OrderedDict,), "ordered_dict", 10),
    (("pydantic.main:BaseModel",), "pydantic", 10),
    ((enum.Enum,), "enum", 5),
)


def build_default_registry() -> TypeRegistry:
    """A registry holding the built-in table, by priority: REJECT 30; REDIRECT and PROXY 20;
    CONVERT 11/10 (5 for enums); PASS 0 for int, float, str, bool and bytes. ``register_type``
    entries go in at 15."""
    registry = TypeRegistry()
    for refs, reason, suggestions in _REJECTS:
        registry.register(
            refs,
            Strategy.REJECT,
            priority=30,
            reject_reason=reason,
            reject_suggestions=suggestions,
        )
    for resource, refs in _REDIRECTS.items():
        registry.register(refs, Strategy.REDIRECT, priority=20, redirect_resource=resource)
    for handler, proxy_refs in _PROXIES.items():
        registry.register(proxy_refs, Strategy.PROXY, priority=20, proxy_handler=handler)
    for convert_refs, type_key, priority in _CONVERTS:
        registry.register(convert_refs, Strategy.CONVERT, priority=priority, type_key=type_key)
    registry.register((int, float, str, bool, bytes), Strategy.PASS, priority=0)
    return registry


__all__ = ["build_default_registry"]
