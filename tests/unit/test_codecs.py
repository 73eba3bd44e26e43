"""Payload codecs (taskito.codecs): each built-in's wire format and round trip, the errors for
bad keys, bad options and bad bytes (changed, truncated, foreign, a zip bomb), and
``CodecSerializer``'s order: codecs in order on the way out, reversed on the way back."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import threading
import zlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from taskito import (
    AesGcmCodec,
    CloudpickleSerializer,
    CodecSerializer,
    CryptoError,
    EncryptedSerializer,
    GzipCodec,
    HmacCodec,
    JsonSerializer,
    PayloadCodec,
    SerializationError,
    SignedSerializer,
)
from taskito.codecs import check_codecs, check_named_codecs, pick_codecs, task_serializer
from taskito.queue.idempotency import auto_key

AES_KEY = bytes(range(32))
MAC_KEY = b"m" * 32


def test_every_builtin_codec_satisfies_the_protocol() -> None:
    for codec in (GzipCodec(), AesGcmCodec(AES_KEY), HmacCodec(MAC_KEY)):
        assert isinstance(codec, PayloadCodec)
    assert not isinstance(JsonSerializer(), PayloadCodec)


# --- GzipCodec -------------------------------------------------------------------------------


def test_gzip_writes_a_plain_gzip_stream_the_same_for_the_same_bytes() -> None:
    codec = GzipCodec()
    data = b"hello " * 1000
    encoded = codec.encode(data)
    assert encoded[:2] == b"\x1f\x8b" and len(encoded) < len(data) // 10
    assert gzip.decompress(encoded) == data  # any gzip reader reads it
    assert codec.encode(data) == encoded  # no timestamp in the header
    assert codec.decode(encoded) == data
    assert codec.decode(gzip.compress(data, 1)) == data  # and it reads any gzip writer
    assert codec.decode(codec.encode(b"")) == b""


def test_gzip_levels_trade_size_for_time() -> None:
    data = bytes(range(256)) * 400
    stored, smallest = GzipCodec(level=0).encode(data), GzipCodec(level=9).encode(data)
    assert len(stored) > len(data) > len(smallest)
    assert GzipCodec().decode(stored) == data


def test_gzip_reads_every_member_of_a_concatenated_stream() -> None:
    codec = GzipCodec()
    assert codec.decode(codec.encode(b"one,") + codec.encode(b"two")) == b"one,two"


def test_a_zip_bomb_stops_at_max_decompressed_bytes() -> None:
    bomb = GzipCodec().encode(b"\0" * (4 * 1024 * 1024))
    assert len(bomb) < 8 * 1024
    codec = GzipCodec(max_decompressed_bytes=1024 * 1024)
    with pytest.raises(SerializationError, match=r"past max_decompressed_bytes \(1048576\)"):
        codec.decode(bomb)
    exact = GzipCodec(max_decompressed_bytes=4 * 1024 * 1024)
    assert len(exact.decode(bomb)) == 4 * 1024 * 1024  # the limit itself is allowed
    # Members that each fit but together do not are refused too.
    half = GzipCodec().encode(b"\0" * (600 * 1024))
    with pytest.raises(SerializationError, match="past max_decompressed_bytes"):
        codec.decode(half + half)
    assert GzipCodec().max_decompressed_bytes == 64 * 1024 * 1024


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty or truncated"),
        (GzipCodec().encode(b"x" * 5000)[:-12], "empty or truncated"),
        (b"not gzip at all", "not gzip data"),
        (zlib.compress(b"zlib, not gzip"), "not gzip data"),
        (GzipCodec().encode(b"x") + b"trailing garbage", "not gzip data"),
    ],
)
def test_bytes_gzip_did_not_make_raise_serialization_error(data: bytes, message: str) -> None:
    with pytest.raises(SerializationError, match=message):
        GzipCodec().decode(data)


def test_gzip_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_decompressed_bytes must be >= 1, got 0"):
        GzipCodec(max_decompressed_bytes=0)
    with pytest.raises(TypeError, match="max_decompressed_bytes must be an int, not float"):
        GzipCodec(max_decompressed_bytes=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="level must be <= 9, got 10"):
        GzipCodec(level=10)
    with pytest.raises(ValueError, match="level must be >= 0, got -1"):
        GzipCodec(level=-1)
    with pytest.raises(TypeError, match="level must be an int, not bool"):
        GzipCodec(level=True)
    with pytest.raises(TypeError, match=r"GzipCodec.decode\(\) expects bytes, not str"):
        GzipCodec().decode("text")  # type: ignore[arg-type]


# --- AesGcmCodec -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [16, 24, 32])
def test_aes_gcm_is_a_random_nonce_then_ciphertext_and_tag(size: int) -> None:
    key = bytes(range(size))
    codec = AesGcmCodec(key)
    encoded = codec.encode(b"secret payload")
    assert len(encoded) == 12 + len(b"secret payload") + 16
    assert AESGCM(key).decrypt(encoded[:12], encoded[12:], None) == b"secret payload"
    assert codec.encode(b"secret payload") != encoded  # a fresh nonce every time
    assert codec.decode(encoded) == b"secret payload"
    assert codec.decode(codec.encode(b"")) == b""


def test_aes_gcm_refuses_changed_short_and_foreign_bytes() -> None:
    codec = AesGcmCodec(AES_KEY)
    encoded = bytearray(codec.encode(b"pay 5"))
    encoded[-1] ^= 1
    with pytest.raises(CryptoError, match="decryption failed"):
        codec.decode(bytes(encoded))
    with pytest.raises(CryptoError, match="27 bytes is shorter than a nonce and a tag"):
        codec.decode(b"x" * 27)
    with pytest.raises(CryptoError, match="encrypted with another key"):
        AesGcmCodec(b"o" * 32).decode(codec.encode(b"pay 5"))
    assert issubclass(CryptoError, SerializationError)


def test_aes_gcm_rotates_keys_the_first_encrypts_every_one_decrypts() -> None:
    old, new = b"o" * 16, b"n" * 32
    from_old = AesGcmCodec(old).encode(b"kept")
    rotated = AesGcmCodec([new, old])
    assert rotated.decode(from_old) == b"kept"
    assert AesGcmCodec(new).decode(rotated.encode(b"fresh")) == b"fresh"


def test_aes_gcm_keys_are_checked_and_never_shown() -> None:
    with pytest.raises(ValueError, match=r"key must be 16, 24 or 32 bytes long .*got 31 bytes"):
        AesGcmCodec(b"k" * 31)
    with pytest.raises(TypeError, match="key must be bytes, not str"):
        AesGcmCodec("k" * 32)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key is an empty list"):
        AesGcmCodec([])
    with pytest.raises(ValueError, match=r"key\[1\] must be 16, 24 or 32 bytes"):
        AesGcmCodec([AES_KEY, b"short"])
    assert repr(AesGcmCodec([AES_KEY, b"o" * 16])) == "AesGcmCodec(keys=2)"


# --- HmacCodec -------------------------------------------------------------------------------


def test_hmac_is_the_tag_then_the_body_as_signed_serializer_writes_it() -> None:
    codec = HmacCodec(MAC_KEY)
    body = JsonSerializer().dumps({"order": 7})
    encoded = codec.encode(body)
    assert encoded == hmac.new(MAC_KEY, body, hashlib.sha256).digest() + body
    assert codec.decode(encoded) == body
    chained = CodecSerializer(JsonSerializer(), HmacCodec(MAC_KEY))
    signed = SignedSerializer(JsonSerializer(), MAC_KEY)
    assert chained.dumps({"order": 7}) == signed.dumps({"order": 7})
    assert signed.loads(chained.dumps([1, 2])) == [1, 2]


def test_hmac_refuses_changed_short_and_foreign_bytes() -> None:
    codec = HmacCodec(MAC_KEY)
    encoded = codec.encode(b"amount=5")
    with pytest.raises(CryptoError, match="the tag does not match"):
        codec.decode(encoded[:-1] + b"9")
    with pytest.raises(CryptoError, match="31 bytes is shorter than the 32-byte tag"):
        codec.decode(encoded[:31])
    with pytest.raises(CryptoError, match="made with another key"):
        HmacCodec(b"f" * 32).decode(encoded)


def test_hmac_keys_are_checked_and_never_shown() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes, got 16"):
        HmacCodec(b"k" * 16)
    with pytest.raises(TypeError, match="key must be bytes, not str"):
        HmacCodec("k" * 32)  # type: ignore[arg-type]
    assert "mmmm" not in repr(HmacCodec(MAC_KEY))


# --- CodecSerializer -------------------------------------------------------------------------


def test_codecs_encode_in_order_and_decode_in_reverse() -> None:
    serializer = CodecSerializer(JsonSerializer(), [GzipCodec(), HmacCodec(MAC_KEY)])
    data = serializer.dumps({"items": list(range(100))})
    tag, body = data[:32], data[32:]  # the HMAC ran last: it is outermost
    assert hmac.compare_digest(tag, hmac.new(MAC_KEY, body, hashlib.sha256).digest())
    assert gzip.decompress(body) == JsonSerializer().dumps({"items": list(range(100))})
    assert serializer.loads(data) == {"items": list(range(100))}
    # The other order is another format: neither reads the other's bytes.
    swapped = CodecSerializer(JsonSerializer(), [HmacCodec(MAC_KEY), GzipCodec()])
    assert swapped.dumps([1])[:2] == b"\x1f\x8b"
    with pytest.raises(SerializationError):
        swapped.loads(data)


def test_a_changed_byte_is_refused_before_any_later_codec_or_the_serializer() -> None:
    serializer = CodecSerializer(CloudpickleSerializer(), [GzipCodec(), HmacCodec(MAC_KEY)])
    data = bytearray(serializer.dumps(("args", {"kw": 1})))
    data[40] ^= 0xFF
    with pytest.raises(CryptoError, match="tag does not match"):
        serializer.loads(bytes(data))


def test_one_codec_need_not_be_in_a_list_and_inner_is_the_serializer() -> None:
    inner = CloudpickleSerializer()
    serializer = CodecSerializer(inner, GzipCodec())
    assert serializer.inner is serializer.delegate is inner and len(serializer.codecs) == 1
    assert serializer.loads(serializer.dumps({"a": (1, 2)})) == {"a": (1, 2)}
    assert "GzipCodec" in repr(serializer)


def test_codec_serializer_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match=r"delegate must be a Serializer .*not GzipCodec"):
        CodecSerializer(GzipCodec(), [GzipCodec()])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="codecs is an empty list"):
        CodecSerializer(JsonSerializer(), [])
    with pytest.raises(TypeError, match=r"codecs\[1\] must be a payload codec .*not int"):
        CodecSerializer(JsonSerializer(), [GzipCodec(), 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"not JsonSerializer \(a serializer goes in serializer=\)"):
        CodecSerializer(JsonSerializer(), JsonSerializer())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"CodecSerializer.loads\(\) expects bytes, not str"):
        CodecSerializer(JsonSerializer(), GzipCodec()).loads("text")  # type: ignore[arg-type]


def test_a_codec_that_returns_no_bytes_is_named() -> None:
    class Broken:
        def encode(self, data: bytes) -> Any:
            return data.decode()

        def decode(self, data: bytes) -> bytes:
            return data

    serializer = CodecSerializer(JsonSerializer(), [Broken()])
    with pytest.raises(TypeError, match=r"Broken.encode\(\) returned str, not bytes"):
        serializer.dumps([1])


def test_a_context_binding_delegate_keeps_its_context_through_the_codecs() -> None:
    serializer = CodecSerializer(EncryptedSerializer(JsonSerializer(), AES_KEY), GzipCodec())
    assert serializer.binds_context is True
    assert CodecSerializer(JsonSerializer(), GzipCodec()).binds_context is False
    data = serializer.dumps([1, 2], context=b"job-1")
    assert serializer.loads(data, context=b"job-1") == [1, 2]
    with pytest.raises(ValueError, match="Decryption failed"):
        serializer.loads(data, context=b"job-2")
    moved = serializer.rebind(data, b"job-1", b"job-2")
    assert serializer.loads(moved, context=b"job-2") == [1, 2]
    assert gzip.decompress(moved)  # still gzip on the outside


def test_one_codec_serializer_serves_many_threads() -> None:
    serializer = CodecSerializer(JsonSerializer(), [GzipCodec(), AesGcmCodec(AES_KEY)])
    failures: list[BaseException] = []

    def round_trips(seed: int) -> None:
        try:
            for n in range(200):
                value = {"seed": seed, "n": n, "pad": "x" * n}
                assert serializer.loads(serializer.dumps(value)) == value
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=round_trips, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []


# --- the Queue's options ---------------------------------------------------------------------


def test_queue_codec_options_are_checked() -> None:
    assert check_codecs("codec", None) == ()
    gzip_codec = GzipCodec()
    assert check_codecs("codec", gzip_codec) == (gzip_codec,)
    with pytest.raises(ValueError, match="codec is an empty list"):
        check_codecs("codec", [])
    with pytest.raises(TypeError, match="codecs must be a dict of codecs by name, not list"):
        check_named_codecs("codecs", [gzip_codec])
    with pytest.raises(TypeError, match="codecs keys must be a str, not int"):
        check_named_codecs("codecs", {1: gzip_codec})
    with pytest.raises(ValueError, match="codecs keys must be a non-empty string"):
        check_named_codecs("codecs", {"": gzip_codec})
    with pytest.raises(TypeError, match=r"codecs\['zip'\] must be a payload codec"):
        check_named_codecs("codecs", {"zip": "gzip"})
    with pytest.raises(TypeError, match=r"codec must be a codec instance, not the class GzipCodec"):
        check_codecs("codec", GzipCodec)

    class NotCallable:
        encode = decode = b"bytes"

    with pytest.raises(TypeError, match=r"must be a payload codec .* not NotCallable"):
        check_codecs("codec", [NotCallable()])


def test_an_unknown_codec_name_lists_the_known_ones() -> None:
    named = check_named_codecs("codecs", {"zip": GzipCodec(), "mac": HmacCodec(MAC_KEY)})
    assert pick_codecs(["mac", "zip"], named) == (named["mac"], named["zip"])
    with pytest.raises(ValueError, match=r"unknown codec 'aes' in codecs=.* are 'mac', 'zip'"):
        pick_codecs(["zip", "aes"], named)
    with pytest.raises(ValueError, match="are none"):
        pick_codecs(["zip"], check_named_codecs("codecs", None))


def test_a_tasks_codecs_run_before_the_queues() -> None:
    queue_serializer, own = CloudpickleSerializer(), JsonSerializer()
    zip_codec, aes = GzipCodec(), AesGcmCodec(AES_KEY)
    assert task_serializer(queue_serializer, (aes,), None, ()) is None  # the queue's own
    chained = task_serializer(queue_serializer, (aes,), own, (zip_codec,))
    assert isinstance(chained, CodecSerializer)
    assert chained.inner is own and chained.codecs == (zip_codec, aes)
    data = chained.dumps({"big": "y" * 10_000})
    assert len(data) < 1_000  # compressed before it was encrypted
    assert gzip.decompress(aes.decode(data)) == own.dumps({"big": "y" * 10_000})
    assert task_serializer(queue_serializer, (), own, ()) is own


def test_idempotency_keys_hash_the_arguments_before_any_codec() -> None:
    plain = CloudpickleSerializer()
    coded = CodecSerializer(plain, [GzipCodec(), AesGcmCodec(AES_KEY)])
    nested = CodecSerializer(coded, HmacCodec(MAC_KEY))
    keys = {auto_key(s, "charge", (7, 1999), {"currency": "eur"}) for s in (plain, coded, nested)}
    assert len(keys) == 1
    assert auto_key(coded, "charge", (8, 1999), {}) != auto_key(coded, "charge", (7, 1999), {})
