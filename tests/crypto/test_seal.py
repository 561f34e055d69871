"""Client side: key strings, sealing, remote-config signatures, lazy import, seal timing."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import timeit
from pathlib import Path

import pytest

from crashveil.errors import ConfigError, SealError
from crashveil.sdk.delivery.seal import seal_report, verify_config_signature, warm_up
from crashveil.server.keys.crypto import ProjectKeyPair, SigningKey, open_report
from crashveil.wire import keyfmt
from crashveil.wire.keyfmt import ProjectPublicKey

SUITES = ["mlkem768x25519", "x25519"]
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module", params=SUITES)
def keypair(request: pytest.FixtureRequest) -> ProjectKeyPair:
    """One project key pair per suite, generated once for the module."""
    return ProjectKeyPair.generate(request.param)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_seal_then_open_round_trip(keypair: ProjectKeyPair) -> None:
    """A report sealed with the public key string opens with the matching key pair."""
    public_key = ProjectPublicKey.parse(keypair.public_key_string())
    payload = b'{"exception": "ValueError"}' * 50
    sealed = seal_report(payload, public_key, project_id="proj-1", schema_version=1)
    assert payload == open_report(sealed, [keypair], project_id="proj-1", schema_version=1)


def test_envelope_header_is_magic_and_suite_id(keypair: ProjectKeyPair) -> None:
    """The envelope starts with b"CVS1" and the suite's id byte, then the HPKE enc and ciphertext."""
    public_key = keypair.public_key()
    sealed = seal_report(b"x" * 10, public_key, project_id="p", schema_version=1)
    suite = keyfmt.SUITES[keypair.suite]
    assert b"CVS1" + bytes([suite.suite_id]) == sealed[:5]
    assert 5 + suite.enc_bytes + 10 + 16 == len(sealed)


def test_sealing_twice_gives_different_envelopes(keypair: ProjectKeyPair) -> None:
    """Each seal uses a fresh ephemeral key, so equal payloads do not produce equal envelopes."""
    public_key = keypair.public_key()
    first = seal_report(b"same", public_key, project_id="p", schema_version=1)
    second = seal_report(b"same", public_key, project_id="p", schema_version=1)
    assert False is (first == second)


def test_default_suite_is_hybrid() -> None:
    """Without an argument, generate() makes an ML-KEM-768 + X25519 key pair."""
    keypair = ProjectKeyPair.generate()
    assert "mlkem768x25519" == keypair.suite
    assert keypair.public_key_string().startswith("mlkem768x25519:")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"project_id": "", "schema_version": 1}, "empty project id"),
        ({"project_id": "p", "schema_version": -1}, "negative schema version"),
        ({"project_id": "p", "schema_version": True}, "bool schema version"),
        ({"project_id": 7, "schema_version": 1}, "project id not str"),
    ],
)
def test_seal_bad_context_raises_opaque_seal_error(keypair: ProjectKeyPair, kwargs: dict, name: str) -> None:
    """Unusable context values raise SealError with the one opaque message, cause chained."""
    with pytest.raises(SealError) as info:
        seal_report(b"x", keypair.public_key(), **kwargs)
    assert "could not seal the report" == str(info.value)
    assert info.value.__cause__ is not None


def test_seal_non_bytes_payload_raises_seal_error(keypair: ProjectKeyPair) -> None:
    """A payload that is not bytes is a SealError, not a TypeError escaping into the app."""
    with pytest.raises(SealError) as info:
        seal_report("text", keypair.public_key(), project_id="p", schema_version=1)  # type: ignore[arg-type]
    assert "could not seal the report" == str(info.value)


def test_public_key_string_round_trip(keypair: ProjectKeyPair) -> None:
    """Parsing a key string and formatting it again gives the same string."""
    text = keypair.public_key_string()
    assert text == str(ProjectPublicKey.parse(text))


def test_public_key_string_tolerates_surrounding_whitespace(keypair: ProjectKeyPair) -> None:
    """A trailing newline from an environment file does not break the key."""
    text = keypair.public_key_string()
    assert ProjectPublicKey.parse(text) == ProjectPublicKey.parse(text + "\n")


