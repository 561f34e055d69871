"""Read a policy file (TOML) into a validated ``Policy``.

The loader is strict: an unknown key, a missing key or a bad value is a ``PolicyError`` that
names the file, the key path (``fields.message.retention_days``) and the expected form. This
is one of the three places that read configuration (with ``sdk/options.py`` and
``server/settings.py``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from crashveil.errors import PolicyError
from crashveil.policy.expiry import EXPIRES_FORMS, parse_expiry
from crashveil.policy.model import (
    FORWARDING_KINDS,
    ROLES,
    SENSITIVITY_CLASSES,
    AdoptionRule,
    AggregationSettings,
    ConsentLevel,
    FeedbackRule,
    FieldRule,
    ForwardingRule,
    KeyPeriods,
    LimitSettings,
    NoticeSettings,
    Policy,
    RateOverride,
    RedactionSettings,
    SamplingSettings,
)
from crashveil.wire.report import REPORT_FIELDS, REQUIRED_FIELDS, TAG_KEY_PATTERN

__all__ = ["load_policy", "parse_policy", "default_policy_path", "default_policy"]

_VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
#: Bounds of ``[feedback]``: topics a user chooses from, and characters of one message.
MAX_FEEDBACK_TOPICS = 8
MAX_FEEDBACK_CHARS = 4000
#: Fields whose values are keyed (``[fields.tags] keys = [...]`` allowlists the keys).
KEYED_FIELDS = ("tags",)
#: Sensitivity classes a forwardable field may have: never pseudonyms or free text.
FORWARDABLE_SENSITIVITIES = ("technical", "quasi-identifier")
#: Individual report detail: never forwardable, whatever its declared sensitivity.
NEVER_FORWARDED = ("report_id", "install_id", "message", "message_template", "stack", "chain", "breadcrumbs",
                   "comment", "source_context", "client_stats", "fingerprint", "occurred_hour")

_default_cache: Policy | None = None


def default_policy_path() -> Path:
    """Path of the reference policy shipped inside the package."""
    from crashveil.policy.shipped import shipped_policy_file

    path = Path(shipped_policy_file())
    if path.is_file():  # an ordinary install: no need for importlib.resources (~3 ms to import)
        return path
    from importlib import resources

    return Path(str(resources.files("crashveil.policy").joinpath("default.policy.toml")))


def default_policy() -> Policy:
    """The shipped reference policy (parsed once per process)."""
    global _default_cache
    if _default_cache is None:
        _default_cache = _load_shipped(default_policy_path())
    return _default_cache


def _load_shipped(path: Path) -> Policy:
    """``load_policy(path)``, from the pre-parsed copy when it matches the file byte for byte.

    ``_default_policy.py`` holds the file's text and ``tomllib.loads`` of it; the document is
    validated by ``parse_policy`` either way. Any difference (an edited file not regenerated)
    and the file itself is read with ``tomllib``.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return load_policy(path)  # names the problem in its PolicyError
    from crashveil.policy import _default_policy

    if text != _default_policy.SOURCE:
        return load_policy(path)
    return parse_policy(_default_policy.DATA, source=str(path))


