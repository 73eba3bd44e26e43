"""Payload codecs: steps from bytes to bytes (compression, encryption, authentication) that run
after a serializer on the way to storage and before it on the way back, and ``CodecSerializer``,
a serializer with a chain of them (docs/operations.md, "Payload codecs").

Wire formats, the same as the reference package's::

    GzipCodec     a gzip stream (RFC 1952), modification time 0
    AesGcmCodec   nonce (12 random bytes) | AES-GCM ciphertext | tag (16 bytes)
    HmacCodec     HMAC-SHA256 of the body (32 bytes) | body

``HmacCodec`` after a serializer makes the bytes ``SignedSerializer`` makes. Codecs bind no
job: a payload copied to another job still decodes; ``Queue(signing_key=...)`` binds them.
"""

from __future__ import annotations

import gzip
import hmac
import os
import zlib
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from taskito import _checks
from taskito.exceptions import CryptoError, SerializationError
from taskito.serializers import (
    Serializer,
    binds_context,
    check_aes_keys,
    dumps_bound,
    loads_bound,
    rebind_bound,
    require_bytes,
)

DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer, nothing else
_NONCE_BYTES = 12
_GCM_TAG_BYTES = 16
_MAC_BYTES = 32
_MIN_MAC_KEY_BYTES = 32


@runtime_checkable
class PayloadCodec(Protocol):
    """Turns bytes into bytes and back: ``decode(encode(data)) == data``. ``decode`` raises
    (``SerializationError``, ``CryptoError``) for bytes it did not make. A codec keeps no
    per-call state, so one instance serves every thread."""

    def encode(self, data: bytes) -> bytes: ...

    def decode(self, data: bytes) -> bytes: ...


class GzipCodec:
    """gzip compression. ``decode`` stops at ``max_decompressed_bytes`` (64 MiB unless told)
    and raises ``SerializationError``, so a small row cannot inflate into a worker's memory
    (a zip bomb). ``level``: 0 (store) to 9 (smallest), 6 unless told."""

    def __init__(
        self, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES, level: int = 6
    ) -> None:
        self.max_decompressed_bytes = _checks.check_int(
            "max_decompressed_bytes", max_decompressed_bytes, minimum=1
        )
        self.level = _checks.check_int("level", level, minimum=0, maximum=9)

    def __repr__(self) -> str:
        return (
            f"GzipCodec(max_decompressed_bytes={self.max_decompressed_bytes}, level={self.level})"
        )

    def encode(self, data: bytes) -> bytes:
        # mtime=0: the same bytes in give the same bytes out.
        return gzip.compress(require_bytes(data, "GzipCodec.encode()"), self.level, mtime=0)

    def decode(self, data: bytes) -> bytes:
        remaining = require_bytes(data, "GzipCodec.decode()")
        limit = self.max_decompressed_bytes
        out = bytearray()
        # A gzip file may hold several members one after another; each is inflated in turn,
        # never past the limit (max_length stops zlib before it allocates more).
        while True:
            inflater = zlib.decompressobj(_GZIP_WBITS)
            try:
                out += inflater.decompress(remaining, limit + 1 - len(out))
            except zlib.error as exc:
                raise SerializationError(f"GzipCodec: not gzip data ({exc})") from None
            if len(out) > limit:
                raise SerializationError(
                    f"GzipCodec: the data inflates past max_decompressed_bytes ({limit}): refused"
                )
            if not inflater.eof:
                raise SerializationError("GzipCodec: the gzip data is empty or truncated")
            remaining = inflater.unused_data
            if not remaining:
                return bytes(out)


