"""A pytest plugin for apps that use crashveil: capture reports, plant canaries, catch leaks.

Registered through the ``pytest11`` entry point, so an app's test suite gets it with
``pip install crashveil``. It adds:

``crashveil_capture``
    Makes the app's own ``crashveil.init(...)`` record instead of send: every ``init`` call
    during the test gets a ``crashveil.testing.RecordingTransport`` and a temporary data
    directory, and the richest consent level of the policy is granted (the worst case: all
    that could ever leave). ``crashveil_capture.reports`` holds the reports as they would
    leave the device (after the allowlist and redaction, before sealing).

``canaries``
    Personal data planted into the app's inputs: an e-mail address, a home directory whose
    name is a user name (``HOME``, ``USER``, ``LOGNAME``, ``USERNAME`` point at it), a token,
    a card number and a line of user input, unique to the test.
    ``canaries.assert_no_leaks(crashveil_capture)`` fails with the report, the field path and
    the placeholder the redactor should have put there whenever a planted value (or its
    lower-case, URL-encoded, JSON-escaped or path-split form, such as the user name alone)
    would leave the device, in a report or in any file the SDK wrote.

``@pytest.mark.crashveil_canaries`` and ``pytest --crashveil-canaries``
    Marked tests run only with the flag (and then only they run). In that mode each marked
    test gets both fixtures automatically and fails if a canary leaks, without calling the
    assertion itself.

The plugin loads nothing but the standard library and pytest until a fixture is used: a
test suite that never asks for it pays nothing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from crashveil.testing import RecordingTransport
    from crashveil.wire.report import Report

__all__ = ["Canaries", "CrashveilCapture", "Leak", "CANARY_KINDS", "find_leaks"]

FLAG = "--crashveil-canaries"
MARKER = "crashveil_canaries"

#: Planted kinds, and the redaction detector that should replace each one on the device.
CANARY_KINDS: Mapping[str, str] = {
    "email": "email",
    "home_path": "home_path",
    "user_name": "home_path",
    "token": "api_key",
    "card_number": "card_number",
    "user_input": "quoted_input",
}

#: Environment variables that name the user or the home directory; the fixture plants them.
_USER_VARIABLES = ("USER", "LOGNAME", "USERNAME")
_HOME_VARIABLES = ("HOME", "USERPROFILE")


# -- leaks -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Leak:
    """A planted value found where it must not be.

    ``where`` is ``report[N]`` or a file path; ``field`` the path inside the report
    (``chain[0].message``) or ``byte 123`` in a file; ``form`` how it was written (``as
    planted``, ``lower-case``, ``URL-encoded``, ...); ``placeholder`` what the redactor should
    have written there instead.
    """

    kind: str
    form: str
    where: str
    field: str
    placeholder: str
    excerpt: str

    def __str__(self) -> str:
        return (f"{self.where} field {self.field}: planted {self.kind} leaks ({self.form}); "
                f"expected the placeholder {self.placeholder} there, found ...{self.excerpt}...")


def _variants(kind: str, value: str) -> Iterator[tuple[str, str]]:
    """Forms in which ``value`` may leave: as planted and in simple encodings."""
    from urllib.parse import quote, quote_plus

    seen: set[str] = set()
    forms = [("as planted", value), ("lower-case", value.lower()), ("upper-case", value.upper()),
             ("URL-encoded", quote(value, safe="")), ("URL-encoded", quote_plus(value)),
             ("JSON-escaped", value.replace("\\", "\\\\").replace('"', '\\"'))]
    if kind == "user_input":
        forms += [("a word of it", word.strip(".,;:!?'\"")) for word in value.split() if len(word) >= 10]
    if kind == "home_path":
        forms += [("last path piece", value.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1])]
    if kind == "card_number":
        groups = [value[i:i + 4] for i in range(0, len(value), 4)]
        forms += [("grouped", " ".join(groups)), ("grouped", "-".join(groups))]
    for form, needle in forms:
        if needle and needle not in seen:
            seen.add(needle)
            yield form, needle


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON-like value with its field path (keys count: they can leak too)."""
    if isinstance(value, str):
        yield path or "<report>", value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            yield f"{child} (key)", str(key)
            yield from _walk(item, child)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    elif isinstance(value, int) and not isinstance(value, bool):
        yield path, str(value)


