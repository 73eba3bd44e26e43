"""Payload and result signing: HMAC-SHA256 over the job id, the task name and the bytes, in a
versioned envelope that is checked before anything is deserialised (docs/architecture.md, invariant
10).

Envelope, version 1 (docs/security.md)::

    b"\\x00tks" | 0x01 | tag (32 bytes) | data

``tag`` is HMAC-SHA256 under one key of the rotation list over ``bound_context(purpose,
job_id, task_name)`` followed by the 8-byte big-endian length of ``data`` and ``data``. The
context frames every field with a 4-byte length, so ("ab", "c") and ("a", "bc") never collide,
and names its purpose (``payload`` or ``result``), so a payload copied into a result column (or
the other way round) fails too. The envelope carries no key id: a verifier tries each of its
keys with ``hmac.compare_digest``; rotation lists are short.

The same context is the associated data ``EncryptedSerializer`` binds, so an encrypted payload
moved to another job or task fails to decrypt as well.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Final

from taskito.exceptions import SignatureError
from taskito.serializers import Serializer, rebind_bound

logger = logging.getLogger("taskito.signing")

#: The environment variable a Queue reads when ``signing_key`` is not given: one key, or a
#: comma-separated list (the first signs, all verify).
SIGNING_KEY_ENV: Final = "TASKITO_SIGNING_KEY"
#: The shortest key accepted, in bytes.
MIN_KEY_BYTES: Final = 16

MAGIC: Final = b"\x00tks"
VERSION: Final = 1
_HEADER: Final = MAGIC + bytes([VERSION])
_TAG_BYTES: Final = 32
_PREFIX_BYTES: Final = len(_HEADER) + _TAG_BYTES
_DOMAIN: Final = b"taskito/v1"

PAYLOAD: Final = b"payload"
RESULT: Final = b"result"


def _field(value: bytes) -> bytes:
    return len(value).to_bytes(4, "big") + value


def bound_context(purpose: bytes, job_id: str, task_name: str) -> bytes:
    """The framed ``(purpose, job id, task name)`` a signature or an encryption binds."""
    return b"".join(
        (
            _field(_DOMAIN),
            _field(purpose),
            _field(job_id.encode("utf-8", "surrogatepass")),
            _field(task_name.encode("utf-8", "surrogatepass")),
        )
    )


def payload_context(job_id: str, task_name: str) -> bytes:
    return bound_context(PAYLOAD, job_id, task_name)


def result_context(job_id: str, task_name: str) -> bytes:
    return bound_context(RESULT, job_id, task_name)


def is_signed(data: bytes) -> bool:
    """True when ``data`` starts like an envelope (it may still be forged)."""
    return data[: len(_HEADER)] == _HEADER


def strip_unverified(data: bytes) -> bytes:
    """The data inside an envelope, unchecked: only for a process that has no key (and so
    trusts its store), so that adding a key to producers first does not break old workers."""
    if is_signed(data) and len(data) >= _PREFIX_BYTES:
        return data[_PREFIX_BYTES:]
    return data


class Signer:
    """Signs with the first key and verifies with any of them. Holds no per-call state, so
    one instance serves every thread. Its repr never shows a key."""

    __slots__ = ("_keys", "_macs")

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._keys = tuple(parse_keys(keys, "signing_key"))
        # One keyed HMAC per key, copied per call: cheaper than keying a new one each time.
        self._macs = tuple(hmac.new(key, digestmod=hashlib.sha256) for key in self._keys)

    def __repr__(self) -> str:
        return f"<Signer keys={len(self._keys)}>"

    @property
    def key_count(self) -> int:
        return len(self._keys)

    def sign(self, context: bytes, data: bytes) -> bytes:
        """``data`` in an envelope signed with the first key."""
        return _HEADER + _tag(self._macs[0], context, data) + data

    def verify(self, context: bytes, envelope: bytes, what: str = "payload") -> bytes:
        """The data inside ``envelope`` once its tag matches under one of the keys; otherwise
        ``SignatureError`` saying why (never what the bytes or the keys are); ``what`` names
        the bytes in the message ("unsigned payload", "unsigned result")."""
        if not is_signed(envelope):
            if envelope[: len(MAGIC)] == MAGIC and len(envelope) > len(MAGIC):
                raise SignatureError(f"unknown envelope version {envelope[len(MAGIC)]}")
            raise SignatureError(f"unsigned {what}")
        if len(envelope) < _PREFIX_BYTES:
            raise SignatureError("truncated envelope")
        tag = envelope[len(_HEADER) : _PREFIX_BYTES]
        data = envelope[_PREFIX_BYTES:]
        matched = False
        # Every key is tried, so the time taken does not say which one matched.
        for keyed in self._macs:
            matched |= hmac.compare_digest(tag, _tag(keyed, context, data))
        if not matched:
            raise SignatureError("not signed by a known key")
        return data


def seal(signer: Signer | None, context: bytes, data: bytes) -> bytes:
    """``data`` signed for ``context``, or as it is when there is no key."""
    return data if signer is None else signer.sign(context, data)


def unseal(signer: Signer | None, context: bytes, data: bytes, what: str = "payload") -> bytes:
    """The verified data of an envelope (``SignatureError`` when it fails); without a key,
    the data as stored, an envelope's prefix dropped unchecked (see ``strip_unverified``)."""
    return strip_unverified(data) if signer is None else signer.verify(context, data, what)