def load_policy(path: str | os.PathLike[str], *, require_expiry: bool = True) -> Policy:
    """Load and validate the policy file at ``path``.

    ``require_expiry=False`` reads a policy written before fields expired (a stored or
    baseline copy): a field without ``expires`` then never expires.

    Raises:
        PolicyError: the file is missing, is not TOML, or breaks a rule; the message names
            the file, the key path and the expected form.
    """
    import tomllib

    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyError(source, "", f"cannot read the file ({exc.strerror})") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PolicyError(source, "", "the file is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, "", f"not valid TOML: {exc}") from exc
    except RecursionError as exc:  # tomllib recurses once per level of nested arrays/tables
        raise PolicyError(source, "", "not valid TOML: arrays or tables nested too deeply") from exc
    return parse_policy(data, source=source, require_expiry=require_expiry)


def parse_policy(data: Mapping[str, Any], *, source: str = "<policy>", require_expiry: bool = True) -> Policy:
    """Validate an already-parsed policy document (a TOML table as a dict); ``require_expiry``
    as in :func:`load_policy`."""
    return _Reader(source, require_expiry=require_expiry).policy(data)


class _Reader:
    """Walks the document keeping the key path, so every error can name it."""

    def __init__(self, source: str, *, require_expiry: bool = True) -> None:
        self.source = source
        self.require_expiry = require_expiry

    def fail(self, path: str, problem: str, expected: str | None = None) -> PolicyError:
        return PolicyError(self.source, path, problem, expected)

    def table(self, data: Any, path: str, required: set[str], optional: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
        if not isinstance(data, dict):
            raise self.fail(path, f"is a {type(data).__name__}", "a table")
        unknown = sorted(set(data) - required - set(optional))
        if unknown:
            allowed = ", ".join(sorted(required | set(optional)))
            raise self.fail(_join(path, unknown[0]), "unknown key", f"one of: {allowed}")
        missing = sorted(required - set(data))
        if missing:
            raise self.fail(_join(path, missing[0]), "missing key")
        return data

    def string(self, data: Mapping[str, Any], key: str, path: str, *, pattern: re.Pattern[str] | None = None,
               expected: str = "a non-empty string") -> str:
        value = data[key]
        where = _join(path, key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, "is not a non-empty string", expected)
        if pattern is not None and not pattern.fullmatch(value):  # ``$`` alone lets a final "\n" through
            raise self.fail(where, "has the wrong form", expected)
        return value

    def integer(self, data: Mapping[str, Any], key: str, path: str, *, minimum: int = 0,
                maximum: int | None = None) -> int:
        value = data[key]
        where = _join(path, key)
        expected = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"is a {type(value).__name__}", expected)
        if value < minimum or (maximum is not None and value > maximum):
            raise self.fail(where, "is out of range", expected)
        return value

    def number(self, data: Mapping[str, Any], key: str, path: str, *, minimum: float, maximum: float,
               exclusive_minimum: bool = False) -> float:
        value = data[key]
        where = _join(path, key)
        bound = ">" if exclusive_minimum else ">="
        expected = f"a number {bound} {minimum} and <= {maximum}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"is a {type(value).__name__}", expected)
        too_low = value <= minimum if exclusive_minimum else value < minimum
        if too_low or value > maximum or value != value:
            raise self.fail(where, "is out of range", expected)
        return float(value)

    def string_list(self, data: Mapping[str, Any], key: str, path: str, *, allowed: tuple[str, ...] | None = None,
                    non_empty: bool = True) -> tuple[str, ...]:
        value = data[key]
        where = _join(path, key)
        expected = "a list of strings" + (f" from: {', '.join(allowed)}" if allowed else "")
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(where, "is not a list of strings", expected)
        if non_empty and not value:
            raise self.fail(where, "is empty", expected)
        for index, item in enumerate(value):
            if allowed is not None and item not in allowed:
                raise self.fail(f"{where}[{index}]", "unknown value", expected)
            if value.index(item) != index:
                raise self.fail(f"{where}[{index}]", "is listed twice", "each value once")
        return tuple(value)

    # -- sections ------------------------------------------------------------------------
    def policy(self, data: Mapping[str, Any]) -> Policy:
        top = self.table(data, "", {"policy", "notice", "levels", "redaction", "sampling", "limits",
                                    "aggregation", "keys", "fields"}, {"consent", "adoption", "forwarding", "feedback"})
        head = self.table(top["policy"], "policy", {"name", "version", "retention_ceiling_days"},
                          {"expiry_warning_days"})
        name = self.string(head, "name", "policy", pattern=re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"),
                           expected="a name of letters, digits, '.', '_' or '-'")
        version = self.string(head, "version", "policy", pattern=_VERSION_RE, expected="a version MAJOR.MINOR.PATCH")
        ceiling = self.integer(head, "retention_ceiling_days", "policy", minimum=1, maximum=3650)
        levels = self.levels(top["levels"])
        fields = self.fields(top["fields"], levels, ceiling)
        return Policy(
            name=name,
            version=version,
            retention_ceiling_days=ceiling,
            levels=levels,
            fields=fields,
            redaction=self.redaction(top["redaction"]),
            sampling=self.sampling(top["sampling"]),
            limits=self.limits(top["limits"]),
            aggregation=self.aggregation(top["aggregation"]),
            keys=self.key_periods(top["keys"]),
            notice=self.notice(top["notice"]),
            source=self.source,
            server_mode_max_level=self.consent(top["consent"], levels) if "consent" in top else None,
            adoption=self.adoption(top["adoption"], levels, ceiling) if "adoption" in top else None,
            forwarding=self.forwarding(top["forwarding"], fields) if "forwarding" in top else {},
            expiry_warning_days=(self.integer(head, "expiry_warning_days", "policy", minimum=0, maximum=365)
                                 if "expiry_warning_days" in head else None),
            feedback=self.feedback(top["feedback"], ceiling) if "feedback" in top else None,
        )

    def forwarding(self, data: Any, fields: Mapping[str, FieldRule]) -> dict[str, ForwardingRule]:
        """``[forwarding.NAME]``: each destination's kind, purpose, forwardable fields, review."""
        if not isinstance(data, dict):
            raise self.fail("forwarding", "is not a table", "a [forwarding.NAME] table per destination")
        rules: dict[str, ForwardingRule] = {}
        for name, body in data.items():
            path = f"forwarding.{name}"
            if not _NAME_RE.fullmatch(name):
                raise self.fail(path, "bad destination name", "lower-case letters, digits, '-' or '_'")
            table = self.table(body, path, {"kind", "purpose", "fields", "review"}, {"title"})
            kind = self.string(table, "kind", path)
            if kind not in FORWARDING_KINDS:
                raise self.fail(_join(path, "kind"), "unknown kind", f"one of: {', '.join(FORWARDING_KINDS)}")
            names = self.string_list(table, "fields", path, non_empty=False)
            for index, field_name in enumerate(names):
                rule = fields.get(field_name)
                if rule is None or not rule.forwardable:
                    what = "unknown field" if rule is None else "field is not marked forwardable"
                    raise self.fail(f"{path}.fields[{index}]", f"{what}: '{field_name}' for destination '{name}'",
                                    f"a field with forwardable = true: "
                                    f"{', '.join(n for n, r in fields.items() if r.forwardable) or '(none)'}")
            title = table.get("title", False)
            if not isinstance(title, bool):
                raise self.fail(_join(path, "title"), f"is a {type(title).__name__}", "true or false")
            rules[name] = ForwardingRule(name=name, kind=kind, purpose=self.string(table, "purpose", path),
                                         fields=names, review=self.string(table, "review", path), title=title)
        return rules

    def forwardable(self, table: Mapping[str, Any], name: str, sensitivity: str, path: str) -> bool:
        """``forwardable``: only a technical or quasi-identifying field that is not report detail."""
        value = table.get("forwardable", False)
        if not isinstance(value, bool):
            raise self.fail(_join(path, "forwardable"), f"is a {type(value).__name__}", "true or false")
        if value and (sensitivity not in FORWARDABLE_SENSITIVITIES or name in NEVER_FORWARDED):
            raise self.fail(_join(path, "forwardable"), "individual report detail is never forwardable",
                            f"forwardable only on a field of sensitivity {' or '.join(FORWARDABLE_SENSITIVITIES)} "
                            f"that is not one of: {', '.join(NEVER_FORWARDED)}")
        return value

    def adoption(self, data: Any, levels: tuple[ConsentLevel, ...], ceiling: int) -> AdoptionRule:
        """``[adoption]``: the daily adoption ping's purpose, consent level, retention, access, review."""
        table = self.table(data, "adoption", {"purpose", "level", "retention_days", "access", "review"})
        names = tuple(level.name for level in levels if level.rank > 0)
        level = self.string(table, "level", "adoption")
        if level not in names:
            raise self.fail("adoption.level", "unknown or 'off' level", f"one of: {', '.join(names)}")
        retention = self.integer(table, "retention_days", "adoption", minimum=1)
        if retention > ceiling:
            raise self.fail("adoption.retention_days", "is above policy.retention_ceiling_days", f"at most {ceiling}")
        return AdoptionRule(purpose=self.string(table, "purpose", "adoption"), level=level, retention_days=retention,
                            access=self.string_list(table, "access", "adoption", allowed=ROLES, non_empty=False),
                            review=self.string(table, "review", "adoption"))

    def feedback(self, data: Any, ceiling: int) -> FeedbackRule:
        """``[feedback]``: the privacy feedback channel's purpose, topics, length, retention, access, review."""
        table = self.table(data, "feedback", {"purpose", "topics", "max_chars", "retention_days", "access", "review"})
        topics = self.string_list(table, "topics", "feedback", non_empty=True)
        for index, topic in enumerate(topics):
            if not _NAME_RE.fullmatch(topic):
                raise self.fail(f"feedback.topics[{index}]", "bad topic name", "lower-case letters, digits, '-' or '_'")
        if len(topics) > MAX_FEEDBACK_TOPICS:
            raise self.fail("feedback.topics", "has too many topics", f"at most {MAX_FEEDBACK_TOPICS}")
        retention = self.integer(table, "retention_days", "feedback", minimum=1)
        if retention > ceiling:
            raise self.fail("feedback.retention_days", "is above policy.retention_ceiling_days", f"at most {ceiling}")
        return FeedbackRule(purpose=self.string(table, "purpose", "feedback"), topics=topics,
                            max_chars=self.integer(table, "max_chars", "feedback", minimum=1,
                                                   maximum=MAX_FEEDBACK_CHARS),
                            retention_days=retention,
                            access=self.string_list(table, "access", "feedback", allowed=ROLES, non_empty=True),
                            review=self.string(table, "review", "feedback"))

    def consent(self, data: Any, levels: tuple[ConsentLevel, ...]) -> str:
        """``[consent] server_mode_max_level``: a level above ``off`` an operator may grant for everyone."""
        table = self.table(data, "consent", {"server_mode_max_level"})
        names = tuple(level.name for level in levels if level.rank > 0)
        level = self.string(table, "server_mode_max_level", "consent")
        if level not in names:
            raise self.fail("consent.server_mode_max_level", "unknown or 'off' level", f"one of: {', '.join(names)}")
        return level

    def notice(self, data: Any) -> NoticeSettings:
        keys = {"app_name", "controller", "contact", "deletion"}
        table = self.table(data, "notice", keys)
        return NoticeSettings(**{key: self.string(table, key, "notice") for key in sorted(keys)})

    def levels(self, data: Any) -> tuple[ConsentLevel, ...]:
        if not isinstance(data, dict) or not data:
            raise self.fail("levels", "is not a table of levels", "a [levels.NAME] table per level")
        levels: list[ConsentLevel] = []
        for name, body in data.items():
            path = f"levels.{name}"
            if not _NAME_RE.fullmatch(name):
                raise self.fail(path, "bad level name", "lower-case letters, digits, '-' or '_'")
            table = self.table(body, path, {"rank", "title", "description"})
            levels.append(ConsentLevel(
                name=name,
                rank=self.integer(table, "rank", path, minimum=0, maximum=100),
                title=self.string(table, "title", path),
                description=self.string(table, "description", path),
            ))
        levels.sort(key=lambda level: level.rank)
        ranks = [level.rank for level in levels]
        if len(set(ranks)) != len(ranks):
            raise self.fail("levels", "two levels share a rank", "a distinct rank per level")
        if "off" not in data or data["off"].get("rank") != 0:
            raise self.fail("levels.off", "missing, or its rank is not 0", "a level 'off' with rank = 0 (the default)")
        if len(levels) < 2:
            raise self.fail("levels", "only 'off' is defined", "at least one level above 'off'")
        return tuple(levels)

    def fields(self, data: Any, levels: tuple[ConsentLevel, ...], ceiling: int) -> dict[str, FieldRule]:
        if not isinstance(data, dict) or not data:
            raise self.fail("fields", "is not a table of fields", "a [fields.NAME] table per report field")
        level_names = tuple(level.name for level in levels if level.rank > 0)
        lowest = min((level for level in levels if level.rank > 0), key=lambda level: level.rank).name
        rules: dict[str, FieldRule] = {}
        for name, body in data.items():
            path = f"fields.{name}"
            if name not in REPORT_FIELDS:
                raise self.fail(path, "not a field of the report format", f"one of: {', '.join(REPORT_FIELDS)}")
            if self.require_expiry and isinstance(body, dict) and "expires" not in body:
                raise self.fail(_join(path, "expires"), f"missing: field '{name}' must say when it expires unless "
                                "a review renews it", EXPIRES_FORMS)
            table = self.table(body, path, {"purpose", "sensitivity", "level", "retention_days", "access", "review"},
                               {"description", "keys", "forwardable", "expires"})
            if not isinstance(table.get("description", ""), str):
                raise self.fail(_join(path, "description"), f"is a {type(table['description']).__name__}", "a string")
            sensitivity = self.string(table, "sensitivity", path)
            if sensitivity not in SENSITIVITY_CLASSES:
                raise self.fail(
                    _join(path, "sensitivity"), "unknown class", f"one of: {', '.join(SENSITIVITY_CLASSES)}"
                )
            level = self.string(table, "level", path)
            if level not in level_names:
                raise self.fail(_join(path, "level"), "unknown or 'off' level", f"one of: {', '.join(level_names)}")
            retention = self.integer(table, "retention_days", path, minimum=1)
            if retention > ceiling:
                raise self.fail(_join(path, "retention_days"), "is above policy.retention_ceiling_days",
                                f"at most {ceiling}")
            rules[name] = FieldRule(
                name=name,
                purpose=self.string(table, "purpose", path),
                sensitivity=sensitivity,
                level=level,
                retention_days=retention,
                access=self.string_list(table, "access", path, allowed=ROLES, non_empty=False),
                review=self.string(table, "review", path),
                description=table.get("description", ""),
                keys=self.field_keys(table, name, path),
                forwardable=self.forwardable(table, name, sensitivity, path),
                expires=self.expires(table, name, path),
            )
        for required in REQUIRED_FIELDS:
            if required not in rules:
                raise self.fail(f"fields.{required}", "missing; every report carries it",
                                f"a [fields.{required}] entry at level '{lowest}'")
            if rules[required].level != lowest:
                raise self.fail(f"fields.{required}.level", "a field every report carries must be at the lowest level",
                                f"'{lowest}'")
        return rules

    def expires(self, table: Mapping[str, Any], name: str, path: str) -> str:
        """``expires`` (``policy/expiry.py``): a date, a release bound, or ``never`` for a field
        every report carries; empty when absent from a policy read with ``require_expiry=False``."""
        if "expires" not in table:
            return ""
        text = self.string(table, "expires", path, expected=EXPIRES_FORMS)
        try:
            expiry = parse_expiry(text)
        except ValueError as exc:
            raise self.fail(_join(path, "expires"), str(exc).split(" (expected")[0], EXPIRES_FORMS) from None
        if expiry.never and name not in REQUIRED_FIELDS:
            raise self.fail(_join(path, "expires"), f"'never' is only for a field every report carries; "
                            f"'{name}' must expire unless renewed", '"YYYY-MM-DD" or "release:X.Y"')
        return text

    def field_keys(self, table: Mapping[str, Any], name: str, path: str) -> tuple[str, ...]:
        """``keys`` of a keyed field (``tags``): short lower-case names; no other field has them."""
        if "keys" not in table:
            return ()
        if name not in KEYED_FIELDS:
            raise self.fail(_join(path, "keys"), "only a keyed field has keys", f"keys on: {', '.join(KEYED_FIELDS)}")
        keys = self.string_list(table, "keys", path, non_empty=False)
        for key in keys:
            if not re.match(TAG_KEY_PATTERN, key):
                raise self.fail(_join(path, "keys"), "a key is not a short lower-case name", TAG_KEY_PATTERN)
        return tuple(sorted(keys))

    def redaction(self, data: Any) -> RedactionSettings:
        table = self.table(data, "redaction", {"detectors"}, {"placeholders"})
        from crashveil.redact import DETECTORS

        detectors = self.string_list(table, "detectors", "redaction", allowed=DETECTORS)
        placeholders = table.get("placeholders", {})
        if not isinstance(placeholders, dict):
            raise self.fail("redaction.placeholders", "is not a table", "a table of detector = \"<placeholder>\"")
        for key, value in placeholders.items():
            where = f"redaction.placeholders.{key}"
            if key not in DETECTORS:
                raise self.fail(where, "unknown detector", f"one of: {', '.join(DETECTORS)}")
            if not isinstance(value, str) or not re.fullmatch(r"<[a-z][a-z0-9-]{0,30}>", value):
                raise self.fail(where, "bad placeholder", "a string like \"<email>\"")
        return RedactionSettings(detectors=detectors, placeholders=dict(placeholders))

    def overrides(self, data: Any, path: str, value_key: str, convert: Callable[[Mapping[str, Any], str, str], float]
                  ) -> tuple[RateOverride, ...]:
        if not isinstance(data, list):
            raise self.fail(path, "is not a list of tables", f"[[{path}]] entries")
        result = []
        for index, item in enumerate(data):
            where = f"{path}[{index}]"
            table = self.table(item, where, {value_key}, {"release", "cohort"})
            if "release" not in table and "cohort" not in table:
                raise self.fail(where, "applies to nothing", "a 'release' pattern and/or a 'cohort'")
            result.append(RateOverride(
                release=self.string(table, "release", where) if "release" in table else None,
                cohort=self.string(table, "cohort", where) if "cohort" in table else None,
                value=convert(table, value_key, where),
            ))
        return tuple(result)

    def sampling(self, data: Any) -> SamplingSettings:
        table = self.table(data, "sampling", {"rate"}, {"overrides"})

        def rate(t: Mapping[str, Any], key: str, path: str) -> float:
            return self.number(t, key, path, minimum=0.0, maximum=1.0)

        return SamplingSettings(
            rate=rate(table, "rate", "sampling"),
            overrides=self.overrides(table.get("overrides", []), "sampling.overrides", "rate", rate),
        )

    def limits(self, data: Any) -> LimitSettings:
        keys = {"reports_per_hour", "reports_per_day", "dedupe_window_s", "queue_max_reports", "queue_max_bytes",
                "queue_max_age_days"}
        table = self.table(data, "limits", keys, {"overrides"})
        values = {key: self.integer(table, key, "limits", minimum=1 if key != "dedupe_window_s" else 0) for key in keys}

        def per_hour(t: Mapping[str, Any], key: str, path: str) -> float:
            return float(self.integer(t, key, path, minimum=0))

        return LimitSettings(
            **values,
            overrides=self.overrides(table.get("overrides", []), "limits.overrides", "reports_per_hour", per_hour),
        )

    def aggregation(self, data: Any) -> AggregationSettings:
        table = self.table(data, "aggregation", {"min_k", "rollup_retention_days"},
                           {"dp_epsilon_per_day", "window_days", "dp_epsilon_per_year", "dp_delta",
                            "quasi_identifier_min_k"})
        if "dp_epsilon_per_day" not in table and "dp_epsilon_per_year" not in table:
            raise self.fail("aggregation.dp_epsilon_per_year", "missing key")

        def optional_number(key: str, maximum: float) -> float | None:
            return self.number(table, key, "aggregation", minimum=0.0, maximum=maximum,
                               exclusive_minimum=True) if key in table else None

        return AggregationSettings(
            min_k=self.integer(table, "min_k", "aggregation", minimum=2),
            dp_epsilon_per_day=optional_number("dp_epsilon_per_day", 10.0),
            rollup_retention_days=self.integer(table, "rollup_retention_days", "aggregation", minimum=1, maximum=3650),
            window_days=self.integer(table, "window_days", "aggregation", minimum=1, maximum=91)
            if "window_days" in table else None,
            dp_epsilon_per_year=optional_number("dp_epsilon_per_year", 50.0),
            dp_delta=optional_number("dp_delta", 1e-3),
            quasi_identifier_min_k=(self.integer(table, "quasi_identifier_min_k", "aggregation", minimum=2)
                                    if "quasi_identifier_min_k" in table else None),
        )

    def key_periods(self, data: Any) -> KeyPeriods:
        keys = {"pseudonym_rotation_days", "data_key_days", "kek_cryptoperiod_days", "hpke_key_cryptoperiod_days",
                "signing_key_cryptoperiod_days"}
        table = self.table(data, "keys", keys)
        return KeyPeriods(**{key: self.integer(table, key, "keys", minimum=1, maximum=3650) for key in sorted(keys)})


def _join(path: str, key: str) -> str:
    key = key or '""'  # TOML allows an empty key; name it visibly
    return f"{path}.{key}" if path else key
