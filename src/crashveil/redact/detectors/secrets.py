"""Secret detectors: private keys, credentials in URLs and key=value pairs, tokens, provider keys,
random-looking strings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crashveil.redact.detector import (
    PATTERNS as _P,
    PLACEHOLDER_SHAPE,
    Clause,
    Ctx,
    Detector,
    merge,
    splice,
)

if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Collection

_B = "A-Za-z0-9_"  # ASCII word characters, for boundaries
_TOKEN = "A-Za-z0-9+/_-"  # alphabet of base64/hex-like secrets ("=" only as trailing padding)


def pem_private_key(text: str, ctx: Ctx) -> str:
    """A PEM private key block, from BEGIN to END (or, if truncated, to the end of its body)."""
    if "PRIVATE KEY" not in text:
        return text
    spans = []
    pos = 0
    no_end = False
    ph = ctx.ph["pem_private_key"]
    while (m := _P.pem_begin.search(text, pos)) is not None:
        end = -1
        if not no_end:
            e = _P.pem_end.search(text, m.end())
            if e is None:
                no_end = True  # no END after here: every later BEGIN is truncated too
            else:
                end = e.end()
        if end < 0:
            end = _P.pem_body.match(text, m.end()).end()
        spans.append((m.start(), end, ph))
        pos = end
    if not spans:
        return text
    ctx.hit("pem_private_key", len(spans))
    return splice(text, spans)


def _pem_patterns() -> dict[str, Any]:
    import re

    c = re.compile
    return {
        "pem_begin": c(r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"),
        "pem_end": c(r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"),
        "pem_body": c(r"[A-Za-z0-9+/=\s\\:,.\-]*+"),
    }


def url_credentials(text: str, ctx: Ctx) -> str:
    """``scheme://user:password@host`` keeps scheme and host: ``scheme://<credentials>@host``."""
    if "://" not in text or "@" not in text:
        return text
    out: str
    out, n = _P.url_cred.subn("://" + ctx.ph["url_credentials"].replace("\\", "\\\\") + "@", text)
    if n:
        ctx.hit("url_credentials", n)
    return out


def _url_patterns() -> dict[str, Any]:
    """The userinfo of scheme://userinfo@host (greedy to the last '@')."""
    import re

    return {"url_cred": re.compile(r"://[^\s/?#'\"<>\\]+@")}


# ------------------------------------------------------------------ connection_string

# connection_string: gate substring -> (keyword, component_only). Component-only keywords
# must stand alone in a compound key ("db_user", "User Id"), never inside a word ("users").
# Those in _CS_WEAK also occur in prose and need a stricter separator (see _CS_SEP_WEAK).
_CS_KEYWORDS: dict[str, tuple[tuple[str, bool], ...]] = {
    "pass": (("password", False), ("passwd", False), ("passphrase", False), ("pass", True)),
    "pw": (("pwd", True), ("pw", True)),
    "secret": (("secret", False),),
    "token": (("token", False),),
    "key": (("apikey", False), ("api_key", False), ("api-key", False), ("accesskey", False),
            ("access_key", False), ("access-key", False), ("accountkey", False),
            ("account_key", False), ("sharedaccesskey", False), ("privatekey", False),
            ("private_key", False), ("private-key", False)),
    "cred": (("credential", False),),
    "auth": (("authorization", False), ("auth", True)),
    "sess": (("sessionid", False), ("session_id", False), ("session-id", False), ("session", True)),
    "cookie": (("cookie", False),),
    "user": (("user id", True), ("user name", True), ("username", True), ("userid", True),
             ("user", True)),
    "uid": (("uid", True),),
    "login": (("login", True),),
}
_CS_WEAK = frozenset({"pass", "user id", "user name", "username", "userid", "user", "uid", "login", "session",
                      "auth"})
_CS_KEEP_VALUES = frozenset({"none", "null", "nil", "true", "false", "undefined", "''", '""'})
_CS_CACHE: dict[str, Any] = {}