class AesGcmCodec:
    """AES-GCM encryption (the ``pytaskito[encryption]`` extra): a random 12-byte nonce, then
    the ciphertext and its 16-byte tag, so equal inputs never give equal bytes. ``key`` is
    16, 24 or 32 bytes, or a list of such keys for rotation: the first encrypts, each one is
    tried to decrypt. Changed, truncated or foreign bytes raise ``CryptoError``."""

    def __init__(self, key: bytes | list[bytes] | tuple[bytes, ...]) -> None:
        keys = check_aes_keys(key)
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:
            raise ImportError(
                'AesGcmCodec needs the cryptography package: pip install "pytaskito[encryption]"'
            ) from exc
        self._aeads = tuple(AESGCM(k) for k in keys)

    def __repr__(self) -> str:
        return f"AesGcmCodec(keys={len(self._aeads)})"  # never a key

    def encode(self, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed: bytes = self._aeads[0].encrypt(
            nonce, require_bytes(data, "AesGcmCodec.encode()"), None
        )
        return nonce + sealed

    def decode(self, data: bytes) -> bytes:
        raw = require_bytes(data, "AesGcmCodec.decode()")
        if len(raw) < _NONCE_BYTES + _GCM_TAG_BYTES:
            raise CryptoError(
                f"AesGcmCodec: {len(raw)} bytes is shorter than a nonce and a tag"
                f" ({_NONCE_BYTES + _GCM_TAG_BYTES} bytes): refused"
            )
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        for aead in self._aeads:
            try:
                plaintext: bytes = aead.decrypt(nonce, sealed, None)
            except Exception:
                continue
            return plaintext
        raise CryptoError(
            "AesGcmCodec: decryption failed (the bytes were changed, or encrypted with"
            " another key): refused"
        ) from None


class HmacCodec:
    """HMAC-SHA256 authentication: the 32-byte tag over the body, then the body. ``decode``
    checks the tag in constant time and raises ``CryptoError`` on a mismatch, before any
    later step (a decompressor, the serializer) reads a byte. ``key``: bytes, at least 32."""

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray):
            raise TypeError(f"HmacCodec key must be bytes, not {type(key).__name__}")
        if len(key) < _MIN_MAC_KEY_BYTES:
            raise ValueError(
                f"HmacCodec key must be at least {_MIN_MAC_KEY_BYTES} bytes, got {len(key)}:"
                f" use os.urandom({_MIN_MAC_KEY_BYTES})"
            )
        self._key = bytes(key)

    def __repr__(self) -> str:
        return "HmacCodec()"  # never the key

    def encode(self, data: bytes) -> bytes:
        body = require_bytes(data, "HmacCodec.encode()")
        return hmac.digest(self._key, body, "sha256") + body

    def decode(self, data: bytes) -> bytes:
        raw = require_bytes(data, "HmacCodec.decode()")
        if len(raw) < _MAC_BYTES:
            raise CryptoError(
                f"HmacCodec: {len(raw)} bytes is shorter than the {_MAC_BYTES}-byte tag: refused"
            )
        tag, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        if not hmac.compare_digest(tag, hmac.digest(self._key, body, "sha256")):
            raise CryptoError(
                "HmacCodec: the tag does not match (the bytes were changed, or made with"
                " another key): refused"
            )
        return body


class CodecSerializer:
    """A serializer followed by codecs: ``dumps`` runs ``delegate`` and then each codec in
    order, ``loads`` the codecs in reverse and then ``delegate``. Bound contexts (see
    ``Serializer``) go to a delegate that takes them (``EncryptedSerializer``)."""

    def __init__(
        self,
        delegate: Serializer,
        codecs: PayloadCodec | list[PayloadCodec] | tuple[PayloadCodec, ...],
    ) -> None:
        if not isinstance(delegate, Serializer):
            raise TypeError(
                "delegate must be a Serializer (with dumps and loads), "
                f"not {type(delegate).__name__}"
            )
        #: The serializer this one wraps (idempotency keys hash its output, before any codec).
        self.inner = delegate
        self.codecs = check_codecs("codecs", codecs)
        if not self.codecs:
            raise ValueError("codecs is empty: give at least one codec, or use the serializer")

    def __repr__(self) -> str:
        return f"CodecSerializer({self.inner!r}, {list(self.codecs)!r})"

    @property
    def delegate(self) -> Serializer:
        """The serializer the codecs follow (also ``inner``)."""
        return self.inner

    @property
    def binds_context(self) -> bool:
        """``dumps``/``loads`` take ``context=`` when the delegate does."""
        return binds_context(self.inner)

    def dumps(self, obj: Any, *, context: bytes = b"") -> bytes:
        return self.encode(dumps_bound(self.inner, obj, context))

    def loads(self, data: bytes, *, context: bytes = b"") -> Any:
        return loads_bound(self.inner, self.decode(data), context)

    def encode(self, data: bytes) -> bytes:
        """The serializer's bytes through every codec, in order."""
        for codec in self.codecs:
            data = _codec_output(codec, "encode", codec.encode(data))
        return data

    def decode(self, data: bytes) -> bytes:
        """Stored bytes through every codec's ``decode``, last codec first."""
        data = require_bytes(data, "CodecSerializer.loads()")
        for codec in reversed(self.codecs):
            data = _codec_output(codec, "decode", codec.decode(data))
        return data

    def rebind(self, data: bytes, old_context: bytes, new_context: bytes) -> bytes:
        """``data`` made valid for ``new_context``: decoded, rebound by the delegate (see
        ``serializers.rebind_bound``), encoded again."""
        return self.encode(rebind_bound(self.inner, self.decode(data), old_context, new_context))


