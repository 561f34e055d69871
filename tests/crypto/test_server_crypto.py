"""Server side: opening sealed reports, key serialization, envelope encryption at rest, signing."""

from __future__ import annotations

import pytest

from crashveil.errors import ConfigError, SealError
from crashveil.sdk.delivery.seal import seal_report, verify_config_signature
from crashveil.server.keys.crypto import (
    ProjectKeyPair,
    SigningKey,
    decrypt_detail,
    detail_aad,
    encrypt_detail,
    new_data_key,
    open_report,
    unwrap_key,
    wrap_key,
)

SUITES = ["mlkem768x25519", "x25519"]
OPEN_FAILED = "could not open the sealed report"
PAYLOAD = b'{"exception": {"type": "KeyError"}, "frames": []}' * 20


@pytest.fixture(scope="module", params=SUITES)
def keypair(request: pytest.FixtureRequest) -> ProjectKeyPair:
    """One project key pair per suite, generated once for the module."""
    return ProjectKeyPair.generate(request.param)


def _seal(keypair: ProjectKeyPair, payload: bytes = PAYLOAD, project_id: str = "proj-1") -> bytes:
    return seal_report(payload, keypair.public_key(), project_id=project_id, schema_version=1)


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def _open_failure(
    sealed: bytes, keypairs: list[ProjectKeyPair], project_id: str = "proj-1", schema_version: int = 1
) -> SealError:
    with pytest.raises(SealError) as info:
        open_report(sealed, keypairs, project_id=project_id, schema_version=schema_version)
    return info.value


# --- opening ----------------------------------------------------------------------------------


def test_open_round_trip(keypair: ProjectKeyPair) -> None:
    """What the SDK sealed, the server opens with the same project id and schema version."""
    assert PAYLOAD == open_report(_seal(keypair), [keypair], project_id="proj-1", schema_version=1)


def test_open_empty_payload_round_trip(keypair: ProjectKeyPair) -> None:
    """An empty payload is sealed and opened like any other."""
    assert b"" == open_report(_seal(keypair, b""), [keypair], project_id="proj-1", schema_version=1)


def test_open_accepts_bytearray(keypair: ProjectKeyPair) -> None:
    """A bytearray body (as a server may read it) opens like bytes."""
    assert PAYLOAD == open_report(bytearray(_seal(keypair)), [keypair], project_id="proj-1", schema_version=1)


@pytest.mark.parametrize(
    "case",
    [
        "wrong project id",
        "wrong schema version",
        "magic byte flipped",
        "suite byte flipped",
        "enc byte flipped",
        "ciphertext byte flipped",
        "tag byte flipped",
        "truncated by one",
        "header only",
        "empty",
        "garbage",
        "not bytes",
        "wrong key",
        "no keys",
    ],
)
def test_open_failures_are_one_opaque_seal_error(keypair: ProjectKeyPair, case: str) -> None:
    """Every way of failing to open raises SealError with the same message, no matter the cause."""
    sealed = _seal(keypair)
    keys: list[ProjectKeyPair] = [keypair]
    project_id, schema_version = "proj-1", 1
    if case == "wrong project id":
        project_id = "proj-2"
    elif case == "wrong schema version":
        schema_version = 2
    elif case == "magic byte flipped":
        sealed = _flip(sealed, 0)
    elif case == "suite byte flipped":
        sealed = sealed[:4] + bytes([3 - sealed[4]]) + sealed[5:]  # 0x01 <-> 0x02, both known
    elif case == "enc byte flipped":
        sealed = _flip(sealed, 10)
    elif case == "ciphertext byte flipped":
        sealed = _flip(sealed, len(sealed) - 30)
    elif case == "tag byte flipped":
        sealed = _flip(sealed, len(sealed) - 1)
    elif case == "truncated by one":
        sealed = sealed[:-1]
    elif case == "header only":
        sealed = sealed[:5]
    elif case == "empty":
        sealed = b""
    elif case == "garbage":
        sealed = b"CVS1\x02" + b"\xaa" * 2000
    elif case == "not bytes":
        sealed = "CVS1"  # type: ignore[assignment]
    elif case == "wrong key":
        keys = [ProjectKeyPair.generate(keypair.suite)]
    else:
        keys = []
    error = _open_failure(sealed, keys, project_id, schema_version)
    assert OPEN_FAILED == str(error)