_CS_SEP = r"[a-z0-9_.\-]*+[\"']?[ \t]*(?:=>|=|:)[ \t]*"
# Weak keywords ("user", "session", "login", "auth", "pass" ...) also appear in prose and test
# output: "invalid token for session: expected int", "pass: 3". They need "=" or "=>", or a
# quoted key ('"user": ...'); strong keywords ("password: x", "token: x") take any separator.
_CS_SEP_WEAK = r"[a-z0-9_.\-]*+(?:[\"'][ \t]*(?:=>|=|:)[ \t]*|[ \t]*=>?[ \t]*)"
_CS_VALUE = (r"(?:(?:bearer|basic|token|digest|negotiate) +)?+"  # possessive: "Bearer <credentials>" stays
             r"(?P<v>\"(?:[^\"\\\n]|\\.)*+\"|'(?:[^'\\\n]|\\.)*+'|[^\s;,&'\"<>(){}\[\]]++)")


# Skip a keyword when the run of key characters after it holds another one (a lazy scan that
# stops at the next one). Every occurrence in one run of key characters reaches the same end
# of the run ("[a-z0-9_.\-]*+" is possessive), so they all match the same value or all fail:
# trying only the last changes no value found, and "token" * N + "=" no longer costs N^2/5.
_CS_LAST = r"(?![a-z0-9_.\-]*?%s)"


def _cs_regex(word: str, component: bool) -> Any:
    """The regex of one keyword, literal-prefixed so that the engine skips ahead to it.

    A keyword made of key characters is tried only at its last occurrence in a run of them
    (:data:`_CS_LAST`), which keeps the search linear. "user id" and "user name" need no
    such care: their space ends the run before them, so no two share one.
    """
    rx = _CS_CACHE.get(word)
    if rx is None:
        esc = _P.re.escape
        head = esc(word) + (f"(?<![a-z0-9]{esc(word)})(?![a-z])" if component else "")
        if " " not in word:
            head += _CS_LAST % head
        head += _CS_SEP_WEAK if word in _CS_WEAK else _CS_SEP
        rx = _CS_CACHE[word] = _P.re.compile(head + _CS_VALUE)
    return rx


def connection_string(text: str, ctx: Ctx) -> str:
    """Values of secret-bearing keys: ``Password=...;``, ``"token": "..."``, ``api_key=...``."""
    if "=" not in text and ": " not in text and ':"' not in text and ":'" not in text and ":\t" not in text:
        return text
    low = ctx.low(text)
    spans = []
    ph = ctx.ph["connection_string"]
    for gate, words in _CS_KEYWORDS.items():
        if gate not in low:  # twelve substring tests beat one alternation scan, long or short
            continue
        for word, component in words:
            if word not in low:
                continue
            for m in _cs_regex(word, component).finditer(low):
                s, e = m.span("v")
                value = text[s:e]
                q = value[0]
                if q in "\"'" and len(value) >= 2 and value[-1] == q:
                    inner = value[1:-1]
                    repl = q + ph + q
                else:
                    inner = value
                    repl = ph
                if inner.lower() in _CS_KEEP_VALUES or not inner.strip("*") or _P.only_placeholders.fullmatch(inner):
                    continue
                if _cs_benign(word, inner, low):
                    continue
                spans.append((s, e, repl))
    if not spans:
        return text
    merged = merge(spans)
    ctx.hit("connection_string", len(merged))
    return splice(text, merged)


_CS_USER_WORDS = frozenset({"user id", "user name", "username", "userid", "user", "uid", "login"})


def _cs_benign(word: str, value: str, low: str) -> bool:
    """Values of secret-bearing keys that are no secret: a service or system account
    (``USER=root``), the working directory of ``PWD=/app``, a SQL placeholder or a qualified
    column in a SQL statement (``user_id = %s``, ``o.user_id = u.id``)."""
    from crashveil.redact.detectors.accounts import SYSTEM_ACCOUNTS

    v = value.lower()
    if word in _CS_USER_WORDS and v in SYSTEM_ACCOUNTS:
        return True
    if word == "pwd" and v[:1] in ("/", "~"):
        return True
    if word == "uid" and v.isdigit() and len(v) <= 5:
        return True  # a POSIX uid (uid=1000): a number of the system, not a secret
    if _P.env_variable.fullmatch(value):
        return True  # $USER, ${LOGNAME}, %USERNAME%: a reference, not a value
    if _P.sql_placeholder.fullmatch(value):
        return True
    return word in _CS_USER_WORDS and _P.sql_column.fullmatch(v) is not None and (
        "select " in low or "where " in low or " join " in low or "update " in low)


