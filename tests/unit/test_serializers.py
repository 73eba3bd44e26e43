"""Serializers: round trips, the errors each one raises for bad input, and thread safety."""

from __future__ import annotations

import pickle
import sys
import threading
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from taskito.serializers import (
    CloudpickleSerializer,
    EncryptedSerializer,
    JsonSerializer,
    MsgPackSerializer,
    Serializer,
)

KEY_32 = bytes(range(32))


def test_every_builtin_serializer_satisfies_the_protocol() -> None:
    serializers = [
        CloudpickleSerializer(),
        JsonSerializer(),
        MsgPackSerializer(),
        EncryptedSerializer(JsonSerializer(), KEY_32),
    ]
    for serializer in serializers:
        assert isinstance(serializer, Serializer)


def test_protocol_rejects_an_object_without_loads() -> None:
    class DumpsOnly:
        def dumps(self, obj: Any) -> bytes:
            return b""

    assert not isinstance(DumpsOnly(), Serializer)


# --- cloudpickle --------------------------------------------------------------------------


def test_cloudpickle_round_trips_args_kwargs_and_closures() -> None:
    serializer = CloudpickleSerializer()
    offset = 7
    payload = ((1, "two", b"\x03", [4.0]), {"fn": lambda x: x + offset, "nested": {"a": (1,)}})

    args, kwargs = serializer.loads(serializer.dumps(payload))

    assert args == (1, "two", b"\x03", [4.0])
    assert isinstance(args, tuple)
    assert kwargs["fn"](1) == 8
    assert kwargs["nested"] == {"a": (1,)}


def test_cloudpickle_output_is_bytes() -> None:
    assert isinstance(CloudpickleSerializer().dumps({"a": 1}), bytes)


@pytest.mark.parametrize("data", [b"", b"not a pickle", b"\x80\x05\x95"])
def test_cloudpickle_bad_bytes_raise_pickle_errors(data: bytes) -> None:
    with pytest.raises((pickle.UnpicklingError, EOFError)):
        CloudpickleSerializer().loads(data)


# --- json ---------------------------------------------------------------------------------


def test_json_round_trips_plain_data_and_turns_tuples_into_lists() -> None:
    serializer = JsonSerializer()
    payload = ((1, "x", None, True, 2.5), {"k": [1, {"n": "ü"}]})

    assert serializer.loads(serializer.dumps(payload)) == [[1, "x", None, True, 2.5], payload[1]]


def test_json_output_is_utf8_not_ascii_escaped() -> None:
    data = JsonSerializer().dumps({"name": "Zoë ✓"})

    assert "Zoë ✓".encode() in data
    assert data.decode("utf-8") == '{"name": "Zoë ✓"}'


def test_json_rejects_an_unserializable_object_naming_its_type() -> None:
    class Widget:
        pass

    with pytest.raises(TypeError, match="Widget"):
        JsonSerializer().dumps({"deep": [Widget()]})


def test_json_rejects_bytes_naming_the_type() -> None:
    with pytest.raises(TypeError, match="bytes"):
        JsonSerializer().dumps(b"raw")


@pytest.mark.parametrize("data", [b"{not json", b"", b"\xff\xfe\x00garbage", b'{"a": 1} trailing'])
def test_json_bad_bytes_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"^JSON deserialization failed: "):
        JsonSerializer().loads(data)


def test_json_loads_accepts_bytearray_and_memoryview() -> None:
    serializer = JsonSerializer()
    assert serializer.loads(bytearray(b"[1, 2]")) == [1, 2]
    assert serializer.loads(memoryview(b'{"a": 3}')) == {"a": 3}


def test_json_loads_rejects_str() -> None:
    with pytest.raises(TypeError, match="expects bytes, not str"):
        JsonSerializer().loads("[1]")  # type: ignore[arg-type]


# --- msgpack ------------------------------------------------------------------------------


def test_msgpack_round_trips_and_keeps_bytes_and_str_apart() -> None:
    serializer = MsgPackSerializer()
    payload = ((1, b"\x00\x01", "text"), {"n": 2.5, "none": None, 3: "int key"})

    decoded = serializer.loads(serializer.dumps(payload))

    assert decoded == [[1, b"\x00\x01", "text"], {"n": 2.5, "none": None, 3: "int key"}]
    assert isinstance(decoded[0][1], bytes)
    assert isinstance(decoded[0][2], str)


def test_msgpack_rejects_an_unserializable_object_naming_its_type() -> None:
    class Gadget:
        pass

    with pytest.raises(TypeError, match="Gadget"):
        MsgPackSerializer().dumps([Gadget()])


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x92\x01", b"\x01\x02"])
def test_msgpack_bad_bytes_raise_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"^MsgPack deserialization failed"):
        MsgPackSerializer().loads(data)