def _plain(report: Any) -> Any:
    """A report as JSON data: a ``Report``, its JSON text or bytes, or a dict already."""
    if hasattr(report, "to_json"):
        report = report.to_json()
    if isinstance(report, (bytes, str)):
        import json

        return json.loads(report)
    return report


def find_leaks(planted: Mapping[str, str], reports: Iterable[Any] = (), files: Mapping[str, bytes] | None = None,
               *, placeholders: Mapping[str, str] | None = None) -> list[Leak]:
    """Where any planted value appears in ``reports`` (plaintext) or in ``files`` (bytes).

    Args:
        planted: canary kind -> planted value.
        reports: ``Report`` objects, JSON text or dicts.
        files: name -> content, for the bytes the SDK wrote (queue, history, consent).
        placeholders: detector -> placeholder text (default ``<detector>``).
    """
    placeholders = placeholders or {}
    others = {value: kind for kind, value in planted.items()}
    # A piece of one canary that is itself another canary (the user name in the home path) is
    # reported once, under its own kind.
    needles = [(kind, form, needle) for kind, value in planted.items() for form, needle in _variants(kind, value)
               if others.get(needle, kind) == kind]
    leaks: list[Leak] = []
    for number, report in enumerate(reports):
        seen: set[tuple[str, str]] = set()
        for field, text in _walk(_plain(report), ""):
            for kind, form, needle in needles:
                at = text.find(needle)
                if at >= 0 and (kind, field) not in seen:
                    seen.add((kind, field))
                    leaks.append(Leak(kind, form, f"report[{number}]", field,
                                      _placeholder(kind, placeholders), _excerpt(text, at, len(needle))))
    for name, content in (files or {}).items():
        for kind, form, needle in needles:
            for encoding in ("utf-8", "utf-16-le"):
                at = content.find(needle.encode(encoding))
                if at >= 0:
                    text = content[max(0, at - 20):at + len(needle.encode(encoding)) + 20].decode(encoding, "replace")
                    leaks.append(Leak(kind, form if encoding == "utf-8" else f"{form}, UTF-16", name, f"byte {at}",
                                      _placeholder(kind, placeholders), text))
                    break
    return leaks


def _placeholder(kind: str, placeholders: Mapping[str, str]) -> str:
    """The placeholder the redactor writes for ``kind``: the policy's, else the redactor's default."""
    detector = CANARY_KINDS.get(kind, kind)
    if detector in placeholders:
        return placeholders[detector]
    from crashveil.redact import DEFAULT_PLACEHOLDERS

    return DEFAULT_PLACEHOLDERS.get(detector, f"<{detector.replace('_', '-')}>")


def _excerpt(text: str, at: int, length: int) -> str:
    return text[max(0, at - 20):at + length + 20]


# -- canaries --------------------------------------------------------------------------------