def _conn_trigger(low: str, cmap: bytes, env: bool) -> bool:
    """A keyword (the part of it that its gate looks for) with a separator after its key."""
    for g, rx in _P.g_conn.items():  # noqa: SIM110 - a loop: no generator on the hot path
        if g in low and rx.search(low) is not None:
            return True
    return False


# The separators connection_string itself wants ("=", or ":" with a blank or quote after it),
# and a keyword's gate (twelve substring tests beat one alternation scan, long or short).
_CS_GATES = tuple(_CS_KEYWORDS)
_CONN_TRIGGER = (Clause(needs="=", has_low=_CS_GATES, test_low=_conn_trigger),
                 Clause(needs=":", has=(": ", ':"', ":'", ":\t"), has_low=_CS_GATES, test_low=_conn_trigger))


def _conn_patterns() -> dict[str, Any]:
    import re

    c = re.compile
    return {
        # the gate: a keyword (the part of it that its gate looks for, "user id" and "user name"
        # whole), the rest of the key, an optional quote, blanks and a separator. Only the last
        # occurrence of the keyword in a run of key characters is tried (see _CS_LAST): the
        # others would end at the same place, and trying each costs the run.
        "g_conn": {g: c(re.escape(g) + _CS_LAST % re.escape(g) + (r"(?: id| name)?" if g == "user" else "")
                        + r"[a-z0-9_.\-]*+[\"']?[ \t]*[=:]")
                   for g in _CS_KEYWORDS},
        "only_placeholders": c(r"(?:\s*" + PLACEHOLDER_SHAPE + r")+\s*"),
        "sql_placeholder": c(r"\?|%s|%\([a-z_0-9]+\)s|:[A-Za-z_][A-Za-z_0-9]*|\$[0-9]+|@[A-Za-z_][A-Za-z_0-9]*"),
        "env_variable": c(r"\$\{?[A-Z_][A-Z0-9_]*\}?|%[A-Z_][A-Z0-9_]*%"),
        "sql_column": c(r"[a-z_][a-z_0-9]*\.[a-z_][a-z_0-9]*"),
    }


def jwt(text: str, ctx: Ctx) -> str:
    """JSON Web Tokens (``eyJ...``.``eyJ...``.``sig``), also JWE with five parts."""
    if "eyJ" not in text:
        return text
    out: str
    out, n = _P.jwt.subn(ctx.ph["jwt"].replace("\\", "\\\\"), text)
    if n:
        ctx.hit("jwt", n)
    return out


def _jwt_patterns() -> dict[str, Any]:
    """header.payload.signature, the header always a base64url JSON object."""
    import re

    return {"jwt": re.compile(r"eyJ(?<![A-Za-z0-9_\-]eyJ)[A-Za-z0-9_\-]{4,}+\.[A-Za-z0-9_\-]{4,}+\.[A-Za-z0-9_\-]*+"
                              r"(?:\.[A-Za-z0-9_\-]++){0,2}")}


# ---------------------------------------------------------------------------- api_key

