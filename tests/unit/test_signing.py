"""Signing (taskito.signing) and the job-bound EncryptedSerializer: framing, rotation, bad keys,
tampering, the wrong job or task, and the constant-time comparison."""

from __future__ import annotations

import ast
import hmac
import inspect
import textwrap
from typing import Any

import pytest

from taskito import signing
from taskito.exceptions import SerializationError, SignatureError
from taskito.serializers import (
    CloudpickleSerializer,
    EncryptedSerializer,
    JsonSerializer,
    dumps_bound,
    loads_bound,
    rebind_bound,
)
from taskito.signing import (
    Signer,
    bound_context,
    payload_context,
    result_context,
    signer_from_settings,
)

KEY = b"k" * 32
OLD_KEY = b"o" * 32
AES = bytes(range(32))
OLD_AES = bytes(range(32, 64))


def _signed(job_id: str = "job-1", task: str = "app.add", data: bytes = b"data") -> bytes:
    return Signer([KEY]).sign(payload_context(job_id, task), data)


# --- framing --------------------------------------------------------------------------------


def test_fields_are_framed_so_shifting_a_boundary_changes_the_context() -> None:
    assert payload_context("ab", "c") != payload_context("a", "bc")
    assert payload_context("", "abc") != payload_context("abc", "")
    envelope = Signer([KEY]).sign(payload_context("ab", "c"), b"x")
    with pytest.raises(SignatureError, match="not signed by a known key"):
        Signer([KEY]).verify(payload_context("a", "bc"), envelope)


def test_the_data_length_is_framed_too() -> None:
    # Moving bytes between the context and the data cannot keep a tag valid.
    signer = Signer([KEY])
    context = bound_context(b"payload", "job", "task")
    envelope = signer.sign(context, b"abc")
    shifted = envelope[:-1]
    with pytest.raises(SignatureError):
        signer.verify(context + b"c", shifted)


def test_payload_and_result_contexts_differ() -> None:
    envelope = Signer([KEY]).sign(payload_context("job", "task"), b"x")
    with pytest.raises(SignatureError, match="not signed by a known key"):
        Signer([KEY]).verify(result_context("job", "task"), envelope)


def test_envelope_is_versioned_header_tag_and_data() -> None:
    envelope = _signed(data=b"hello")
    assert envelope[:4] == b"\x00tks"
    assert envelope[4] == 1
    assert len(envelope) == 5 + 32 + len(b"hello")
    assert envelope.endswith(b"hello")
    expected = hmac.new(
        KEY, payload_context("job-1", "app.add") + (5).to_bytes(8, "big") + b"hello", "sha256"
    ).digest()
    assert envelope[5:37] == expected


def test_round_trip_returns_the_data() -> None:
    signer = Signer([KEY])
    context = payload_context("job-1", "app.add")
    assert signer.verify(context, signer.sign(context, b"")) == b""
    assert signer.verify(context, signer.sign(context, b"\x80\x05abc")) == b"\x80\x05abc"


def test_ids_and_names_with_lone_surrogates_still_frame() -> None:
    context = payload_context("job-\udcff", "t\udc80")
    signer = Signer([KEY])
    assert signer.verify(context, signer.sign(context, b"x")) == b"x"


# --- failures -------------------------------------------------------------------------------


def test_wrong_job_id_fails() -> None:
    with pytest.raises(SignatureError, match=r"^not signed by a known key$"):
        Signer([KEY]).verify(payload_context("job-2", "app.add"), _signed())


def test_wrong_task_name_fails() -> None:
    with pytest.raises(SignatureError, match=r"^not signed by a known key$"):
        Signer([KEY]).verify(payload_context("job-1", "app.other"), _signed())


def test_tampering_with_any_byte_fails() -> None:
    envelope = _signed(data=b"some payload bytes")
    context = payload_context("job-1", "app.add")
    for index in range(len(envelope)):
        tampered = bytearray(envelope)
        tampered[index] ^= 0x01
        with pytest.raises(SignatureError):
            Signer([KEY]).verify(context, bytes(tampered))


def test_appended_or_cut_bytes_fail() -> None:
    envelope = _signed()
    context = payload_context("job-1", "app.add")
    for changed in (envelope + b"!", envelope[:-1], envelope[:37]):
        with pytest.raises(SignatureError):
            Signer([KEY]).verify(context, changed)


@pytest.mark.parametrize("data", [b"", b"\x80\x05plain pickle", b"[[1], {}]", b"\x00tk"])
def test_unsigned_bytes_fail_as_unsigned(data: bytes) -> None:
    with pytest.raises(SignatureError, match=r"^unsigned payload$"):
        Signer([KEY]).verify(payload_context("j", "t"), data)