class Canaries:
    """Personal data to plant into an app's inputs, unique to one test.

    Attributes:
        email, user_name, home, token, card_number, user_input: the planted values
            (``home`` is a real directory named after ``user_name``).
        values: kind -> planted value (``home_path`` is ``str(home)``).
    """

    def __init__(self, seed: str, root: Path, setenv: Callable[[str, str], None] | None = None) -> None:
        digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()
        self.user_name = f"adaquill{digest[:6]}"
        self.email = f"Ada.Quill.{digest[6:10]}@Example.org"
        self.home = root / "home" / self.user_name
        self.home.mkdir(parents=True, exist_ok=True)
        self.token = "ghp_" + digest[10:46]
        self.card_number = _luhn("4" + "".join(str(int(c, 16) % 10) for c in digest[46:60]))
        self.user_input = f"Dear diary, Zebulon Fairweather{digest[60:64]} told me about the clinic"
        self._setenv = setenv
        self._planted_env: dict[str, str] = {}

    @property
    def values(self) -> dict[str, str]:
        return {"email": self.email, "home_path": str(self.home), "user_name": self.user_name, "token": self.token,
                "card_number": self.card_number, "user_input": self.user_input}

    @property
    def text(self) -> str:
        """All canaries in one line, as an app might put them in an error message."""
        return (f"user {self.email} at {self.home / 'notes.txt'} with token {self.token}, "
                f"card {self.card_number}, typed {self.user_input!r}")

    def path(self, *parts: str) -> Path:
        """A path inside the canary home directory (its parent directories are created)."""
        target = self.home.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def setenv(self, name: str, kind: str = "token") -> str:
        """Plant the canary of ``kind`` in environment variable ``name`` for this test."""
        value = self.values[kind]
        if self._setenv is None:
            raise RuntimeError("this Canaries object was made without an environment to plant into")
        self._setenv(name, value)
        self._planted_env[name] = value
        return value

    @property
    def env(self) -> dict[str, str]:
        """The environment variables planted so far."""
        return dict(self._planted_env)

    def plant_user_environment(self) -> None:
        """Point ``HOME``/``USERPROFILE`` at the canary home and ``USER`` and friends at its name."""
        for name in _HOME_VARIABLES:
            self.setenv(name, "home_path")
        for name in _USER_VARIABLES:
            self.setenv(name, "user_name")

    def find_leaks(self, *sources: Any, files: Mapping[str, bytes] | None = None) -> list[Leak]:
        """Leaks in ``sources``: a ``CrashveilCapture`` (its reports and files), reports or dicts."""
        reports: list[Any] = []
        blobs: dict[str, bytes] = dict(files or {})
        placeholders: Mapping[str, str] = {}
        for source in sources:
            if isinstance(source, CrashveilCapture):
                reports.extend(source.reports)
                blobs.update(source.files())
                placeholders = source.placeholders()
            elif isinstance(source, (list, tuple)):
                reports.extend(source)
            else:
                reports.append(source)
        return find_leaks(self.values, reports, blobs, placeholders=placeholders)

    def assert_no_leaks(self, *sources: Any, files: Mapping[str, bytes] | None = None) -> None:
        """Fail, naming each report, field and expected placeholder, if any canary leaks."""
        leaks = self.find_leaks(*sources, files=files)
        if leaks:
            lines = "\n".join(f"  {leak}" for leak in leaks)
            raise AssertionError(f"{len(leaks)} planted value(s) would leave the device:\n{lines}")