# (literal prefixes, body). The whole token becomes <secret>. Prefixes ending in "_" or "-"
# are found by one regex anchored on that character; the others are gated by substring tests.
_API_FAMILIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"[A-Za-z0-9]{30,}+"),  # GitHub
    (("github_pat_",), r"[A-Za-z0-9_]{30,}+"),
    (("glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "glft-", "glimt-", "glagent-", "gloas-",
      "glsoat-"), r"[A-Za-z0-9_.\-]{16,}+"),  # GitLab
    (("xoxb-", "xoxp-", "xoxa-", "xoxo-", "xoxr-", "xoxs-", "xoxe-", "xapp-"), r"[A-Za-z0-9\-]{12,}+"),  # Slack
    (("sk_live_", "sk_test_", "pk_live_", "pk_test_", "rk_live_", "rk_test_", "whsec_"),
     r"[A-Za-z0-9]{12,}+"),  # Stripe
    (("sk-",), r"[A-Za-z0-9_\-]{20,}+"),  # OpenAI, Anthropic and other "sk-" keys
    (("GOCSPX-",), r"[A-Za-z0-9_\-]{20,}+"),  # Google OAuth client secret
    (("npm_",), r"[A-Za-z0-9]{30,}+"),
    (("pypi-",), r"[A-Za-z0-9_\-]{40,}+"),
    (("hf_",), r"[A-Za-z0-9]{30,}+"),  # Hugging Face
    (("shpat_", "shpss_", "shpca_", "shppa_"), r"[a-fA-F0-9]{32}(?![A-Za-z0-9])"),  # Shopify
    (("dop_v1_", "doo_v1_", "dor_v1_"), r"[a-f0-9]{64}(?![A-Za-z0-9])"),  # DigitalOcean
    (("key-",), r"[0-9a-zA-Z]{32}(?![A-Za-z0-9])"),  # Mailgun
)
_API_OTHER: tuple[tuple[str, str], ...] = (
    # (gate substring, regex): prefixes without "_" or "-"
    ("IA", r"A(?<![A-Za-z0-9_]A)(?:KIA|SIA)[A-Z0-9]{16}(?![A-Za-z0-9])"),  # AWS access key ids
    ("AIza", r"AIza(?<![A-Za-z0-9_]AIza)[A-Za-z0-9_\-]{30,}+"),  # Google API key
    ("ya29.", r"ya29\.(?<![A-Za-z0-9_]ya29\.)[A-Za-z0-9_\-.]{20,}+"),  # Google OAuth access token
    ("SG.", r"SG\.(?<![A-Za-z0-9_]SG\.)[A-Za-z0-9_\-]{16,}+\.[A-Za-z0-9_\-]{16,}+"),  # SendGrid
    ("SK", r"SK(?<![A-Za-z0-9_]SK)[0-9a-fA-F]{32}(?![A-Za-z0-9])"),  # Twilio
    ("GR1348941", r"GR1348941(?<![A-Za-z0-9_]GR1348941)[A-Za-z0-9_\-]{16,}+"),  # GitLab runner
)
# Authorization schemes: the scheme word is kept, the credential after it goes.
_AUTH_SCHEMES = ("Bearer ", "bearer ", "BEARER ", "Basic ", "basic ", "Token ", "token ")


def api_key(text: str, ctx: Ctx) -> str:
    """Provider keys with a known prefix, Slack webhooks, and ``Bearer``/``Basic``/``Token`` values."""
    ph = ctx.ph["api_key"]
    spans = []
    if "_" in text or "-" in text:
        spans.extend(_api_spans(_P.api_anchored, text, ph))
    for gate, rx in _P.api_other:
        if gate in text:
            spans.extend((m.start(), m.end(), ph) for m in rx.finditer(text))
    if "earer " in text or "EARER " in text or "asic " in text or "oken " in text:
        for m in _P.auth.finditer(text):
            v = m.group("v")
            # "Token expired" is prose; a credential has a digit, a symbol or real length.
            if len(v) >= 20 or any(ch in v for ch in "0123456789=+/._-~"):
                spans.append((m.start("v"), m.end("v"), ph))
    if "hooks.slack.com/services/" in text:
        spans.extend((m.start("v"), m.end("v"), ph) for m in _P.slack_hook.finditer(text))
    if not spans:
        return text
    merged = merge(spans)
    ctx.hit("api_key", len(merged))
    return splice(text, merged)