def test_unknown_version_and_truncation_are_named() -> None:
    with pytest.raises(SignatureError, match=r"^unknown envelope version 2$"):
        Signer([KEY]).verify(payload_context("j", "t"), b"\x00tks\x02" + bytes(40))
    with pytest.raises(SignatureError, match=r"^truncated envelope$"):
        Signer([KEY]).verify(payload_context("j", "t"), b"\x00tks\x01" + bytes(31))


def test_a_signature_error_is_a_serialization_error() -> None:
    assert issubclass(SignatureError, SerializationError)


# --- rotation -------------------------------------------------------------------------------


def test_first_key_signs_and_every_key_verifies() -> None:
    context = payload_context("job", "task")
    old_signed = Signer([OLD_KEY]).sign(context, b"x")
    rotated = Signer([KEY, OLD_KEY])
    assert rotated.verify(context, old_signed) == b"x"
    new_signed = rotated.sign(context, b"x")
    assert new_signed == Signer([KEY]).sign(context, b"x")
    with pytest.raises(SignatureError, match="not signed by a known key"):
        Signer([OLD_KEY]).verify(context, new_signed)


def test_a_dropped_key_no_longer_verifies() -> None:
    context = payload_context("job", "task")
    old_signed = Signer([OLD_KEY]).sign(context, b"x")
    with pytest.raises(SignatureError):
        Signer([KEY]).verify(context, old_signed)


# --- the constant-time comparison -----------------------------------------------------------


def test_verify_compares_tags_with_compare_digest_only() -> None:
    tree = ast.parse(textwrap.dedent(inspect.getsource(Signer.verify)))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "compare_digest"
    ]
    assert calls, "verify() must compare tags with hmac.compare_digest"
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, ast.Eq | ast.NotEq) for op in node.ops
        ):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            assert "tag" not in names, "a tag must never be compared with =="


def test_verify_calls_compare_digest_for_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        seen.append(1)
        return real(a, b)

    monkeypatch.setattr(signing.hmac, "compare_digest", counting)
    context = payload_context("job", "task")
    signer = Signer([KEY, OLD_KEY, b"x" * 16])
    signer.verify(context, signer.sign(context, b"x"))
    assert len(seen) == 3  # a match on the first key does not stop the loop early


# --- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (b"", ValueError, r"^signing_key is empty$"),
        ("", ValueError, r"^signing_key is empty$"),
        (b"short-key", ValueError, r"^signing_key is 9 bytes long: .* at least 16$"),
        ("fifteen-chars!!", ValueError, r"^signing_key is 15 bytes long"),
        (12345, TypeError, r"^signing_key must be bytes, a str or a list of them, not int$"),
        ([], ValueError, r"^signing_key is an empty list"),
        ([KEY, None], TypeError, r"^signing_key\[1\] must be bytes or a str, not NoneType$"),
        ([KEY, b"tiny"], ValueError, r"^signing_key\[1\] is 4 bytes long"),
    ],
)
def test_bad_keys_are_refused_without_echoing_them(
    value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as info:
        signer_from_settings(value, environ={})
    for secret in ("short-key", "fifteen-chars", "tiny"):
        assert secret not in str(info.value)


def test_str_keys_are_their_utf8_bytes() -> None:
    context = payload_context("j", "t")
    assert Signer([b"\xc3\xa9" * 8]).sign(context, b"x") == Signer(["é" * 8]).sign(  # type: ignore[list-item]
        context, b"x"
    )


def test_the_environment_variable_gives_the_keys_when_no_argument_does() -> None:
    assert signer_from_settings(None, environ={}) is None
    from_env = signer_from_settings(
        None, environ={"TASKITO_SIGNING_KEY": f"{'n' * 16}, {'o' * 16}"}
    )
    assert from_env is not None and from_env.key_count == 2
    context = payload_context("j", "t")
    assert from_env.sign(context, b"x") == Signer([b"n" * 16]).sign(context, b"x")
    assert from_env.verify(context, Signer([b"o" * 16]).sign(context, b"x")) == b"x"
    explicit = signer_from_settings(KEY, environ={"TASKITO_SIGNING_KEY": "n" * 16})
    assert explicit is not None and explicit.key_count == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"^TASKITO_SIGNING_KEY is set but empty"),
        ("   ", r"^TASKITO_SIGNING_KEY is set but empty"),
        ("n" * 16 + ",", r"^TASKITO_SIGNING_KEY\[1\] is empty$"),
        ("n" * 16 + ",abc", r"^TASKITO_SIGNING_KEY\[1\] is 3 bytes long"),
    ],
)
def test_a_bad_environment_variable_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        signer_from_settings(None, environ={"TASKITO_SIGNING_KEY": text})