def test_msgpack_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "msgpack", None)  # makes `import msgpack` fail

    with pytest.raises(ImportError, match=r'pip install "pytaskito\[msgpack\]"'):
        MsgPackSerializer()


# --- encryption ---------------------------------------------------------------------------


@pytest.mark.parametrize("key_size", [16, 24, 32])
def test_encrypted_round_trips_with_every_aes_key_size(key_size: int) -> None:
    serializer = EncryptedSerializer(CloudpickleSerializer(), bytes(range(key_size)))
    payload = ((1, 2), {"secret": "hunter2"})

    assert serializer.loads(serializer.dumps(payload)) == payload


def test_encrypted_output_is_nonce_plus_aes_gcm_of_the_inner_bytes() -> None:
    inner = JsonSerializer()
    data = EncryptedSerializer(inner, KEY_32).dumps({"secret": "hunter2"})

    nonce, ciphertext = data[:12], data[12:]
    plaintext = AESGCM(KEY_32).decrypt(nonce, ciphertext, None)

    assert plaintext == inner.dumps({"secret": "hunter2"})
    assert b"hunter2" not in data
    assert len(data) == 12 + len(plaintext) + 16  # nonce + ciphertext + GCM tag


def test_encrypted_uses_a_fresh_nonce_each_time() -> None:
    serializer = EncryptedSerializer(JsonSerializer(), KEY_32)
    outputs = {serializer.dumps("same") for _ in range(50)}

    assert len(outputs) == 50
    assert len({output[:12] for output in outputs}) == 50


def test_encrypted_tampering_with_any_byte_fails_decryption() -> None:
    serializer = EncryptedSerializer(JsonSerializer(), KEY_32)
    data = serializer.dumps({"amount": 100})

    for index in range(len(data)):
        tampered = bytearray(data)
        tampered[index] ^= 0x01
        with pytest.raises(ValueError, match=r"^Decryption failed$"):
            serializer.loads(bytes(tampered))


def test_encrypted_wrong_key_fails_decryption() -> None:
    data = EncryptedSerializer(JsonSerializer(), KEY_32).dumps([1, 2, 3])
    other = EncryptedSerializer(JsonSerializer(), bytes(32))

    with pytest.raises(ValueError, match=r"^Decryption failed$"):
        other.loads(data)


@pytest.mark.parametrize("data", [b"", b"short", bytes(27)])
def test_encrypted_truncated_input_fails_decryption(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"^Decryption failed$"):
        EncryptedSerializer(JsonSerializer(), KEY_32).loads(data)


def test_encrypted_decryption_error_does_not_chain_the_crypto_exception() -> None:
    serializer = EncryptedSerializer(JsonSerializer(), KEY_32)
    with pytest.raises(ValueError) as info:
        serializer.loads(bytes(40))
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize("key", ["a" * 32, 12345, None])
def test_encrypted_key_must_be_bytes(key: object) -> None:
    with pytest.raises(TypeError, match="key must be bytes"):
        EncryptedSerializer(JsonSerializer(), key)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, 8, 15, 17, 31, 33, 64])
def test_encrypted_key_must_be_16_24_or_32_bytes(size: int) -> None:
    with pytest.raises(ValueError, match=f"16, 24 or 32 bytes long.*got {size} bytes"):
        EncryptedSerializer(JsonSerializer(), bytes(size))


def test_encrypted_accepts_a_bytearray_key() -> None:
    serializer = EncryptedSerializer(JsonSerializer(), bytearray(KEY_32))
    assert serializer.loads(serializer.dumps("x")) == "x"


def test_encrypted_inner_must_be_a_serializer() -> None:
    with pytest.raises(TypeError, match="inner must be a Serializer"):
        EncryptedSerializer("json", KEY_32)  # type: ignore[arg-type]


def test_encrypted_repr_does_not_show_the_key() -> None:
    text = repr(EncryptedSerializer(JsonSerializer(), KEY_32))
    assert "EncryptedSerializer" in text
    assert KEY_32.hex() not in text
    assert repr(KEY_32) not in text


def test_encrypted_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.ciphers.aead", None)

    with pytest.raises(ImportError, match=r'pip install "pytaskito\[encryption\]"'):
        EncryptedSerializer(JsonSerializer(), KEY_32)


# --- threads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        CloudpickleSerializer,
        JsonSerializer,
        MsgPackSerializer,
        lambda: EncryptedSerializer(MsgPackSerializer(), KEY_32),
    ],
    ids=["cloudpickle", "json", "msgpack", "encrypted"],
)
def test_one_instance_serves_many_threads(make: Any) -> None:
    serializer = make()
    failures: list[str] = []

    def work(worker: int) -> None:
        for n in range(300):
            value = {"worker": worker, "n": n, "items": [worker] * (n % 7)}
            if serializer.loads(serializer.dumps(value)) != value:
                failures.append(f"worker {worker} item {n}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