def _api_spans(rx: Any, text: str, ph: str) -> list[tuple[int, int, str]]:
    """Spans of prefix-anchored keys: the match starts at the prefix's last character."""
    out = []
    for m in rx.finditer(text):
        a = m.start()  # index of the "_" or "-" ending the prefix; find which prefix it was
        for k in (1, 2, 3, 4, 5, 6, 7, 8, 10):
            if text[max(0, a - k):a + 1] in _P.api_prefix_len:
                out.append((a - k, m.end(), ph))
                break
    return out


def _api_patterns() -> dict[str, Any]:
    """One regex anchored on the "_" or "-" that ends every family prefix, and the others."""
    import re

    c = re.compile
    alts = []
    for prefixes, body in _API_FAMILIES:
        for p in prefixes:
            head, last = p[:-1], p[-1]
            alts.append((last, f"(?<=(?<![{_B}]){re.escape(head)}{re.escape(last)}){body}"))
    # Every key body is 12+ characters long: checking that first keeps "site-packages" and
    # "__init__" from paying for ~40 lookbehinds at each "-" and "_".
    body = r"(?=[A-Za-z0-9][A-Za-z0-9_.\-]{11})"
    api_us = "_" + body + "(?:" + "|".join(a for last, a in alts if last == "_") + ")"
    api_dash = "-" + body + "(?:" + "|".join(a for last, a in alts if last == "-") + ")"
    return {
        "api_anchored": c(api_us + "|" + api_dash),
        "api_us": c(api_us),  # the two halves, for the gates: each starts with a literal
        "api_dash": c(api_dash),
        "api_prefix_len": {p: len(p) for prefixes, _ in _API_FAMILIES for p in prefixes},
        "api_other": tuple((g, c(rx)) for g, rx in _API_OTHER),
        "auth": c("(?:" + "|".join(f"{re.escape(s)}(?<![{_B}]{re.escape(s)})" for s in _AUTH_SCHEMES)
                  + r")[ ]*(?P<v>[A-Za-z0-9._~+/=\-]{8,}+)"),
        "slack_hook": c(r"hooks\.slack\.com/services/(?P<v>[A-Za-z0-9/_]{8,}+)"),
        # gates, on the class map (see crashveil.redact.gates)
        "g_api_us": c(rb"_[0Aa][0Aa_.\-]{11}"),
        "g_api_dash": c(rb"-[0Aa][0Aa_.\-]{11}"),
    }


# What each pass of api_key needs: a scheme word and a space, a prefix without "_" or "-", a key
# body after a "_" or "-" (each found on the class map first), a Google token or Slack hook.
_API_TRIGGER = (
    Clause(needs=" ", has=("earer ", "asic ", "oken ", "EARER ")),
    Clause(needs="A", has_map=(b"AA",), has=("AKIA", "ASIA", "AIza", "SG.", "SK", "GR1348941")),  # two capitals
    Clause(needs="_", search_map=("g_api_us",), search=("api_us",)),
    Clause(scan=("-", "(?=[A-Za-z0-9][A-Za-z0-9_.\\-]{11})"), search_map=("g_api_dash",), search=("api_dash",)),
    Clause(scan=(".", "(?<=ya29\\.)|(?<=hooks\\.)slack\\."), has=("ya29.", "hooks.slack.com/services/")),
)


# ----------------------------------------------------------------------- high_entropy

def _secret_like(tok: str, min_len: int) -> bool:
    """Whether a token looks random. Only letters and digits count, so ``/+=_-`` never matter.

    Random base64 changes between lower case, upper case and digit every ~2 characters;
    words, identifiers and paths (``AbstractBasicAuthHandler``, ``site-packages``) hold 3+
    characters per "word" (the bar is 3.3, 3.4 from 32 and 4 from 48 characters). Hex digests
    (``[0-9a-f]`` only) and base32 (upper case and digits, no ``_``) are random by shape.
    Dash-joined simple parts (``test-8000Hz-le-3ch``) are names, not secrets. Entropy must reach
    3 bits per character (2.5 for hex).
    """
    segs = _P.he_seg.findall(tok)
    n = sum(map(len, segs))
    if n < min_len:
        return False
    core = "".join(segs)
    if core.isdigit():
        return False
    floor = 3.0
    if _P.hex_core.fullmatch(core):
        floor = 2.5  # hex digest: 0-9 plus a-f (or A-F) only, with letters and digits
    elif n * 10 < len(segs) * (33 if n < 32 else 34 if n < 48 else 40):  # short average word
        if ("-" in tok or "_" in tok) and all(_P.simple_part.fullmatch(p) for p in _P.part_sep.split(tok)):
            return False
    elif not (core.isupper() and "_" not in tok and not core.isalpha()):
        return False
    counts: Collection[int] = _P.Counter(core).values()
    if len(counts) < 8:
        return False
    log2: Callable[[float], float] = _P.log2
    return -sum(c / n * log2(c / n) for c in counts) >= floor