def test_repr_does_not_show_a_key() -> None:
    assert "k" * 16 not in repr(Signer([KEY]))
    assert repr(Signer([KEY, OLD_KEY])) == "<Signer keys=2>"


def test_without_a_key_an_envelope_is_stripped_unchecked() -> None:
    context = payload_context("j", "t")
    assert signing.unseal(None, context, _signed(data=b"abc")) == b"abc"
    assert signing.unseal(None, context, b"plain") == b"plain"
    assert signing.seal(None, context, b"plain") == b"plain"


# --- EncryptedSerializer bound to the job ---------------------------------------------------


def test_encryption_binds_the_context_as_associated_data() -> None:
    serializer = EncryptedSerializer(JsonSerializer(), AES)
    context = payload_context("job-1", "app.add")
    data = dumps_bound(serializer, [[1, 2], {}], context)
    assert loads_bound(serializer, data, context) == [[1, 2], {}]
    for other in (payload_context("job-2", "app.add"), payload_context("job-1", "app.sub"), b""):
        with pytest.raises(ValueError, match=r"^Decryption failed$"):
            loads_bound(serializer, data, other)


def test_serializers_without_context_support_never_see_it() -> None:
    class Plain:
        def dumps(self, obj: Any) -> bytes:
            return repr(obj).encode()

        def loads(self, data: bytes) -> Any:
            return data.decode()

    context = payload_context("j", "t")
    assert dumps_bound(Plain(), 1, context) == b"1"  # type: ignore[arg-type]
    assert loads_bound(Plain(), b"1", context) == "1"  # type: ignore[arg-type]


def test_encryption_rotation_decrypts_with_old_keys_and_encrypts_with_the_first() -> None:
    context = payload_context("job", "task")
    old = EncryptedSerializer(CloudpickleSerializer(), OLD_AES)
    rotated = EncryptedSerializer(CloudpickleSerializer(), [AES, OLD_AES])
    assert rotated.loads(old.dumps({"a": 1}, context=context), context=context) == {"a": 1}
    fresh = rotated.dumps({"a": 2}, context=context)
    assert EncryptedSerializer(CloudpickleSerializer(), AES).loads(fresh, context=context) == {
        "a": 2
    }
    with pytest.raises(ValueError, match=r"^Decryption failed$"):
        old.loads(fresh, context=context)


def test_rebind_moves_ciphertext_to_a_new_context_without_the_old_key_encrypting() -> None:
    rotated = EncryptedSerializer(JsonSerializer(), [AES, OLD_AES])
    old_ctx, new_ctx = payload_context("job-1", "t"), payload_context("job-2", "t")
    data = EncryptedSerializer(JsonSerializer(), OLD_AES).dumps([1], context=old_ctx)
    moved = rebind_bound(rotated, data, old_ctx, new_ctx)
    assert EncryptedSerializer(JsonSerializer(), AES).loads(moved, context=new_ctx) == [1]
    with pytest.raises(ValueError, match=r"^Decryption failed$"):
        rotated.loads(moved, context=old_ctx)
    with pytest.raises(ValueError, match=r"^Decryption failed$"):
        rebind_bound(rotated, data, new_ctx, old_ctx)


def test_signing_rebind_verifies_then_signs_for_the_new_id() -> None:
    signer = Signer([KEY])
    old_ctx, new_ctx = payload_context("job-1", "t"), payload_context("job-2", "t")
    moved = signing.rebind(JsonSerializer(), signer, signer.sign(old_ctx, b"[]"), old_ctx, new_ctx)
    assert signer.verify(new_ctx, moved) == b"[]"
    with pytest.raises(SignatureError, match=r"^unsigned payload$"):
        signing.rebind(JsonSerializer(), signer, b"[]", old_ctx, new_ctx)


@pytest.mark.parametrize(
    ("key", "error", "message"),
    [
        ([], ValueError, r"^key is an empty list"),
        ([AES, b"short"], ValueError, r"^key\[1\] must be 16, 24 or 32 bytes long"),
        ([AES, "a" * 32], TypeError, r"^key\[1\] must be bytes, not str$"),
    ],
)
def test_encryption_key_lists_are_checked(
    key: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        EncryptedSerializer(JsonSerializer(), key)  # type: ignore[arg-type]


def test_one_signer_serves_many_threads() -> None:
    import threading

    signer = Signer([KEY, OLD_KEY])
    contexts = [payload_context(f"job-{i}", "task") for i in range(200)]
    expected = [signer.sign(context, b"data") for context in contexts]
    failures: list[int] = []

    def work() -> None:
        for index, context in enumerate(contexts):
            envelope = signer.sign(context, b"data")
            if envelope != expected[index] or signer.verify(context, envelope) != b"data":
                failures.append(index)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