def _luhn(digits: str) -> str:
    """``digits`` with the Luhn check digit appended (a card number a detector recognises)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            value -= 9 if value > 9 else 0
        total += value
    return digits + str((10 - total % 10) % 10)


# -- capture ---------------------------------------------------------------------------------

class CrashveilCapture:
    """Makes ``crashveil.init`` record instead of send, for one test.

    Args:
        data_dir: the SDK's data directory for the test (queue, consent, history).
        level: the consent level granted after each ``init`` (default: the richest).
    """

    def __init__(self, data_dir: Path, *, level: str | None = None) -> None:
        from crashveil.testing import RecordingTransport

        self.data_dir = data_dir
        self.level = level
        self.transport: RecordingTransport = RecordingTransport(directory=data_dir.parent / f"{data_dir.name}-sent")
        self._lists: list[list[Report]] = []
        self._contexts: list[Any] = []
        self._real_init: Callable[..., None] | None = None

    @property
    def reports(self) -> list[Report]:
        """Every report built so far, in order, exactly as it would leave the device."""
        return [report for reports in self._lists for report in reports]

    def init(self, **options: Any) -> None:
        """``crashveil.init`` with the recording transport, the test's data directory and consent."""
        import crashveil
        from crashveil.testing import captured_reports

        options["transport"] = self.transport
        options["data_dir"] = self.data_dir
        (self._real_init or crashveil.init)(**options)
        client = crashveil._current()
        policy = getattr(client, "policy", None)
        level = self.level or (policy.levels[-1].name if policy is not None else None)
        if level is not None:
            crashveil.grant(level)
        context = captured_reports()
        self._lists.append(context.__enter__())
        self._contexts.append(context)

    def crash(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> BaseException | None:
        """Call ``function``; if it raises, let the installed crash hook see it, as in production.

        Returns the exception (or None). The hook chains to the previous one, which prints the
        traceback (pytest captures it).
        """
        import sys

        try:
            function(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the app's crash is the test's subject
            sys.excepthook(type(exc), exc, exc.__traceback__)
            return exc
        return None

    def files(self) -> dict[str, bytes]:
        """Every file the SDK wrote (data directory and recorded sends), by path."""
        found: dict[str, bytes] = {}
        for root in (self.data_dir, self.transport.directory):
            if root is not None and root.is_dir():
                for path in sorted(root.rglob("*")):
                    if path.is_file():
                        found[str(path)] = path.read_bytes()
        return found

    def placeholders(self) -> dict[str, str]:
        """The placeholders of the current policy's redaction (detector -> text)."""
        import crashveil

        policy = getattr(crashveil._current(), "policy", None)
        return dict(policy.redaction.placeholders) if policy is not None else {}

    def close(self) -> None:
        import crashveil

        for context in reversed(self._contexts):
            context.__exit__(None, None, None)
        self._contexts.clear()
        crashveil.shutdown()


# -- pytest hooks and fixtures ---------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("crashveil")
    group.addoption(FLAG, action="store_true", default=False,
                    help="run only the tests marked crashveil_canaries, with planted personal data, "
                         "and fail any whose reports would carry it")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: a crashveil canary test (runs with {FLAG})")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption(FLAG):
        selected = [item for item in items if item.get_closest_marker(MARKER) is not None]
        deselected = [item for item in items if item.get_closest_marker(MARKER) is None]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected
        return
    skip = pytest.mark.skip(reason=f"crashveil canary test: run with {FLAG}")
    for item in items:
        if item.get_closest_marker(MARKER) is not None:
            item.add_marker(skip)


@pytest.fixture
def canaries(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             monkeypatch: pytest.MonkeyPatch) -> Canaries:
    """Personal data planted for this test; the user environment already points at it."""
    planted = Canaries(request.node.nodeid, tmp_path_factory.mktemp("canaries"), monkeypatch.setenv)
    planted.plant_user_environment()
    return planted


@pytest.fixture
def crashveil_capture(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                      ) -> Iterator[CrashveilCapture]:
    """Every ``crashveil.init`` in this test records reports instead of sending them."""
    import crashveil

    for name in [name for name in os.environ if name.startswith("CRASHVEIL_")]:
        monkeypatch.delenv(name)
    capture = CrashveilCapture(tmp_path_factory.mktemp("crashveil-data"))
    capture._real_init = crashveil.init
    monkeypatch.setattr(crashveil, "init", capture.init)
    try:
        yield capture
    finally:
        capture.close()


@pytest.fixture(autouse=True)
def _crashveil_canary_mode(request: pytest.FixtureRequest) -> Any:
    """In canary mode, gives marked tests both fixtures; the leak check runs after the call."""
    if request.node.get_closest_marker(MARKER) is None or not request.config.getoption(FLAG):
        return None
    return request.getfixturevalue("canaries"), request.getfixturevalue("crashveil_capture")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    mode = getattr(item, "funcargs", {}).get("_crashveil_canary_mode")
    if mode is not None:
        planted, capture = mode
        planted.assert_no_leaks(capture)
    return result