def test_open_failure_does_not_echo_payload(keypair: ProjectKeyPair) -> None:
    """The error text carries nothing of the report, the project id or the key."""
    error = _open_failure(_seal(keypair, b"alice@example.org"), [keypair], project_id="other")
    assert OPEN_FAILED == str(error)
    assert False is ("alice" in repr(error.args))


def test_open_with_rotation_overlap() -> None:
    """With keys [new, old], reports sealed to either key open; a retired key's reports do not."""
    old, new = ProjectKeyPair.generate(), ProjectKeyPair.generate()
    for sealed_to in (old, new):
        sealed = _seal(sealed_to)
        assert PAYLOAD == open_report(sealed, [new, old], project_id="proj-1", schema_version=1)
    assert OPEN_FAILED == str(_open_failure(_seal(old), [new]))


def test_open_with_mixed_suites_in_the_key_list() -> None:
    """During a suite migration, keys of both suites may sit in one list; each envelope finds its own."""
    hybrid, classic = ProjectKeyPair.generate("mlkem768x25519"), ProjectKeyPair.generate("x25519")
    for sealed_to in (hybrid, classic):
        assert PAYLOAD == open_report(_seal(sealed_to), [hybrid, classic], project_id="proj-1", schema_version=1)


# --- key serialization ------------------------------------------------------------------------


def test_private_bytes_round_trip(keypair: ProjectKeyPair) -> None:
    """A key pair loaded from its private bytes has the same public key and opens the same reports."""
    loaded = ProjectKeyPair.from_private_bytes(keypair.private_bytes())
    assert keypair.suite == loaded.suite
    assert keypair.public_key_string() == loaded.public_key_string()
    assert PAYLOAD == open_report(_seal(keypair), [loaded], project_id="proj-1", schema_version=1)


def test_private_bytes_sizes() -> None:
    """Private keys are magic + suite id + 32 bytes (X25519) or 64 + 32 bytes (hybrid)."""
    assert 5 + 32 == len(ProjectKeyPair.generate("x25519").private_bytes())
    assert 5 + 96 == len(ProjectKeyPair.generate("mlkem768x25519").private_bytes())


@pytest.mark.parametrize(
    ("mangle", "problem"),
    [
        (lambda data: b"", "is not a crashveil project key"),
        (lambda data: b"XXXX" + data[4:], "is not a crashveil project key"),
        (lambda data: data[:4] + b"\x09" + data[5:], "names an unknown suite"),
        (lambda data: data[:-1], None),
    ],
)
def test_from_private_bytes_rejects_other_data(keypair: ProjectKeyPair, mangle, problem: str | None) -> None:
    """Data that is not a stored project key raises ConfigError without echoing key material."""
    data = keypair.private_bytes()
    with pytest.raises(ConfigError) as info:
        ProjectKeyPair.from_private_bytes(mangle(data))
    expected_problem = problem or f"has {len(data) - 6} bytes of key material"
    assert expected_problem == info.value.problem
    assert False is (data[5:].hex() in str(info.value))


def test_generate_unknown_suite_is_config_error() -> None:
    """Asking for a suite we do not define names the choices."""
    with pytest.raises(ConfigError) as info:
        ProjectKeyPair.generate("p256")
    assert "mlkem768x25519 or x25519" == info.value.expected


