"""Payload serializers: the ``Serializer`` protocol and the built-in implementations.

Every serializer here is stateless after construction, so one instance may be shared by any
number of threads. Optional backends (msgpack, cryptography) are imported when the serializer
is constructed, never at module import (docs/architecture.md, invariant 9).
"""

from __future__ import annotations

import hmac
import json
import os
import pickle
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import cloudpickle

_NONCE_BYTES = 12
_GCM_TAG_BYTES = 16
_AES_KEY_SIZES = (16, 24, 32)


@runtime_checkable
class Serializer(Protocol):
    """Turns a Python object into bytes and back.

    A serializer that sets ``binds_context = True`` also accepts a keyword ``context`` (bytes)
    in both methods: the framed job id, task name and purpose of the bytes (see
    ``taskito.signing.bound_context``), which it may bind to its output (``EncryptedSerializer``
    uses it as AES-GCM associated data). Other serializers never see it.
    """

    def dumps(self, obj: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


def binds_context(serializer: Serializer) -> bool:
    """True for a serializer whose methods take ``context=`` (see ``Serializer``)."""
    return getattr(serializer, "binds_context", False) is True


def dumps_bound(serializer: Serializer, obj: Any, context: bytes) -> bytes:
    """``serializer.dumps(obj)``, with ``context`` when the serializer binds one."""
    if binds_context(serializer):
        data: bytes = serializer.dumps(obj, context=context)  # type: ignore[call-arg]
        return data
    return serializer.dumps(obj)


def loads_bound(serializer: Serializer, data: bytes, context: bytes) -> Any:
    """``serializer.loads(data)``, with ``context`` when the serializer binds one."""
    if binds_context(serializer):
        return serializer.loads(data, context=context)  # type: ignore[call-arg]
    return serializer.loads(data)


def require_bytes(data: object, caller: str) -> bytes:
    """``data`` as bytes (a bytearray or memoryview copied); a ``TypeError`` naming ``caller``
    (``"JsonSerializer.loads()"``) otherwise."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"{caller} expects bytes, not {type(data).__name__}")


_PLAIN_SCALARS = (str, int, float, bool, bytes, type(None))
_PLAIN_MAX_ITEMS = 64


def _is_plain(obj: object, depth: int = 0) -> bool:
    """True for small trees of builtin scalars, tuples, lists and str-keyed dicts: data the
    stdlib pickler writes exactly as cloudpickle would, several times faster."""
    kind = type(obj)
    if kind in _PLAIN_SCALARS:
        return True
    if depth > 4:
        return False
    if kind is tuple or kind is list:
        items: Any = obj
        if len(items) > _PLAIN_MAX_ITEMS:
            return False
        for item in items:
            if type(item) not in _PLAIN_SCALARS and not _is_plain(item, depth + 1):
                return False
        return True
    if kind is dict:
        mapping: dict[Any, Any] = obj  # type: ignore[assignment]
        if len(mapping) > _PLAIN_MAX_ITEMS:
            return False
        for key, value in mapping.items():
            if type(key) is not str:
                return False
            if type(value) not in _PLAIN_SCALARS and not _is_plain(value, depth + 1):
                return False
        return True
    return False


def plain_call_encoder(
    serializer: Serializer, kwargs: dict[str, Any]
) -> Callable[[tuple[Any, ...]], bytes | None] | None:
    """For a batch of calls that share ``kwargs`` (``map()``): a function that encodes
    ``(args, kwargs)`` to exactly the bytes ``serializer.dumps`` gives, when the serializer is
    the default one and the arguments are plain data (checked once for ``kwargs``, per call for
    ``args``), and returns None for arguments it leaves to ``dumps``. None when the serializer
    or ``kwargs`` allow no shortcut."""
    if type(serializer) is not CloudpickleSerializer or not _is_plain(kwargs, 1):
        return None
    scalars, dumps, protocol = _PLAIN_SCALARS, pickle.dumps, pickle.HIGHEST_PROTOCOL

    def encode(args: tuple[Any, ...]) -> bytes | None:
        # A tuple subclass (a namedtuple) is not plain: cloudpickle may need to pickle its class.
        if type(args) is not tuple or len(args) > _PLAIN_MAX_ITEMS:
            return None
        for item in args:
            if type(item) not in scalars and not _is_plain(item, 2):
                return None
        return dumps((args, kwargs), protocol=protocol)

    return encode


class CloudpickleSerializer:
    """The default: any picklable object, including lambdas and locally defined functions.

    Invalid bytes raise the pickle errors (``pickle.UnpicklingError``, ``EOFError`` ...).
    """

    def dumps(self, obj: Any) -> bytes:
        # cloudpickle's pure-Python pickler costs ~6 us even for (args, kwargs) of plain
        # data; the C pickler gives the same stream for such data in ~1 us.
        if _is_plain(obj):
            return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        data: bytes = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        return data

    def loads(self, data: bytes) -> Any:
        # cloudpickle output is plain pickle; the stdlib loader reads it.
        return pickle.loads(data)


def _reject_for_json(obj: object) -> Any:
    raise TypeError(f"JsonSerializer cannot serialize an object of type {type(obj).__qualname__}")


class JsonSerializer:
    """UTF-8 JSON. Tuples come back as lists and dict keys as strings, as JSON dictates."""

    def dumps(self, obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False, default=_reject_for_json).encode("utf-8")

    def loads(self, data: bytes) -> Any:
        raw = require_bytes(data, "JsonSerializer.loads()")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"JSON deserialization failed: {exc}") from exc


class MsgPackSerializer:
    """MessagePack through the ``msgpack`` package (the ``pytaskito[msgpack]`` extra).

    Tuples come back as lists; ``bytes`` and ``str`` stay distinct.
    """

    def __init__(self) -> None:
        try:
            import msgpack
        except ImportError as exc:
            raise ImportError(
                'MsgPackSerializer needs the msgpack package: pip install "pytaskito[msgpack]"'
            ) from exc
        self._msgpack = msgpack

    def dumps(self, obj: Any) -> bytes:
        data: bytes = self._msgpack.packb(obj, use_bin_type=True)
        return data

    def loads(self, data: bytes) -> Any:
        raw = require_bytes(data, "MsgPackSerializer.loads()")
        try:
            return self._msgpack.unpackb(raw, raw=False, strict_map_key=False)
        except Exception as exc:  # msgpack raises several unrelated types for bad input
            raise ValueError(f"MsgPack deserialization failed: {exc}") from exc


class EncryptedSerializer:
    """Wraps another serializer with AES-GCM (the ``pytaskito[encryption]`` extra).

    Output is a random 12-byte nonce followed by the ciphertext and its tag, so equal inputs
    never produce equal bytes. ``key`` is one AES key or a list of them for rotation: the
    first encrypts, every one is tried to decrypt. A ``context`` (the job id, task name and
    purpose the queue passes) is bound as associated data, so bytes moved to another job or
    task do not decrypt. Tampered, truncated, wrongly keyed or moved data raises
    ``ValueError("Decryption failed")``.
    """

    #: ``dumps``/``loads`` take ``context=`` (see ``Serializer``).
    binds_context = True

    def __init__(self, inner: Serializer, key: bytes | list[bytes] | tuple[bytes, ...]) -> None:
        if not isinstance(inner, Serializer):
            raise TypeError(
                f"inner must be a Serializer (with dumps and loads), not {type(inner).__name__}"
            )
        keys = check_aes_keys(key)
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:
            raise ImportError(
                "EncryptedSerializer needs the cryptography package: "
                'pip install "pytaskito[encryption]"'
            ) from exc
        self._inner = inner
        #: The serializer this one encrypts (idempotency keys hash its output).
        self.inner = inner
        # AESGCM keeps no per-call state, so one instance per key serves every thread.
        self._aeads = tuple(AESGCM(k) for k in keys)

    def __repr__(self) -> str:
        return f"EncryptedSerializer(inner={self._inner!r})"

    def dumps(self, obj: Any, *, context: bytes = b"") -> bytes:
        plaintext = dumps_bound(self._inner, obj, context)
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext: bytes = self._aeads[0].encrypt(nonce, plaintext, _associated(context))
        return nonce + ciphertext

    def loads(self, data: bytes, *, context: bytes = b"") -> Any:
        raw = require_bytes(data, "EncryptedSerializer.loads()")
        if len(raw) < _NONCE_BYTES + _GCM_TAG_BYTES:
            raise ValueError("Decryption failed")
        nonce, sealed, associated = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated(context)
        for aead in self._aeads:
            try:
                plaintext: bytes = aead.decrypt(nonce, sealed, associated)
            except Exception:
                continue
            return loads_bound(self._inner, plaintext, context)
        # Never echo why: the cause (bad tag, wrong key, other job) is the same to a caller.
        raise ValueError("Decryption failed") from None

    def rebind(self, data: bytes, old_context: bytes, new_context: bytes) -> bytes:
        """``data`` (bound to ``old_context``) re-encrypted for ``new_context`` with the first
        key, without deserialising it: how a replayed or retried job gets its new id."""
        raw = require_bytes(data, "EncryptedSerializer.rebind()")
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        for aead in self._aeads:
            try:
                plaintext: bytes = aead.decrypt(nonce, sealed, _associated(old_context))
            except Exception:
                continue
            if binds_context(self._inner):
                plaintext = rebind_bound(self._inner, plaintext, old_context, new_context)
            fresh = os.urandom(_NONCE_BYTES)
            ciphertext: bytes = self._aeads[0].encrypt(fresh, plaintext, _associated(new_context))
            return fresh + ciphertext
        raise ValueError("Decryption failed") from None


_SIGNED_TAG_BYTES = 32
_SIGNED_MIN_KEY_BYTES = 32


class SignedSerializer:
    """Wraps another serializer with an HMAC-SHA256 tag, in the reference's wire format: the
    32-byte tag over the inner serializer's bytes, then those bytes.

    ``loads`` checks the length and the tag (in constant time) before the inner serializer
    sees a byte, so a tampered payload is refused (``ValueError``) and never unpickled, and
    its job fails without running. It authenticates only: wrap an ``EncryptedSerializer``
    (or be wrapped by one) to hide the bytes too. ``key`` is bytes, at least 32 of them.
    ``Queue(signing_key=...)`` signs as well, binding each payload to its job; this class
    exists for data shared with producers that speak the reference's format.
    """

    def __init__(self, inner: Serializer, key: bytes) -> None:
        if not isinstance(inner, Serializer):
            raise TypeError(
                f"inner must be a Serializer (with dumps and loads), not {type(inner).__name__}"
            )
        if not isinstance(key, bytes):
            raise TypeError(f"SignedSerializer key must be bytes, not {type(key).__name__}")
        if len(key) < _SIGNED_MIN_KEY_BYTES:
            raise ValueError(
                f"SignedSerializer key must be at least {_SIGNED_MIN_KEY_BYTES} bytes,"
                f" got {len(key)}: use os.urandom({_SIGNED_MIN_KEY_BYTES})"
            )
        #: The serializer this one signs (idempotency keys hash its output).
        self.inner = inner
        self._key = key

    def __repr__(self) -> str:
        return f"SignedSerializer(inner={self.inner!r})"  # never the key

    def dumps(self, obj: Any) -> bytes:
        body = self.inner.dumps(obj)
        return hmac.digest(self._key, body, "sha256") + body

    def loads(self, data: bytes) -> Any:
        raw = require_bytes(data, "SignedSerializer.loads()")
        if len(raw) < _SIGNED_TAG_BYTES:
            raise ValueError(
                f"SignedSerializer: {len(raw)} bytes is shorter than the"
                f" {_SIGNED_TAG_BYTES}-byte signature: refused"
            )
        tag, body = raw[:_SIGNED_TAG_BYTES], raw[_SIGNED_TAG_BYTES:]
        if not hmac.compare_digest(tag, hmac.digest(self._key, body, "sha256")):
            raise ValueError(
                "SignedSerializer: the signature does not match (the bytes were changed, or"
                " signed with another key): refused, not deserialized"
            )
        return self.inner.loads(body)


def rebind_bound(serializer: Serializer, data: bytes, old_context: bytes, new: bytes) -> bytes:
    """Bytes a context-binding serializer made for ``old_context``, made valid for ``new``
    (its ``rebind`` when it has one, else a decode and encode); other bytes unchanged."""
    if not binds_context(serializer):
        return data
    rebind = getattr(serializer, "rebind", None)
    if callable(rebind):
        rebound: bytes = rebind(data, old_context, new)
        return rebound
    return dumps_bound(serializer, loads_bound(serializer, data, old_context), new)


def _associated(context: bytes) -> bytes | None:
    # No context (a direct call) keeps the original format: AES-GCM without associated data.
    return context or None


def check_aes_keys(key: object) -> list[bytes]:
    """One AES key (16, 24 or 32 bytes) or a non-empty list of them, as a list of bytes."""
    keys = list(key) if isinstance(key, list | tuple) else [key]
    if not keys:
        raise ValueError("key is an empty list: give at least one AES key")
    checked: list[bytes] = []
    for index, one in enumerate(keys):
        name = "key" if len(keys) == 1 and not isinstance(key, list | tuple) else f"key[{index}]"
        if not isinstance(one, bytes | bytearray):
            raise TypeError(f"{name} must be bytes, not {type(one).__name__}")
        if len(one) not in _AES_KEY_SIZES:
            raise ValueError(f"{name} must be 16, 24 or 32 bytes long (AES), got {len(one)} bytes")
        checked.append(bytes(one))
    return checked


__all__ = [
    "CloudpickleSerializer",
    "EncryptedSerializer",
    "JsonSerializer",
    "MsgPackSerializer",
    "Serializer",
    "SignedSerializer",
    "binds_context",
    "check_aes_keys",
    "dumps_bound",
    "loads_bound",
    "plain_call_encoder",
    "rebind_bound",
    "require_bytes",
]