_SHORT_DIRS = frozenset({"app", "api", "bin", "cmd", "dev", "etc", "lib", "log", "opt", "pkg", "run", "src",
                         "srv", "sys", "tmp", "usr", "var", "www", "v1", "v2", "v3"})


def _path_word(piece: str) -> bool:
    """A lower-case path component (``site-packages``, ``data``, ``src``); random pieces of a
    base64 secret are rarely one, which keeps ``/``-bearing secrets whole."""
    if len(piece) < 4:
        return piece in _SHORT_DIRS
    if piece.isalpha():
        return piece.islower()
    return _P.path_word.fullmatch(piece) is not None


def _commit_id(text: str, start: int, tok: str) -> bool:
    """A git object id or build id where its context names it so (``commit 3f2a...``, ``build-id:``,
    ``GIT_COMMIT=``, ``app@sha256:...``, ``tree``/``parent``, ``BuildID[sha1]=``): kept, it is what
    developers debug. Hex only (7-64 digits); a random token after such a word is still judged."""
    if not _P.sha_hex.fullmatch(tok):
        return False
    return _P.sha_ctx.search(text, max(0, start - 40), start) is not None


def high_entropy(text: str, ctx: Ctx) -> str:
    """Long random-looking tokens (base64, hex, base32 ...) not caught by a named detector.

    In a ``/``-joined token with real path words (``cfnlint/data/<hash>``) the words stay and
    each run of other pieces between them is judged as a whole. Runs are bounded by path
    words only, so a second pass sees exactly the runs the first pass judged (idempotence).
    """
    min_len = 16 if ctx.env else 20
    n = 0
    ph = ctx.ph["high_entropy"]

    def judge(s: str) -> str:
        nonlocal n
        core = s.strip("/")
        if not core or not _secret_like(core, min_len):
            return s
        n += 1
        return "/" * (len(s) - len(s.lstrip("/"))) + ph + "/" * (len(s) - len(s.rstrip("/")))

    def repl(m: re.Match[str]) -> str:
        tok = m.group("t")
        lead = m.group()[: m.start("t") - m.start()]
        if _commit_id(m.string, m.start("t"), tok):
            return m.group()
        pieces = tok.split("/") if "/" in tok else ()
        if any(pc and _path_word(pc) for pc in pieces):
            out = []
            chunk: list[str] = []
            for pc in pieces:
                if pc and _path_word(pc):
                    if chunk:
                        out.append(judge("/".join(chunk)) + "/")
                        chunk = []
                    out.append(pc + "/")
                else:
                    chunk.append(pc)
            out.append(judge("/".join(chunk)) if chunk else "")
            new = "".join(out)
            new = new[:-1] if not chunk else new
        else:
            new = judge(tok)
        return lead + new

    out: str = (_P.he_16 if ctx.env else _P.he_20).sub(repl, " " + text)[1:]  # a token may start the text
    if n:
        ctx.hit("high_entropy", n)
    return out


# From a cmap: the alphabet of high_entropy tokens. Lower case -> a, "+/_-" -> /, digit or
# upper case -> X, anything else (not in a token, "=" included) -> space.
_HE_MAP = bytes(0x61 if i == 0x61 else 0x2F if i in b"+/_-" else 0x58 if i in b"0A" else 0x20 for i in range(256))