def _codec_output(codec: PayloadCodec, method: str, value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{type(codec).__name__}.{method}() returned {type(value).__name__}, not bytes")


def check_codec(name: str, value: object) -> PayloadCodec:
    """An object with callable ``encode`` and ``decode``; a ``TypeError`` naming ``name``."""
    if isinstance(value, type):
        raise TypeError(
            f"{name} must be a codec instance, not the class {value.__name__}:"
            f" use {value.__name__}(...)"
        )
    if callable(getattr(value, "encode", None)) and callable(getattr(value, "decode", None)):
        return value  # type: ignore[return-value]
    hint = " (a serializer goes in serializer=)" if isinstance(value, Serializer) else ""
    raise TypeError(
        f"{name} must be a payload codec with encode(bytes) and decode(bytes) methods,"
        f" not {type(value).__name__}{hint}"
    )


def check_codecs(name: str, value: object) -> tuple[PayloadCodec, ...]:
    """None (no codecs), one codec, or a non-empty list or tuple of them, as a tuple."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        return (check_codec(name, value),)
    if not value:
        raise ValueError(f"{name} is an empty list: give at least one codec, or None")
    return tuple(check_codec(f"{name}[{index}]", item) for index, item in enumerate(value))


def check_named_codecs(name: str, value: object) -> Mapping[str, PayloadCodec]:
    """None or a dict of codecs by name (``Queue(codecs=...)``), read-only."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict of codecs by name, not {type(value).__name__}")
    named: dict[str, PayloadCodec] = {}
    for key, codec in value.items():
        _checks.check_text(f"{name} keys", key)
        named[key] = check_codec(f"{name}[{key!r}]", codec)
    return MappingProxyType(named)


def pick_codecs(
    names: Iterable[str], named: Mapping[str, PayloadCodec]
) -> tuple[PayloadCodec, ...]:
    """The codecs ``names`` stand for; an unknown name is a ``ValueError`` listing the known."""
    picked: list[PayloadCodec] = []
    for codec_name in names:
        codec = named.get(codec_name)
        if codec is None:
            known = ", ".join(repr(key) for key in sorted(named)) or "none"
            raise ValueError(
                f"unknown codec {codec_name!r} in codecs=: the codecs this queue names"
                f" (Queue(codecs={{...}})) are {known}"
            )
        picked.append(codec)
    return tuple(picked)


def with_codecs(serializer: Serializer, codecs: tuple[PayloadCodec, ...]) -> Serializer:
    """``serializer`` followed by ``codecs``; the serializer itself when there are none."""
    return CodecSerializer(serializer, codecs) if codecs else serializer


def task_serializer(
    queue_serializer: Serializer,
    queue_codecs: tuple[PayloadCodec, ...],
    own: Serializer | None,
    task_codecs: tuple[PayloadCodec, ...],
) -> Serializer | None:
    """The payload serializer of a task declared with ``serializer=own`` (None: the queue's)
    and ``task_codecs``; None when it is the queue's own. The task's codecs run first, on the
    serializer's bytes, then the queue's: compression comes before encryption, and on the way
    back the queue's authentication is checked before a task's codec reads a byte."""
    if own is None and not task_codecs:
        return None
    base = queue_serializer if own is None else own
    return with_codecs(base, task_codecs + queue_codecs)


__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "AesGcmCodec",
    "CodecSerializer",
    "GzipCodec",
    "HmacCodec",
    "PayloadCodec",
    "check_codec",
    "check_codecs",
    "check_named_codecs",
    "pick_codecs",
    "task_serializer",
    "with_codecs",
]