def test_hybrid_suite_without_mlkem_support_is_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a cryptography build without ML-KEM (47.x OpenSSL wheels), generate() names the fix."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import mlkem

    def unsupported(cls: type) -> None:
        raise UnsupportedAlgorithm("ML-KEM-768 is not supported by this backend.")

    monkeypatch.setattr(mlkem.MLKEM768PrivateKey, "generate", classmethod(unsupported))
    with pytest.raises(ConfigError) as info:
        ProjectKeyPair.generate("mlkem768x25519")
    assert "suite" == info.value.key
    assert "cryptography >= 48 built with OpenSSL >= 3.5, AWS-LC or BoringSSL; or suite x25519" == info.value.expected


def test_repr_hides_private_key(keypair: ProjectKeyPair) -> None:
    """The repr names the suite only."""
    assert f"<ProjectKeyPair {keypair.suite}>" == repr(keypair)


# --- envelope encryption at rest --------------------------------------------------------------


def test_new_data_key_is_32_fresh_bytes() -> None:
    """Data keys are 32 bytes and never repeat."""
    first, second = new_data_key(), new_data_key()
    assert (32, 32) == (len(first), len(second))
    assert False is (first == second)


def test_wrap_unwrap_round_trip() -> None:
    """A wrapped data key unwraps to itself with the same KEK and key id; wrapped form is 61 bytes."""
    kek, dek = new_data_key(), new_data_key()
    wrapped = wrap_key(kek, dek, key_id="proj-1/2026-05-01")
    assert 61 == len(wrapped)
    assert dek == unwrap_key(kek, wrapped, key_id="proj-1/2026-05-01")


@pytest.mark.parametrize("case", ["wrong key id", "wrong kek", "flipped byte", "truncated", "empty", "short kek"])
def test_unwrap_failures_are_opaque(case: str) -> None:
    """Unwrapping under another key id or KEK, or of damaged bytes, raises one SealError."""
    kek, dek = new_data_key(), new_data_key()
    wrapped = wrap_key(kek, dek, key_id="proj-1/2026-05-01")
    key_id = "proj-1/2026-05-01"
    if case == "wrong key id":
        key_id = "proj-1/2026-05-02"
    elif case == "wrong kek":
        kek = new_data_key()
    elif case == "flipped byte":
        wrapped = _flip(wrapped, 20)
    elif case == "truncated":
        wrapped = wrapped[:-1]
    elif case == "empty":
        wrapped = b""
    else:
        kek = kek[:16]
    with pytest.raises(SealError) as info:
        unwrap_key(kek, wrapped, key_id=key_id)
    assert "could not unwrap the data key" == str(info.value)


def test_wrap_rejects_wrong_key_length_by_name() -> None:
    """A KEK that is not 32 bytes is a ConfigError naming 'kek' and its length, not its value."""
    with pytest.raises(ConfigError) as info:
        wrap_key(b"k" * 16, new_data_key(), key_id="k")
    assert ("kek", "is 16 bytes", "32 bytes") == (info.value.key, info.value.problem, info.value.expected)