SECRET_LOOKING = "c2VjcmV0LXBhc3N3b3JkLWRvLW5vdC1lY2hv"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (SECRET_LOOKING, "has no '<algorithm>:' prefix"),
        ("rsa:" + SECRET_LOOKING, "names an unknown algorithm"),
        ("x25519:" + SECRET_LOOKING + "!", "is not valid unpadded base64url after the prefix"),
        ("x25519:" + _b64(b"k" * 32) + "==", "is not valid unpadded base64url after the prefix"),
        ("x25519:", "is not valid unpadded base64url after the prefix"),
        ("x25519:" + _b64(b"k" * 31), "decodes to 31 bytes"),
        ("mlkem768x25519:" + _b64(b"k" * 32), "decodes to 32 bytes"),
        ("ed25519:" + _b64(b"k" * 32), "is an ed25519 key, which cannot be used here"),
    ],
)
def test_public_key_parse_errors_name_the_problem_without_echo(text: str, problem: str) -> None:
    """A bad key string raises ConfigError naming the option and the problem, never the string."""
    with pytest.raises(ConfigError) as info:
        ProjectPublicKey.parse(text, key="public_key")
    assert "public_key" == info.value.key
    assert problem == info.value.problem
    assert False is (SECRET_LOOKING in str(info.value))


def test_public_key_parse_rejects_non_canonical_base64() -> None:
    """Non-zero padding bits are rejected, so each key has exactly one spelling."""
    canonical = _b64(b"k" * 32)  # 43 chars; the last one carries 2 unused bits
    last = canonical[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    tweaked = canonical[:-1] + alphabet[alphabet.index(last) ^ 1]
    with pytest.raises(ConfigError) as info:
        ProjectPublicKey.parse("x25519:" + tweaked)
    assert "is not valid unpadded base64url after the prefix" == info.value.problem


def test_public_key_parse_rejects_non_string() -> None:
    """Bytes instead of a string are named as such."""
    with pytest.raises(ConfigError) as info:
        ProjectPublicKey.parse(b"x25519:abc")  # type: ignore[arg-type]
    assert "is a bytes, not a key string" == info.value.problem


def test_config_signature_verifies() -> None:
    """A signature made by the server's signing key verifies against its pinned key string."""
    key = SigningKey.generate()
    data = b'{"sample_rate": 0.5}'
    assert True is verify_config_signature(data, key.sign(data), key.public_key_string())


@pytest.mark.parametrize("case", ["tampered data", "flipped signature", "short signature", "other key"])
def test_config_signature_rejects_tampering(case: str) -> None:
    """Changed data, a changed or truncated signature, or another key all verify as False."""
    key = SigningKey.generate()
    data = b'{"sample_rate": 0.5}'
    signature = key.sign(data)
    pinned = key.public_key_string()
    if case == "tampered data":
        data = b'{"sample_rate": 1.0}'
    elif case == "flipped signature":
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    elif case == "short signature":
        signature = signature[:-1]
    else:
        pinned = SigningKey.generate().public_key_string()
    assert False is verify_config_signature(data, signature, pinned)


def test_config_signature_bad_pinned_key_is_config_error() -> None:
    """A pinned key string of the wrong kind is a ConfigError naming the option."""
    with pytest.raises(ConfigError) as info:
        verify_config_signature(b"x", b"y" * 64, ProjectKeyPair.generate("x25519").public_key_string())
    assert "remote_config_public_key" == info.value.key


def test_importing_seal_does_not_load_cryptography() -> None:
    """In a fresh interpreter, importing crashveil.sdk.delivery.seal and keyfmt loads no cryptography module."""
    code = (
        "import sys, crashveil.sdk.delivery.seal, crashveil.wire.keyfmt;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'cryptography'))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "[]" == result.stdout.strip()


def test_warm_up_loads_cryptography_in_a_fresh_process(keypair: ProjectKeyPair) -> None:
    """warm_up() imports the HPKE module ahead of the first seal, so capture does not pay for it."""
    code = (
        "import sys; from crashveil.wire.keyfmt import ProjectPublicKey;"
        "from crashveil.sdk.delivery.seal import warm_up;"
        f"warm_up(ProjectPublicKey.parse({keypair.public_key_string()!r}));"
        "print('cryptography.hazmat.primitives.hpke' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "True" == result.stdout.strip()


def test_warm_up_with_unusable_key_raises_seal_error() -> None:
    """A key that cryptography refuses (wrong ML-KEM encoding) fails in warm_up with the opaque SealError."""
    bogus = ProjectPublicKey("mlkem768x25519", b"\xff" * 1216)
    with pytest.raises(SealError) as info:
        warm_up(bogus)
    assert "could not seal the report" == str(info.value)


def test_seal_time_for_4kb_payload(keypair: ProjectKeyPair) -> None:
    """Measure (print, not assert) the time to seal a 4 KB payload, for the 2 ms capture budget."""
    public_key = keypair.public_key()
    payload = os.urandom(4096)
    seal_report(payload, public_key, project_id="p", schema_version=1)  # warm: import and key cache
    runs = 500
    timings = timeit.repeat(
        lambda: seal_report(payload, public_key, project_id="p", schema_version=1), number=runs, repeat=5
    )
    best = min(timings)
    print(f"\nseal 4 KB [{keypair.suite}]: {best / runs * 1e6:.1f} us per report (best of 5 x {runs})")