def rebind(
    serializer: Serializer, signer: Signer | None, data: bytes, old: bytes, new: bytes
) -> bytes:
    """A stored payload bound to context ``old`` made valid for ``new`` (a replay or a retried
    dead letter gets a new job id): its signature is checked first (``SignatureError``), an
    encrypting serializer re-encrypts it, and it is signed again for ``new``."""
    inner = unseal(signer, old, data)
    return seal(signer, new, rebind_bound(serializer, inner, old, new))


def _tag(keyed: hmac.HMAC, context: bytes, data: bytes) -> bytes:
    mac = keyed.copy()
    mac.update(context)
    mac.update(len(data).to_bytes(8, "big"))
    mac.update(data)
    return mac.digest()


def parse_keys(value: object, name: str) -> list[bytes]:
    """One key (bytes or str) or a non-empty list of them, as bytes; a bad one raises
    ``TypeError``/``ValueError`` naming ``name`` and the key's position, never its value."""
    if isinstance(value, str | bytes | bytearray):
        return [_parse_key(value, name)]
    if not isinstance(value, list | tuple):
        raise TypeError(
            f"{name} must be bytes, a str or a list of them, not {type(value).__name__}"
        )
    if not value:
        raise ValueError(f"{name} is an empty list: give at least one key")
    return [_parse_key(key, f"{name}[{index}]") for index, key in enumerate(value)]


def _parse_key(key: object, name: str) -> bytes:
    if isinstance(key, str):
        raw = key.encode("utf-8", "surrogatepass")
    elif isinstance(key, bytes | bytearray):
        raw = bytes(key)
    else:
        raise TypeError(f"{name} must be bytes or a str, not {type(key).__name__}")
    if not raw:
        raise ValueError(f"{name} is empty")
    if len(raw) < MIN_KEY_BYTES:
        raise ValueError(
            f"{name} is {len(raw)} bytes long: a signing key needs at least {MIN_KEY_BYTES}"
        )
    return raw


def warn_if_unsigned(signer: Signer | None) -> None:
    """The one-line WARNING a worker logs at start when its Queue has no signing key."""
    if signer is None:
        logger.warning(
            "no signing_key is set: anyone who can write to this queue's database can run "
            "code in this worker (see docs/security.md)"
        )


def signer_from_settings(value: object, environ: Mapping[str, str] | None = None) -> Signer | None:
    """The Signer for ``Queue(signing_key=value)``; when ``value`` is None, the one named by
    ``TASKITO_SIGNING_KEY`` (comma-separated for rotation); None when neither is set."""
    if value is not None:
        return Signer(parse_keys(value, "signing_key"))
    text = (os.environ if environ is None else environ).get(SIGNING_KEY_ENV)
    if text is None:
        return None
    if not text.strip():
        raise ValueError(f"{SIGNING_KEY_ENV} is set but empty: unset it or give a key")
    return Signer(parse_keys([part.strip() for part in text.split(",")], SIGNING_KEY_ENV))


__all__ = [
    "MIN_KEY_BYTES",
    "SIGNING_KEY_ENV",
    "Signer",
    "bound_context",
    "is_signed",
    "parse_keys",
    "payload_context",
    "rebind",
    "result_context",
    "seal",
    "signer_from_settings",
    "strip_unverified",
    "unseal",
    "warn_if_unsigned",
]