def test_detail_round_trip_compresses() -> None:
    """A detail decrypts to itself under the same DEK and AAD, and repetitive text is stored smaller."""
    dek = new_data_key()
    aad = detail_aad("proj-1", "report-1", "2026-05-01")
    plaintext = b'{"frame": "app/handlers.py", "line": 10}' * 100
    blob = encrypt_detail(dek, plaintext, aad=aad)
    assert plaintext == decrypt_detail(dek, blob, aad=aad)
    assert True is (len(blob) < len(plaintext) // 4)
    assert b"\x02" == blob[:1]


def test_detail_format_1_zlib_still_decrypts() -> None:
    """A detail sealed by an older server (format 1: zlib) decrypts to its plaintext, and is
    bound to its version byte like format 2 (a fixed vector written by that code)."""
    dek = bytes(range(32))
    aad = detail_aad("proj-1", "report-1", "2026-05-01")
    blob = bytes.fromhex(
        "016720fa4ec846daee3ae4e2971cef38563eb1fea6fb8abf6681d05eac9ca5e6aa99ca06a9b118cfb0d076783070e1a405f541d575261"
        "510e4e645422802a6d263974869f65c2fb4c160a8851e65ff6e45263c763d08")
    assert b'{"report":{"crash_type":"ValueError"},"server":{}}' == decrypt_detail(dek, blob, aad=aad)
    with pytest.raises(SealError):
        decrypt_detail(dek, b"\x02" + blob[1:], aad=aad)


@pytest.mark.parametrize(
    "case",
    ["other report", "other day", "other project", "other dek", "flipped byte", "version byte", "unknown version",
     "truncated", "empty"],
)
def test_decrypt_detail_failures_are_opaque(case: str) -> None:
    """A detail read under another row's AAD, another DEK, or damaged, raises one SealError."""
    dek = new_data_key()
    blob = encrypt_detail(dek, b"detail", aad=detail_aad("proj-1", "report-1", "2026-05-01"))
    aad = detail_aad("proj-1", "report-1", "2026-05-01")
    if case == "other report":
        aad = detail_aad("proj-1", "report-2", "2026-05-01")
    elif case == "other day":
        aad = detail_aad("proj-1", "report-1", "2026-05-02")
    elif case == "other project":
        aad = detail_aad("proj-2", "report-1", "2026-05-01")
    elif case == "other dek":
        dek = new_data_key()
    elif case == "flipped byte":
        blob = _flip(blob, len(blob) - 5)
    elif case == "version byte":
        blob = b"\x01" + blob[1:]  # format 1 is known: the authenticated version byte refuses it
    elif case == "unknown version":
        blob = b"\x03" + blob[1:]
    elif case == "truncated":
        blob = blob[:20]
    else:
        blob = b""
    with pytest.raises(SealError) as info:
        decrypt_detail(dek, blob, aad=aad)
    assert "could not decrypt the report detail" == str(info.value)


def test_detail_aad_is_unambiguous() -> None:
    """Moving characters between fields changes the AAD (fields are length-prefixed)."""
    assert False is (detail_aad("ab", "c", "d") == detail_aad("a", "bc", "d"))
    assert False is (detail_aad("a", "", "bc") == detail_aad("a", "b", "c"))


def test_destroyed_dek_means_nothing_decrypts() -> None:
    """Crypto-shredding: once the DEK and its wrapped copy are gone, no other key opens the detail."""
    kek = new_data_key()
    dek = new_data_key()
    wrapped = wrap_key(kek, dek, key_id="proj-1/2026-05-01")
    aad = detail_aad("proj-1", "report-1", "2026-05-01")
    blob = encrypt_detail(dek, b"stack trace", aad=aad)
    del dek, wrapped  # the day's key is destroyed; only the KEK and the blob remain
    for candidate in (kek, new_data_key(), bytes(32)):
        with pytest.raises(SealError) as info:
            decrypt_detail(candidate, blob, aad=aad)
        assert "could not decrypt the report detail" == str(info.value)


# --- signing ----------------------------------------------------------------------------------


def test_signing_key_round_trip_and_verify() -> None:
    """A signing key reloaded from its bytes signs verifiably under the same pinned key string."""
    key = SigningKey.generate()
    loaded = SigningKey.from_private_bytes(key.private_bytes())
    assert key.public_key_string() == loaded.public_key_string()
    assert True is key.public_key_string().startswith("ed25519:")
    data = b'{"policy_version": 3}'
    assert True is verify_config_signature(data, loaded.sign(data), key.public_key_string())


def test_tampered_signature_fails() -> None:
    """A signature with one bit changed does not verify."""
    key = SigningKey.generate()
    signature = key.sign(b"config")
    assert False is verify_config_signature(b"config", _flip(signature, 5), key.public_key_string())


def test_signing_key_rejects_wrong_length() -> None:
    """Anything but 32 raw bytes is a ConfigError naming the signing key."""
    with pytest.raises(ConfigError) as info:
        SigningKey.from_private_bytes(b"short")
    assert "config signing key" == info.value.key