# A token run with three digits or capitals as long as high_entropy's shortest (16 letters and
# digits for env, 20 for the others), found on the high-entropy map; there is a digit or capital.
_HE_TRIGGER = (Clause(env=True, min_len=16, has_map=(b"A", b"0"), view=_HE_MAP, search_view=("g_he_16",)),
               Clause(env=False, min_len=20, has_map=(b"A", b"0"), view=_HE_MAP, search_view=("g_he_20",)))


def _he_patterns() -> dict[str, Any]:
    """A separator followed by a long run of the token alphabet.

    Only runs with 3+ digits or capitals can look random (hex has digits, base64 and base32
    capitals); the lookahead keeps lower-case words and paths away from the Python check.
    """
    import re
    from collections import Counter
    from math import log2

    c = re.compile
    he = f"(?P<t>(?=(?:[a-z+/_-]*+[0-9A-Z]){{3}})[{_TOKEN}]{{%d,}}+(?:=++(?![{_TOKEN}]))?)"
    return {
        "he_20": c(f"[^{_TOKEN}]" + he % 20),
        "he_16": c(f"[^{_TOKEN}]" + he % 16),
        "log2": log2,
        "Counter": Counter,
        "he_seg": c(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+"),
        "path_word": c(r"[a-z]++[0-9]*+(?:[_\-][a-z0-9]++)*+"),  # site-packages, python3, x86_64
        "sha_hex": c(r"[0-9a-f]{7,64}|[0-9A-F]{40}"),
        # words that name a git object or build id, then separators, at the end of what precedes it
        "sha_ctx": c(r"(?i:commit|sha1?|sha-?256|sha-1|rev|revision|changeset|build|build[-_ ]?id|buildid\[sha1\]"
                     r"|tree|parent|object|head|merge|into|git_(?:commit|sha|rev)|commit_sha|digest|version|release"
                     r"|image|checkout|cherry-pick|revert|blob|tag|ref)[^\n]{0,3}?[\s:=@\]'\"(\->]{1,4}"
                     r"(?:[\w.\-]{1,40}@(?:sha256:|sha1:)?)?\Z|[\w/.\-]@(?:sha256:|sha1:)?\Z"),
        "hex_core": c(r"(?=[0-9]*[a-fA-F])(?=[a-fA-F]*[0-9])(?:[0-9a-f]++|[0-9A-F]++)"),
        "simple_part": c(r"[0-9]*+(?:[A-Z]?[a-z]*+|[A-Z]++)|[A-Za-z][a-z]*+[0-9]++"),
        "part_sep": c(r"[\-_/+=]"),
        # gates, on the high-entropy map of the class map (see crashveil.redact.gates): a token
        # run with three digits or capitals from its start (the regex's own lookahead) holding
        # at least min_len letters and digits (_secret_like's first test) (repeats of a group
        # written out: the regex engine runs those several times faster)
        "g_he_16": c(rb" (?=[a/]*+X[a/]*+X[a/]*+X)(?=" + rb"/*+[aX]" * 16 + rb")"),
        "g_he_20": c(rb" (?=[a/]*+X[a/]*+X[a/]*+X)(?=" + rb"/*+[aX]" * 20 + rb")"),
    }


DETECTORS = (
    Detector("pem_private_key", 300, pem_private_key, "<private-key>", _pem_patterns,
             trigger=(Clause(needs=" A", has=("PRIVATE KEY",)),)),
    Detector("url_credentials", 400, url_credentials, "<credentials>", _url_patterns,
             trigger=(Clause(needs="@", has=("://",), search=("url_cred",)),)),
    Detector("connection_string", 500, connection_string, "<credentials>", _conn_patterns, trigger=_CONN_TRIGGER),
    Detector("jwt", 600, jwt, "<secret>", _jwt_patterns, trigger=(Clause(needs="A", has=("eyJ",)),)),
    Detector("api_key", 700, api_key, "<secret>", _api_patterns, trigger=_API_TRIGGER),
    Detector("high_entropy", 2000, high_entropy, "<secret>", _he_patterns,
             trigger=_HE_TRIGGER),
)
