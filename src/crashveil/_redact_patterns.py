"""The detectors behind :mod:`crashveil.redact`: patterns, validators, one function each.

Every detector is a function ``(text, ctx) -> text`` that returns ``text`` itself when
it finds nothing. Four rules keep the whole engine fast and linear on any input:

- **One scan decides what runs.** :func:`triggers` computes, for every plan step
  (:data:`STEPS`), whether anything its patterns need is in the text; a step whose bit is
  clear is skipped (see the Engine section of :mod:`crashveil.redact`). It looks at
  symbols through ``rare`` (the text without letters, digits and ``/._-``), shares one
  coarse regex per anchor (``-``, ``.``, ``:``) among the detectors that use it, and runs
  class-based tests (digit runs, random tokens, key bodies) on :func:`cmap`, a byte map in
  which each character class is one byte, so every such pattern starts with a literal.
- **Cheap gates first.** Inside, a detector runs its regex only when a substring test
  (``'@' in text``, ``text.count(':') >= 6`` ...) says it could match. Substring
  tests run at memory speed; a regex search costs 10-100x more per character, and one
  that starts with a character class scans ~10x slower than one that starts with a literal.
- **Literal anchors.** Where possible a pattern starts with a literal (``@``, ``://``,
  ``-``, ``eyJ``) so that the regex engine can skip ahead at memory speed, and the
  token to the *left* of the anchor is recovered with a lookbehind or a short,
  bounded look back.
- **No ambiguity.** Repeats are possessive (``*+``, ``++``) or separated by a
  character they cannot contain, and every candidate is consumed once, so no input
  can make a pattern backtrack more than a bounded amount per character. Checks that
  a regex expresses badly (Luhn, IBAN mod 97, national id check digits, entropy) run
  in Python on the few candidates that reach them.
- **No rescans.** A failed attempt consumes nothing, so where many starts would scan the
  same long stretch and all fail alike, only one may scan it: ``connection_string`` tries
  a keyword only at its last occurrence in a run of key characters (``"token" * N + "="``;
  they all share that run's end, so the values found are the same), a phone candidate that
  opens with ``(`` or ``+`` and has too few digits left takes the rest of its run as an
  ignored match (``"( " * N``), and Python loops strip or split in one call, never a
  character at a time. The output is the same as without these shortcuts.

Regexes are compiled on first use (:func:`compiled`), never at import.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ALL_STEPS", "DETECTOR_FUNCTIONS", "NUMERIC_DETECTORS", "STEPS", "STEP_OF", "cmap", "compiled", "Ctx",
           "home_gate", "PLACEHOLDER_SHAPE", "numeric_group", "triggers"]

# A placeholder is "<" + lower-case word + ">": '<' and '>' belong to no detector's
# token alphabet, which is what makes every output a fixed point.
PLACEHOLDER_SHAPE = r"<[a-z][a-z0-9-]{0,30}>"


class Ctx:
    """Per-call state handed to every detector: placeholders, hit counts, kind facts."""

    __slots__ = ("ph", "counts", "env", "_low_src", "_low", "_numeric")

    def __init__(self, ph: dict[str, str], env: bool) -> None:
        self.ph = ph
        self.counts: dict[str, int] = {}
        self.env = env
        self._low_src: str | None = None
        self._low = ""
        self._numeric: bool | None = None

    def reset(self, text: str) -> None:
        """Forget facts about the previous pass's text (counts are kept)."""
        self._low_src = None
        self._numeric = None

    def hit(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def low(self, text: str) -> str:
        """``text.lower()`` with the same length (cached while ``text`` is unchanged)."""
        if text is not self._low_src:
            low = text.lower()
            if len(low) != len(text):  # only U+0130 grows when lowered
                low = text.replace("\u0130", "i").lower()
            self._low_src, self._low = text, low
        return self._low

    def numeric(self, text: str) -> bool:
        """Whether ``text`` holds a run of 6+ digits and separators (detectors only remove digits)."""
        if self._numeric is None:
            self._numeric = _P.numeric.search(text) is not None
        return self._numeric


class _Patterns:
    """Stand-in for the compiled namespace until first use: any attribute compiles them all."""

    def __getattr__(self, name: str) -> Any:
        return getattr(compiled(), name)


class _Compiled:
    """Namespace of compiled regexes (a plain class: attribute reads stay cheap, unlike
    one with ``__getattr__``); :func:`compiled` fills one and rebinds ``_P`` to it."""


_P: Any = _Patterns()
_READY = False

_B = "A-Za-z0-9_"  # ASCII word characters, for boundaries
_TOKEN = "A-Za-z0-9+/_-"  # alphabet of base64/hex-like secrets ("=" only as trailing padding)

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

_HOST_DEVICE_WORDS = frozenset({
    "macbook", "macbookpro", "macbookair", "imac", "mbp", "macmini", "laptop", "desktop",
    "thinkpad", "xps", "pc", "chromebook", "zenbook", "vivobook", "ideapad", "inspiron",
    "virtualbox",
})
_HOST_SUFFIXES = (".local", ".lan", ".home", ".localdomain", ".home.arpa", ".fritz.box")

_IBAN_COUNTRIES = frozenset(
    [
        "AD", "AE", "AL", "AT", "AZ", "BA", "BE", "BG", "BH", "BI", "BR", "BY", "CH", "CR", "CY", "CZ", "DE", "DJ",
        "DK", "DO", "EE", "EG", "ES", "FI", "FK", "FO", "FR", "GB", "GE", "GI", "GL", "GR", "GT", "HR", "HU", "IE",
        "IL", "IQ", "IS", "IT", "JO", "KW", "KZ", "LB", "LC", "LI", "LT", "LU", "LV", "LY", "MC", "MD", "ME", "MK",
        "MN", "MR", "MT", "MU", "NI", "NL", "NO", "OM", "PK", "PL", "PS", "PT", "QA", "RO", "RS", "RU", "SA", "SC",
        "SD", "SE", "SI", "SK", "SM", "SO", "ST", "SV", "TL", "TN", "TR", "UA", "VA", "VG", "XK", "YE"
    ]
)


def _case_pairs(pairs: Any, tail: str) -> str:
    """Alternatives matching each two-letter ``pairs`` item (+ ``tail``) in any case, also where
    ``Ctx.low`` makes a letter out of U+0130 (i) or U+212A (k); each starts with a literal."""
    import re

    def variants(ch: str) -> list[str]:
        return [ch, ch.upper()] + (["\u0130"] if ch == "i" else []) + (["\u212a"] if ch == "k" else [])

    return "|".join(re.escape(v) + "[" + "".join(variants(b)) + "]" + tail
                    for a, b in sorted(pairs) for v in variants(a))


def compiled() -> Any:
    """Compile every pattern once (first use) and return the namespace."""
    global _READY, _P
    if _READY:
        return _P
    import re

    c = re.compile
    ns = _Compiled()
    d = ns.__dict__
    d["re"] = re
    d["numeric"] = c(r"[0-9][0-9 ().+/\-]{5,}")
    # Strings that no detector can match: letters, "_", ".", "<", ">" only, and short.
    d["trivial"] = c(r"[A-Za-z_.<>]{0,15}")
    # pem_private_key
    d["pem_begin"] = c(r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
    d["pem_end"] = c(r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
    d["pem_body"] = c(r"[A-Za-z0-9+/=\s\\:,.\-]*+")
    # url_credentials: the userinfo of scheme://userinfo@host (greedy to the last '@').
    d["url_cred"] = c(r"://[^\s/?#'\"<>\\]+@")
    # jwt: header.payload.signature, the header always a base64url JSON object.
    d["jwt"] = c(r"eyJ(?<![A-Za-z0-9_\-]eyJ)[A-Za-z0-9_\-]{4,}+\.[A-Za-z0-9_\-]{4,}+\.[A-Za-z0-9_\-]*+"
                 r"(?:\.[A-Za-z0-9_\-]++){0,2}")
    # api_key: one regex anchored on the "_" or "-" that ends every family prefix.
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
    d["api_anchored"] = c(api_us + "|" + api_dash)
    d["api_us"] = c(api_us)  # the two halves, for the gates: each starts with a literal
    d["api_dash"] = c(api_dash)
    d["api_prefix_len"] = {p: len(p) for prefixes, _ in _API_FAMILIES for p in prefixes}
    d["api_other"] = tuple((g, c(rx)) for g, rx in _API_OTHER)
    d["auth"] = c("(?:" + "|".join(f"{re.escape(s)}(?<![{_B}]{re.escape(s)})" for s in _AUTH_SCHEMES)
                  + r")[ ]*(?P<v>[A-Za-z0-9._~+/=\-]{8,}+)")
    d["slack_hook"] = c(r"hooks\.slack\.com/services/(?P<v>[A-Za-z0-9/_]{8,}+)")
    # email: anchored on '@'; the local part is read backwards from the '@'.
    d["email_domain"] = c(r"@[\w\-]++(?:\.[\w\-]++)+")
    d["email_local_rev"] = c(r"[\w.+%\-]+")
    d["tld"] = c(r"[^\W\d_]{2,63}")
    # home_path: Windows drive roots, POSIX roots, and other backslash homes (UNC, WSL).
    name = r"""(?P<user>[^\\/\x00-\x1f:*?"<>|'`]{1,64}?(?=[\\/]|\Z)|[^\\/\s:*?"<>|'`;,()\[\]{}=]++)"""
    win_dirs = (r"(?:[Uu][Ss][Ee][Rr][Ss]"
                r"|[Dd][Oo][Cc][Uu][Mm][Ee][Nn][Tt][Ss] [Aa][Nn][Dd] [Ss][Ee][Tt][Tt][Ii][Nn][Gg][Ss])")
    # anchored on the literal ":" so the engine skips ahead; the drive letter is read back
    d["home_win"] = c(r":(?<=(?<![A-Za-z0-9_])[A-Za-z]:)(?P<sep>\\\\|[\\/])" + win_dirs + r"(?P=sep)" + name)
    posix = (r"(?:(?:var/|export/|usr/)?home/|(?:mnt/[a-z]/|cygdrive/[a-z]/|[a-z]/|System/Volumes/Data/)?Users/)"
             + name)
    # at the root of a path ("~"), or nested in another folder or a URL (judged in Python)
    d["home_posix_root"] = c(r"/(?<![A-Za-z0-9_.%~\-]/)" + posix)
    d["home_posix_nested"] = c(r"/(?<=[A-Za-z0-9_.%~\-]/)" + posix)
    d["home_backslash"] = c(r"(?P<sep>\\\\|\\)(?:" + win_dirs[3:-1] + r"|home)(?P=sep)" + name)
    d["pytest_of"] = c(r"pytest-of-(?P<user>[^\\/\s'\"<>]++)")
    d["tilde_user"] = c(r"~(?<![\w~]~)(?P<user>[A-Za-z_][\w.\-]{0,31})(?=[\\/])")
    # unc_path: \\host\share (also written with escaped backslashes).
    d["unc"] = c(r"\\\\(?<![\w:\\~.$%/>\-]\\\\)(?:\\\\)?(?P<host>[^\\/\s:*?\"<>|',;]++)")
    # iban: CC + 2 check digits + 11..30 alphanumerics, printed compact or in groups of 4.
    d["iban"] = c(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}+(?:[ ]?[A-Z0-9]{1,3})?+"
                  r"(?![A-Za-z0-9])")
    # card_number: 13+ digits with single spaces or dashes between them.
    d["card"] = c(r"[0-9](?<![A-Za-z0-9_.][0-9])(?=(?:[ \-]?[0-9]){11})(?:[0-9]|[ \-](?=[0-9])){11,}+")
    d["digit_groups"] = c(r"[0-9]+")
    # (after the first character) not a date: 2024-05-12, 12.05.2024
    not_date = r"(?![0-9]{3}[\-/.][0-9]{2}[\-/.][0-9]{2}(?![0-9])|[0-9][./\-][0-9]{2}[./\-][0-9]{4}(?![0-9]))"
    # national_id, digit-led formats (the first digit is matched before the branch).
    d["nid_digit"] = c(
        r"[0-9](?<![A-Za-z0-9_.\-+][0-9])(?=(?:[ .\-+A]?[0-9]){7})" + not_date + r"(?:"  # 8+ digits
        r"(?P<ssn>[0-9]{2}(?P<s1>[- ])[0-9]{2}(?P=s1)[0-9]{4})"  # US SSN 123-45-6789
        r"|(?P<kr>[0-9]{5}-[1-8][0-9]{6})"  # KR RRN 900101-1234567
        r"|(?P<nordic>[0-9]{5}[-+A][0-9]{3}[0-9A-Z]|[0-9]{7}[-+][0-9]{4})"  # SE DK FI NO
        r"|(?P<cpf>[0-9]{2}\.[0-9]{3}\.[0-9]{3}-[0-9]{2})"  # BR CPF 123.456.789-09
        r"|(?P<ahv>(?<=7)56\.[0-9]{4}\.[0-9]{4}\.[0-9]{2})"  # CH AHV 756.1234.5678.97
        r"|(?P<th>-[0-9]{4}-[0-9]{5}-[0-9]{2}-[0-9])"  # TH 1-2345-67890-12-3
        r"|(?P<sin>[0-9]{2}(?P<s2>[- ])[0-9]{3}(?P=s2)[0-9]{3})"  # CA SIN 046 454 286
        r"|(?P<aadhaar>[0-9]{3} [0-9]{4} [0-9]{4})"  # IN Aadhaar 2345 6789 0123
        r"|(?P<nir>(?: [0-9]{2}){2} (?:[0-9]{2}|2[AB]) [0-9]{3} [0-9]{3}(?: [0-9]{2})?)"  # FR NIR spaced
        r"|(?P<dni>[0-9]{7}-?[A-Z])"  # ES DNI 12345678Z
        r"|(?P<run>[0-9]{7,16}[0-9X]?|[0-9]{4}2[AB][0-9]{8})"  # bare runs, checked per country
        r")(?![A-Za-z0-9_]|[.\-][0-9])"
    )
    d["cf_hint"] = c(r"[A-Z][A-Z]{5}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T]")
    d["nid_letter"] = c(
        r"[A-Z](?<![A-Za-z0-9_][A-Z])(?:"
        r"(?P<nino>[A-Z][ ]?[0-9]{2}[ ]?[0-9]{2}[ ]?[0-9]{2}[ ]?[A-Z])"  # UK NINO QQ 12 34 56 C
        r"|(?P<nie>(?<=[XYZ])-?[0-9]{7}-?[A-Z])"  # ES NIE X1234567L
        r"|(?P<cf>[A-Z]{5}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z])"  # IT
        r")(?![A-Za-z0-9_])"
    )
    # uuid: anchored on its first '-', the 8 hex digits before it read by a lookbehind.
    d["uuid"] = c(r"-(?<=(?<![A-Za-z0-9_])(?P<h>[0-9a-fA-F]{8})-)(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
                  r"(?![A-Za-z0-9_])")
    # mac: six hex pairs joined by ':' or '-', or Cisco's three dotted quads; anchored on the
    # separator, the first group read back by a lookbehind.
    hx = "[0-9a-fA-F]"
    for sep, key in ((":", "mac_colon"), ("-", "mac_dash")):
        d[key] = c(f"{sep}(?<=(?<![A-Za-z0-9_:.\\-])(?P<h>{hx}{{2}}){sep})(?:{hx}{{2}}{sep}){{4}}{hx}{{2}}"
                   f"(?![A-Za-z0-9_]|[:\\-]{hx})")
    d["mac_dot"] = c(f"\\.(?<=(?<![A-Za-z0-9_:.\\-])(?P<h>{hx}{{4}})\\.){hx}{{4}}\\.{hx}{{4}}(?![A-Za-z0-9_]|\\.{hx})")
    # ipv6: anchored on ':' + up to 4 hex + ':', widened in Python.
    d["v6_anchor"] = c(r":[0-9A-Fa-f]{0,4}:(?:[0-9A-Fa-f]{0,4}:|(?<=::))")  # not a time 10:30:45
    d["v6_left"] = c(r"[0-9A-Fa-f]{1,4}\Z")
    d["v6_body"] = c(r"[0-9A-Fa-f:.]*+(?:%[0-9A-Za-z_.\-]++)?")
    # ipv4: four dotted decimals; octets, loopback and version context checked in Python.
    d["ipv4"] = c(r"[0-9](?<![A-Za-z0-9_.][0-9])[0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
                  r"(?![A-Za-z0-9_]|\.[0-9])")
    d["version_ctx"] = c(r"(?:(?<![A-Za-z])(?:v|version|ver|release|rel|build|rev|python|py|pypy|cpython)"
                         r"[ :=]?[ ]?|[=<>~!]=[ ]?|[A-Za-z0-9][_\-])\Z", re.IGNORECASE)
    # phone: runs of digits and separators, parsed by a strict grammar in Python.
    # A candidate: a start, six more digits in its run of digits and separators, not a date;
    # the run and any extension. Six digits fail to follow one start only when fewer than six
    # are left in its run, and then at every later start of the run too: a "(" or "+" start
    # then takes the rest of the run as a match of its own (group "skip", which phone()
    # ignores) instead of leaving it to be scanned again from each "(" in "( ( ( ...".
    d6 = r"(?:[ ()+.\-/]*+[0-9]){6}"
    d["phone_cand"] = c(r"[+(0-9](?<![A-Za-z0-9_+.\-/][+(0-9])"
                        r"(?:(?=" + d6 + ")" + not_date + r"[0-9 ()+.\-/]{6,}+(?:(?:x|ext\.? ?|#)[0-9]{1,6}+)?"
                        r"|(?<=[+(])(?=[0-9 ()+.\-/])(?!" + d6 + r")[0-9 ()+.\-/]*+(?P<skip>))")
    d["phone_strict"] = c(r"(?:\+[ ]?|00[ ]?)?(?:\(\+?[0-9]{1,5}\)[ ]?[-./]?[ ]?[0-9]++|[0-9]++)"
                          r"(?:(?:[ ]?\([0-9]{1,5}\)[ ]?-?|[ ]?[-./][ ]?|[ ])[0-9]++)*+"
                          r"(?:[ ]?(?:x|ext\.? ?|#)[0-9]{1,6}+)?")
    d["date"] = c(r"(?:[0-9]{4}([./\-])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([./\-])[0-9]{1,2}\2(?:[0-9]{4}|[0-9]{2}))"
                  r"(?:[ T][0-9]{1,2})?")
    # query_values
    d["query"] = c(r"[?&#](?P<k>[^=&#\s?'\"<>]++)=(?P<v>[^&#\s'\"<>]++)")
    # quoted_input: an opening quote not glued to a word (can't, it's), except b'' r'' u'' f''.
    d["squote"] = c(r"'(?:(?<![\w]')|(?<=[bBrRuUfF]')(?<![\w][bBrRuUfF]'))"
                    r"(?P<c>(?:[^'\\\n]|\\.|'(?=\w))*+)(?P<e>'?)")
    d["dquote"] = c(r'"(?:(?<![\w]")|(?<=[bBrRuUfF]")(?<![\w][bBrRuUfF]"))'
                    r'(?P<c>(?:[^"\\\n]|\\.|"(?=\w))*+)(?P<e>"?)')
    d["identifier"] = c(r"[A-Za-z_][A-Za-z0-9_]*+(?:[.\-:/][A-Za-z0-9_]++)*+")
    d["camel"] = c(r"[a-z0-9][A-Z]")
    d["only_placeholders"] = c(r"(?:\s*" + PLACEHOLDER_SHAPE + r")+\s*")
    d["path_like"] = c(r"(?:/|~|\.\.?[\\/]|[A-Za-z]:[\\/]|\\\\)")
    # hostname
    # A device word always touches a "-" (bobs-laptop, desktop-ab12cd3, alices-macbook-pro):
    # anchor on the "-" and look at the word on either side; suffix hosts anchor on the ".".
    words = sorted(_HOST_DEVICE_WORDS | {"win", "ip", "mac"}, key=len, reverse=True)
    host_dash = "-(?:(?<=[a-z0-9]-)(?:" + "|".join(f"(?<={w}-)" for w in words) + ")|(?=" + "|".join(words) + "))"
    host_dot = r"\.(?=local|lan\b|home\b|fritz\.box)"
    d["host_anchor"] = c(host_dash + "|" + host_dot)
    d["host_dash"] = c(host_dash)  # the two halves, for the gates
    d["host_dot"] = c(host_dot)
    d["host_left_rev"] = c(r"[a-z0-9\-]{0,63}")
    d["host_right"] = c(r"[a-z0-9\-]*+(?:\.[a-z0-9\-]++)*+")
    d["host_windows"] = c(r"(?:desktop|laptop)-[a-z0-9]{7}|win-[a-z0-9]{11}|ip(?:-[0-9]{1,3}){4}")
    # high_entropy: a separator followed by a long run of the token alphabet.
    # Only runs with 3+ digits or capitals can look random (hex has digits, base64 and base32
    # capitals); the lookahead keeps lower-case words and paths away from the Python check.
    he = f"(?P<t>(?=(?:[a-z+/_-]*+[0-9A-Z]){{3}})[{_TOKEN}]{{%d,}}+(?:=++(?![{_TOKEN}]))?)"
    d["he_20"] = c(f"[^{_TOKEN}]" + he % 20)
    d["he_16"] = c(f"[^{_TOKEN}]" + he % 16)
    from collections import Counter
    from math import log2

    d["log2"] = log2
    d["Counter"] = Counter
    d["he_seg"] = c(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
    d["path_word"] = c(r"[a-z]++[0-9]*+(?:[_\-][a-z0-9]++)*+")  # site-packages, python3, x86_64
    d["hex_core"] = c(r"(?=[0-9]*[a-fA-F])(?=[a-fA-F]*[0-9])(?:[0-9a-f]++|[0-9A-F]++)")
    d["simple_part"] = c(r"[0-9]*+(?:[A-Z]?[a-z]*+|[A-Z]++)|[A-Za-z][a-z]*+[0-9]++")
    d["part_sep"] = c(r"[\-_/+=]")
    # gates (see triggers): "coarse" ones share an anchor, "exact" ones are a detector's own test
    hx4 = "[0-9a-fA-F]{4}"
    d["g_tilde"] = c(r"~[A-Za-z_]")
    d["g_drive"] = c(r":(?<=[A-Za-z]:)(?:\\\\|[\\/])(?:" + win_dirs[3:-1] + ")")
    # every ":" that home_path (g_drive), mac (hex:hex:hex ...) or ipv6 (v6_anchor) could use
    d["g_colon"] = c(r":(?:(?<=[A-Za-z]:)(?:\\\\|[\\/])(?:" + win_dirs[3:-1] + r")"
                     r"|[0-9A-Fa-f]{0,4}:(?:[0-9A-Fa-f]{0,4}:|(?<=::)))")
    d["g_backslash"] = c(r"\\(?:" + win_dirs[3:-1] + "|home)")
    # connection_string: a keyword (the part of it that its gate looks for, "user id" and
    # "user name" whole), the rest of the key, an optional quote, blanks and a separator.
    # Only the last occurrence of the keyword in a run of key characters is tried (see
    # _CS_LAST): the others would end at the same place, and trying each costs the run.
    d["g_conn"] = {g: c(re.escape(g) + _CS_LAST % re.escape(g) + (r"(?: id| name)?" if g == "user" else "")
                        + r"[a-z0-9_.\-]*+[\"']?[ \t]*[=:]")
                   for g in _CS_KEYWORDS}
    # Every "-" that api_key (a key body follows), uuid and mac (hex on both sides), hostname (a
    # device word's last two or first two letters on either side) or home_path ("pytest-of-")
    # could use. Letters in any case, and the two characters whose lower() is ASCII (U+0130
    # -> i, U+212A -> k); literal-first alternatives, which the regex engine skips fastest.
    ends = _case_pairs({w[-2:] for w in words}, "-")
    starts = _case_pairs({w[:2] for w in words}, "")
    hx = "[0-9a-fA-F]"
    d["g_dash"] = c(r"-(?:(?=[A-Za-z0-9][A-Za-z0-9_.\-]{11})"
                    f"|(?<={hx}{{2}}-){hx}{{2}}(?:{hx}{{2}}-{hx}{{4}}-|-{hx}{{2}}-)"  # uuid, mac
                    f"|(?<={ends})|(?={starts})|(?<=pytest-)of-)")
    # Every "." that mac (dotted hex), hostname (.local ...) or api_key (ya29., slack) could use.
    d["g_dot"] = c(f"\\.(?:(?<={hx4}\\.){hx4}\\.|(?i:local|lan|home|fritz\\.box)|(?<=ya29\\.)|(?<=hooks\\.)slack\\.)")
    # On the byte maps of cmap() and _HE_MAP (see there); every pattern starts with a literal.
    d["g_numeric"] = c(rb"0[0 ().+/\-]{5}")  # exactly _P.numeric
    d["g_api_us"] = c(rb"_[0Aa][0Aa_.\-]{11}")
    d["g_api_dash"] = c(rb"-[0Aa][0Aa_.\-]{11}")
    # high_entropy: a token run with three digits or capitals from its start (the regex's own
    # lookahead) holding at least min_len letters and digits (_secret_like's first test)
    # (repeats of a group written out: the regex engine runs those several times faster)
    d["g_he_16"] = c(rb" (?=[a/]*+X[a/]*+X[a/]*+X)(?=" + rb"/*+[aX]" * 16 + rb")")
    d["g_he_20"] = c(rb" (?=[a/]*+X[a/]*+X[a/]*+X)(?=" + rb"/*+[aX]" * 20 + rb")")
    # numeric: the runs of digits and separators (Ctx.numeric holds iff there is one)
    d["g_numeric_runs"] = c(rb"0[0 ().+/\-]{5,}+")
    # Members of the numeric group: each its regex's start (first character, lookbehind, date
    # exclusion) and as many digits as every match holds; phone: seven digits (_phone_ok).
    not_date_map = rb"(?!000[\-/.]00[\-/.]00(?!0)|0[./\-]00[./\-]0000(?!0))"
    d["g_iban"] = c(rb"AA00(?<![0Aa]AA00)(?: ?[A0]{4}){2}")
    d["g_card"] = c(rb"0(?<![0Aa_.]0)(?:[ \-]?0){11}")
    d["g_nid_digit"] = c(rb"0(?<![0Aa_.\-+]0)" + not_date_map + rb"(?=(?:[ .\-+A]?0){7})(?:"  # nid_digit's branches
                         rb"00(?P<s1>[- ])00(?P=s1)0000|00000-0{7}|00000[-+A]000[0A]|0{7}[-+]0{4}|00\.000\.000-00"
                         rb"|00\.0{4}\.0{4}\.00|-0{4}-0{5}-00-0|00(?P<s2>[- ])000(?P=s2)000|000 0{4} 0{4}"
                         rb"|(?: 00){2} (?:00|0A) 000 000(?: 00)?|0{7}-?A|0{7,16}[0A]?|0{4}0A0{8})(?![0Aa_]|[.\-]0)")
    d["g_nid_letter"] = c(rb"A(?<![0Aa_]A)(?:A ?00 ?00 ?00 ?A|-?0{7}-?A|A{5}[0A]{2}A)")  # NINO, NIE, codice fiscale
    d["g_ipv4"] = c(rb"0(?<![0Aa_.]0)0{0,2}\.0{1,3}\.0{1,3}\.0")
    d["g_phone"] = c(rb"0(?:[ ()+.\-/]*+0){6}")
    _P = ns
    _READY = True
    return _P


def _merge(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Sort spans and drop any that overlaps an earlier one."""
    spans.sort()
    merged: list[tuple[int, int, str]] = []
    for sp in spans:
        if not merged or sp[0] >= merged[-1][1]:
            merged.append(sp)
    return merged


def _splice(text: str, spans: list[tuple[int, int, str]]) -> str:
    """Replace sorted, non-overlapping ``(start, end, replacement)`` spans of ``text``."""
    out = []
    pos = 0
    for s, e, r in spans:
        out.append(text[pos:s])
        out.append(r)
        pos = e
    out.append(text[pos:])
    return "".join(out)


# --------------------------------------------------------------------------- detectors


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
    return _splice(text, spans)


def url_credentials(text: str, ctx: Ctx) -> str:
    """``scheme://user:password@host`` keeps scheme and host: ``scheme://<credentials>@host``."""
    if "://" not in text or "@" not in text:
        return text
    out, n = _P.url_cred.subn("://" + ctx.ph["url_credentials"].replace("\\", "\\\\") + "@", text)
    if n:
        ctx.hit("url_credentials", n)
    return out


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
                spans.append((s, e, repl))
    if not spans:
        return text
    merged = _merge(spans)
    ctx.hit("connection_string", len(merged))
    return _splice(text, merged)


def jwt(text: str, ctx: Ctx) -> str:
    """JSON Web Tokens (``eyJ...``.``eyJ...``.``sig``), also JWE with five parts."""
    if "eyJ" not in text:
        return text
    out, n = _P.jwt.subn(ctx.ph["jwt"].replace("\\", "\\\\"), text)
    if n:
        ctx.hit("jwt", n)
    return out


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
    merged = _merge(spans)
    ctx.hit("api_key", len(merged))
    return _splice(text, merged)


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


def email(text: str, ctx: Ctx) -> str:
    """``local@domain.tld`` with a letter-only TLD; Unicode local parts and IDN domains too."""
    if "@" not in text:
        return text
    spans = []
    last = 0
    for m in _P.email_domain.finditer(text):
        at = m.start()
        domain = m.group()
        tld = domain[domain.rfind(".") + 1:]
        if not _P.tld.fullmatch(tld):
            continue
        lo = max(last, at - 256)
        r = _P.email_local_rev.match(text[lo:at][::-1])
        if r is None:
            continue
        spans.append((at - r.end(), m.end(), ctx.ph["email"]))
        last = m.end()
    if not spans:
        return text
    ctx.hit("email", len(spans))
    return _splice(text, spans)


def home_path(text: str, ctx: Ctx) -> str:
    """The user name of a home directory; the path keeps its shape (``/home/ann/x`` -> ``~/x``).

    Three passes, each behind a substring gate: drive-rooted Windows homes (``C:\\Users\\Ann``,
    any case, ``/`` or ``\\`` or escaped ``\\\\``) become ``~``; POSIX homes (``/home/ann``,
    ``/Users/ann``, ``/var/home/ann``, ``/mnt/c/Users/ann``) become ``~`` at the start of a
    path and keep their shape with ``<user>`` when nested (``/data/home/<user>``), but not
    inside URLs; any other ``\\Users\\Ann`` (UNC shares, WSL) keeps its shape with ``<user>``.
    """
    n = 0
    if "~" in text:  # first, so the "~" this detector writes is not looked at again
        text, k = _P.tilde_user.subn("~", text)
        n += k
    if ":\\" in text or ":/" in text:
        spans = [(m.start() - 1, m.end(), "~") for m in _P.home_win.finditer(text)]
        if spans:
            n += len(spans)
            text = _splice(text, spans)
    if "/home/" in text or "/Users/" in text:
        text, k = _P.home_posix_root.subn("~", text)
        n += k
        if k == 0 or "/home/" in text or "/Users/" in text:
            text, k = _home_nested(_P.home_posix_nested, text, ctx.ph["home_path"], True)
            n += k
    if "\\" in text and ("sers" in text or "SERS" in text or "home" in text or "ettings" in text):
        text, k = _home_nested(_P.home_backslash, text, ctx.ph["home_path"], False)
        n += k
    if "pytest-of-" in text:
        text, k = _home_nested(_P.pytest_of, text, ctx.ph["home_path"], False)
        n += k
    if n:
        ctx.hit("home_path", n)
    return text


def _home_nested(rx: Any, text: str, ph: str, posix: bool) -> tuple[str, int]:
    """``rx.sub`` keeping the path's shape: the ``user`` group becomes ``ph``; for ``posix``
    not inside a URL. Returns the new text and the number of user names replaced."""
    n = 0

    def nested(m: Any) -> str:
        nonlocal n
        if posix:
            s = m.start()
            j = text.rfind("://", max(0, s - 256), s)
            if j >= 0 and len(text[j:s].split(None, 1)) == 1:
                return m.group()  # a URL path: https://example.org/home/about
        n += 1
        return m.group()[: m.start("user") - m.start()] + ph

    return rx.sub(nested, text), n


def unc_path(text: str, ctx: Ctx) -> str:
    r"""The host of a UNC path: ``\\HOST\share\x`` -> ``\\<host>\share\x``."""
    if "\\\\" not in text:
        return text
    spans = []
    for m in _P.unc.finditer(text):
        host = m.group("host")
        if host in (".", "?", "localhost", "wsl$", "wsl.localhost", "127.0.0.1") or host.startswith("<"):
            continue
        spans.append((m.start("host"), m.end("host"), ctx.ph["unc_path"]))
    if not spans:
        return text
    ctx.hit("unc_path", len(spans))
    return _splice(text, spans)


def _mod97(s: str) -> int:
    r = 0
    for ch in s:
        r = (r * (10 if ch.isdigit() else 100) + int(ch, 36)) % 97
    return r


def _iban_ok(compact: str) -> bool:
    return (15 <= len(compact) <= 34 and compact[:2] in _IBAN_COUNTRIES and compact[2:4].isdigit()
            and _mod97(compact[4:] + compact[:4]) == 1)


def iban(text: str, ctx: Ctx) -> str:
    """IBANs (compact or in groups of four) with a known country and a valid mod-97 checksum."""
    if not ctx.numeric(text):
        return text
    spans = []
    for m in _P.iban.finditer(text):
        parts = m.group().split(" ")
        # The regex may have taken a following upper-case word: shorten until the checksum holds.
        for k in range(len(parts), 0, -1):
            cand = "".join(parts[:k])
            if len(cand) < 15:
                break
            if _iban_ok(cand):
                spans.append((m.start(), m.start() + len(" ".join(parts[:k])), ctx.ph["iban"]))
                break
    if not spans:
        return text
    ctx.hit("iban", len(spans))
    return _splice(text, spans)


_DIGIT = {str(i): i for i in range(10)}
_DOUBLED = {str(i): (2 * i if i < 5 else 2 * i - 9) for i in range(10)}


def _luhn(digits: str) -> bool:
    """The Luhn check (every second digit from the right doubled), summed at C speed."""
    return (sum(map(_DIGIT.__getitem__, digits[-1::-2])) + sum(map(_DOUBLED.__getitem__, digits[-2::-2]))) % 10 == 0


def _card_iin(d: str) -> bool:
    """Issuer prefixes: Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro (3-6),
    national schemes and private-label cards (7-9), Mastercard 2-series (2221-2720), Mir
    (2200-2204), old JCB (2131, 1800), UK Maestro (0604). Other leading 0s and 1s are out:
    epoch milliseconds start with 1."""
    if d[0] in "3456789":  # 7-9: national schemes (Prostir, UkrCard) and private-label cards
        return True
    p = int(d[:4])
    return 2221 <= p <= 2720 or 2200 <= p <= 2204 or p in (2131, 1800, 604)


def card_number(text: str, ctx: Ctx) -> str:
    """12-19 digit payment card numbers (plain or grouped) with a card-network prefix and Luhn."""
    if not ctx.numeric(text):
        return text
    spans = []
    ph = ctx.ph["card_number"]
    for m in _P.card.finditer(text):
        base = m.start()
        s = m.group()
        groups = [(g.start(), g.end()) for g in _P.digit_groups.finditer(s)]
        last = len(groups) - 1
        i = 0
        while i <= last:
            gs, ge = groups[i]
            if ge - gs < 3:
                i += 1  # a card never starts with a group of one or two digits
                continue
            total = 0
            digits = ""
            for j in range(i, min(last + 1, i + 8)):
                gs, ge = groups[j]
                if j > i and ge - gs < 3 and j < last:
                    break  # cards are printed in groups of 3+ digits (the last may be shorter)
                total += ge - gs
                if total > 19:
                    break
                digits += s[gs:ge]
                if total >= 12 and _card_iin(digits) and _luhn(digits):
                    spans.append((base + groups[i][0], base + ge, ph))
                    i = j
                    break
            i += 1
    if not spans:
        return text
    ctx.hit("card_number", len(spans))
    return _splice(text, spans)


def _date_ok(yy: str, mm: str, dd: str) -> bool:
    m, d = int(mm), int(dd)
    return 1 <= m <= 12 and 1 <= d <= 31


def _weighted(d: str, weights: tuple[int, ...]) -> int:
    return sum(int(a) * w for a, w in zip(d, weights, strict=False))


def _nid_run_ok(d: str) -> bool:
    """Whether a bare digit run is a national id of some country (checksums per length)."""
    n = len(d)
    if not d[: n - 1].isdigit():
        return False
    if n == 9:  # NL BSN (11-proof), IL Teudat Zehut (Luhn)
        return ((_weighted(d[:8], (9, 8, 7, 6, 5, 4, 3, 2)) - int(d[8])) % 11 == 0 and d != "000000000") or _luhn(d)
    if n == 10 and d.isdigit():
        # UA RNOKPP (leading 1 would be born before 1927, and is where epoch seconds live)
        if d[0] != "1" and _weighted(d[:9], (-1, 5, 7, 9, 4, 6, 10, 5, 7)) % 11 % 10 == int(d[9]):
            return True
        # AT social insurance number: serial, check digit, DDMMYY
        return d[0] != "0" and _weighted(d, (3, 7, 9, 0, 5, 8, 4, 2, 1, 6)) % 11 == int(d[3]) and \
            _date_ok(d[8:10], d[6:8], d[4:6])
    if n == 11 and d.isdigit():
        # PL PESEL
        if ((10 - _weighted(d[:10], (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)) % 10) % 10 == int(d[10])
                and 1 <= int(d[2:4]) % 20 <= 12 and 1 <= int(d[4:6]) <= 31):
            return True
        # BR CPF
        s1 = _weighted(d[:9], (10, 9, 8, 7, 6, 5, 4, 3, 2)) * 10 % 11 % 10
        s2 = _weighted(d[:10], (11, 10, 9, 8, 7, 6, 5, 4, 3, 2)) * 10 % 11 % 10
        if s1 == int(d[9]) and s2 == int(d[10]) and len(set(d)) > 1:
            return True
        # TR TC Kimlik
        if d[0] != "0":
            odd = sum(int(x) for x in d[0:9:2])
            even = sum(int(x) for x in d[1:8:2])
            if (odd * 7 - even) % 10 == int(d[9]) and sum(int(x) for x in d[:10]) % 10 == int(d[10]):
                return True
        # NO fodselsnummer (DDMMYY + 5)
        k1 = 11 - _weighted(d[:9], (3, 7, 6, 1, 8, 9, 4, 5, 2)) % 11
        k2 = 11 - _weighted(d[:10], (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)) % 11
        if k1 % 11 == int(d[9]) and k2 % 11 == int(d[10]) and _date_ok("", d[2:4], d[0:2]):
            return True
        # HU personal id (sex digit, YYMMDD, serial, check)
        if d[0] in "12345678" and _date_ok(d[1:3], d[3:5], d[5:7]) and (
                _weighted(d[:10], (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)) % 11 == int(d[10])
                or _weighted(d[:10], (10, 9, 8, 7, 6, 5, 4, 3, 2, 1)) % 11 == int(d[10])):
            return True
        # GR AMKA (DDMMYY + Luhn), MX NSS (Luhn)
        return _luhn(d)
    if n == 12 and d.isdigit():  # RU INN of a person
        c1 = _weighted(d[:10], (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) % 11 % 10
        c2 = _weighted(d[:11], (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) % 11 % 10
        return c1 == int(d[10]) and c2 == int(d[11])
    if n == 13 and d.isdigit():
        if d.startswith("756"):  # CH AHV/AVS number (EAN-13)
            return (10 - _weighted(d[:12], (1, 3) * 6) % 10) % 10 == int(d[12])
        k = _weighted(d[:12], (2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9)) % 11  # RO CNP
        return d[0] in "12345678" and (1 if k == 10 else k) == int(d[12]) and _date_ok(d[1:3], d[3:5], d[5:7])
    if n == 15:  # FR NIR (2A/2B are Corsica)
        body = d[:13].replace("2A", "19").replace("2B", "18")
        if d[0] in "12" and body.isdigit() and d[13:].isdigit():
            return 97 - int(body) % 97 == int(d[13:])
        return False
    if n == 18:  # CN resident identity card
        w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        check = "10X98765432"[_weighted(d[:17], w) % 11]
        return check == d[17] and _date_ok(d[6:10], d[10:12], d[12:14])
    return False


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def national_id(text: str, ctx: Ctx) -> str:
    """National identity numbers: US SSN, UK NINO, FR NIR, ES DNI/NIE, IT codice fiscale, NL BSN,
    PL PESEL, BR CPF, Nordic personal numbers, KR RRN, CN id, IN Aadhaar, CA SIN, CH AHV, TR, RO,
    TH, IL, GR AMKA, HU, UA, AT, RU INN, MX NSS."""
    numeric = ctx.numeric(text)
    if not numeric and _P.cf_hint.search(text) is None:
        return text
    spans = []
    ph = ctx.ph["national_id"]
    if numeric:
        for m in _P.nid_digit.finditer(text):
            kind = m.lastgroup
            ok = False
            if kind == "ssn":
                v = m.group()
                ok = v[:3] != "000" and v[4:6] != "00" and v[-4:] != "0000"
            elif kind in ("kr", "cpf", "th", "aadhaar", "ahv"):
                ok = kind != "aadhaar" or m.group()[0] not in "01"
            elif kind == "nordic":
                v = m.group()
                ok = _date_ok("", v[2:4], v[0:2]) or _date_ok("", v[2:4], v[4:6]) or len(v) == 13
            elif kind == "sin":
                ok = _luhn(m.group().replace(" ", "").replace("-", ""))
            elif kind == "nir":
                ok = _nid_run_ok(m.group().replace(" ", ""))
            elif kind == "dni":
                v = m.group().replace("-", "")
                ok = len(v) == 9 and _DNI_LETTERS[int(v[:8]) % 23] == v[8]
            elif kind == "run":
                ok = _nid_run_ok(m.group())
            if ok:
                spans.append((m.start(), m.end(), ph))
    for m in _P.nid_letter.finditer(text):
        kind = m.lastgroup
        ok = True
        if kind == "nie":
            v = m.group().replace("-", "")
            ok = len(v) == 9 and _DNI_LETTERS[int(str("XYZ".index(v[0])) + v[1:8]) % 23] == v[8]
        if ok:
            spans.append((m.start(), m.end(), ph))
    if not spans:
        return text
    merged = _merge(spans)
    ctx.hit("national_id", len(merged))
    return _splice(text, merged)


def uuid(text: str, ctx: Ctx) -> str:
    """UUIDs in 8-4-4-4-12 form, any version, any case."""
    if text.count("-") < 4:
        return text
    spans = [(m.start("h"), m.end(), ctx.ph["uuid"]) for m in _P.uuid.finditer(text)]
    if not spans:
        return text
    ctx.hit("uuid", len(spans))
    return _splice(text, spans)


def mac(text: str, ctx: Ctx) -> str:
    """MAC addresses: ``aa:bb:cc:dd:ee:ff``, ``AA-BB-CC-DD-EE-FF``, ``aabb.ccdd.eeff``."""
    spans: list[tuple[int, int, str]] = []
    if text.count(":") >= 5:
        spans.extend((m.start("h"), m.end(), ctx.ph["mac"]) for m in _P.mac_colon.finditer(text))
    if text.count("-") >= 5:
        spans.extend((m.start("h"), m.end(), ctx.ph["mac"]) for m in _P.mac_dash.finditer(text))
    if text.count(".") >= 2:
        spans.extend((m.start("h"), m.end(), ctx.ph["mac"]) for m in _P.mac_dot.finditer(text))
    if not spans:
        return text
    spans.sort()
    ctx.hit("mac", len(spans))
    return _splice(text, spans)


def _ipv4_ok(s: str) -> bool:
    parts = s.split(".")
    return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts)


def _ipv6_ok(s: str) -> bool:
    """Syntax of an IPv6 address (no zone); loopback ``::1`` and ``::`` count as not personal."""
    if s.count("::") > 1 or ":::" in s:
        return False
    groups_needed = 8
    if "." in s:
        head, _, tail = s.rpartition(":")
        if not _ipv4_ok(tail):
            return False
        s = head + ":" if head.endswith(":") else head
        groups_needed = 6
        if s.endswith(":") and not s.endswith("::"):
            s = s[:-1]
    if "::" in s:
        left, _, right = s.partition("::")
        groups = [g for g in left.split(":") if g] + [g for g in right.split(":") if g]
        if (left and left.startswith(":")) or (right and right.endswith(":")):
            return False
        if len(groups) > groups_needed - 1:
            return False
        if groups_needed == 8 and len(groups) < 2:
            return False  # "::", "::1", "a[::2]" - not an address worth hiding
    else:
        groups = s.split(":")
        if len(groups) != groups_needed:
            return False
    return all(1 <= len(g) <= 4 and all(c in "0123456789abcdefABCDEF" for c in g) for g in groups)


def ipv6(text: str, ctx: Ctx) -> str:
    """IPv6 addresses in any compressed form, with an embedded IPv4 tail or a ``%zone``."""
    if "::" not in text and text.count(":") < 6:
        return text
    spans = []
    pos = 0
    n = len(text)
    while (m := _P.v6_anchor.search(text, pos)) is not None:
        a = m.start()
        left = _P.v6_left.search(text, max(0, a - 4), a)
        start = left.start() if left else a
        body = _P.v6_body.match(text, start)
        end = body.end()
        pos = max(end, m.start() + 1)
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_:."):
            continue
        if end < n and (text[end].isalnum() or text[end] == "_"):
            continue
        cand = body.group()
        zone = cand.find("%")
        addr = cand if zone < 0 else cand[:zone]
        if addr.endswith((".", ":")):
            # Drop trailing "." and ":" but keep a final "::": the end of the last "::" in the
            # tail of dots and colons, else the tail goes. (One char at a time was N^2.)
            core = len(addr.rstrip(".:"))
            k = addr.rfind("::", core)
            k = core if k < 0 else k + 2
            if zone < 0:
                end -= len(addr) - k
            addr = addr[:k]
        if _ipv6_ok(addr):
            spans.append((start, end, ctx.ph["ipv6"]))
    if not spans:
        return text
    ctx.hit("ipv6", len(spans))
    return _splice(text, spans)


def ipv4(text: str, ctx: Ctx) -> str:
    """Dotted-quad IPv4 addresses; loopback, 0.0.0.0, netmasks and version numbers stay."""
    if text.count(".") < 3 or not ctx.numeric(text):
        return text
    spans = []
    for m in _P.ipv4.finditer(text):
        v = m.group()
        if not _ipv4_ok(v):
            continue
        first = v.split(".", 1)[0]
        if first == "127" or v == "0.0.0.0" or (first == "255" and all(
                p in ("0", "128", "192", "224", "240", "248", "252", "254", "255") for p in v.split("."))):
            continue
        s = m.start()
        if s and _P.version_ctx.search(text, max(0, s - 12), s):
            continue
        spans.append((s, m.end(), ctx.ph["ipv4"]))
    if not spans:
        return text
    ctx.hit("ipv4", len(spans))
    return _splice(text, spans)


def _phone_ok(t: str) -> bool:
    """Whether a strictly-shaped digit group sequence is a phone number (see module docs)."""
    main = t
    for marker in ("ext", "x", "#"):
        k = main.find(marker)
        if k > 0:
            main = main[:k].rstrip()
    groups = _P.digit_groups.findall(main)
    digits = "".join(groups)
    nd = len(digits)
    if nd < 7 or nd > 15:
        return False
    if main.startswith(("+", "(+")):
        return True
    if main.startswith("00") and digits[2] != "0" and nd >= 10:
        return True  # 00 + country code
    if len(groups) == 1:
        return _bare_phone(digits)
    if _P.date.fullmatch(main):
        return False
    lens = [len(g) for g in groups]
    trunk = (digits[0] == "0" and digits[1] != "0") or (digits[0] == "8" and nd == 11)
    if main.startswith("("):
        return nd >= 8 or (nd == 7 and trunk)
    if lens in ([3, 3, 4], [1, 3, 3, 4]):
        return True  # NANP 415-555-0123, 1 415 555 0123, 415.555.0123
    if "." in main:  # dotted: only trunk-prefixed national numbers (0460.308.246, 06.12.34.56.78)
        return trunk and 9 <= nd <= 12 and all(2 <= x <= 4 for x in lens)
    if trunk and (9 <= nd <= 13 or (nd == 8 and len(groups) >= 3)):
        return True  # 06 12 34 56 78, 020 7946 0958, 030 1234567, 8 912 345 67 89, 08-26 01 81
    if 9 <= nd <= 12 and len(groups) >= 3 and lens[0] <= 5 and all(2 <= x <= 4 for x in lens[1:]):
        return True  # 609 141 777, 612 34 56 78, 22600 18 159
    return len(groups) == 2 and 2 <= lens[0] <= 4 and 5 <= lens[1] <= 8 and 9 <= nd <= 11


def _bare_phone(d: str) -> bool:
    """A phone written without separators: only shapes that national numbering plans pin down."""
    n = len(d)
    if d[0] == "0":
        return d[1] != "0" and 9 <= n <= 11  # trunk prefix: 0612345678, 02079460958, 044628194
    if n == 10:
        if d[0] == "1":
            return False  # epoch seconds
        v = int(d)
        return v & (v - 1) != 0 and v & (v + 1) != 0  # 4294967296, 2147483647 are sizes, not phones
    if n == 11:
        return d[0] == "8" or d[0] == "3" or (d[0] == "1" and d[1] in "3456789")  # RU trunk, IT mobile, CN
    return False


def phone(text: str, ctx: Ctx) -> str:
    """Phone numbers: international (+44 20 7946 0958, 0044 ...), national with separators
    (06 12 34 56 78, (555) 123-4567, 030 123456) and a few unambiguous bare forms."""
    if not ctx.numeric(text):
        return text
    spans = []
    ph = ctx.ph["phone"]
    for m in _P.phone_cand.finditer(text):
        if m.lastgroup is not None:
            continue  # a run too short for a phone after a "(" or "+" (see _P.phone_cand)
        base = m.start()
        for s in _P.phone_strict.finditer(m.group()):
            t = s.group()
            if len(t) >= 7 and _phone_ok(t):
                spans.append((base + s.start(), base + s.end(), ph))
    if not spans:
        return text
    ctx.hit("phone", len(spans))
    return _splice(text, spans)


def query_values(text: str, ctx: Ctx) -> str:
    """Query-string and fragment values: ``?email=x&page=2`` -> ``?email=<value>&page=<value>``."""
    if "=" not in text or ("?" not in text and "&" not in text and "#" not in text):
        return text
    ph = ctx.ph["query_values"]
    n = 0

    def repl(m: Any) -> str:
        nonlocal n
        n += 1
        return m.group()[0] + m.group("k") + "=" + ph

    out = _P.query.sub(repl, text)
    if n:
        ctx.hit("query_values", n)
    return out


def _keep_quoted(c: str) -> bool:
    """Whether quoted message content is safe to keep (see :mod:`crashveil.redact` docs)."""
    if not c or _P.only_placeholders.fullmatch(c):
        return True
    if _P.path_like.match(c) and "\n" not in c:
        return True  # paths keep their shape; their user names went through home_path
    if len(c) > 40 or not c.isascii() or not _P.identifier.fullmatch(c):
        return False
    if sum(ch.isdigit() for ch in c) > 4:
        return False
    if any(ch in c for ch in "._-:/") or c.startswith("_"):
        return True  # utf-8, os.path, foo_bar, __init__, x86_64
    if c.islower() or c.isupper():
        return True  # str, split, sha256, PATH
    return _P.camel.search(c) is not None  # NoneType, DataFrame; "Alice" is not kept


def quoted_input(text: str, ctx: Ctx) -> str:
    """Quoted user input in messages: ``'hello bob'`` -> ``<input>``; identifiers and paths stay."""
    n = 0
    ph = ctx.ph["quoted_input"]

    def repl(m: Any) -> str:
        nonlocal n
        if not m.group("e") or _keep_quoted(m.group("c")):
            return m.group()
        n += 1
        return ph

    if '"' in text:
        text = _P.dquote.sub(repl, text)
    if "'" in text:
        text = _P.squote.sub(repl, text)
    if n:
        ctx.hit("quoted_input", n)
    return text


def _personal_host(tok: str) -> bool:
    label = tok.split(".", 1)[0]
    if _P.host_windows.fullmatch(label):
        return True
    parts = label.split("-")
    if 2 <= len(parts) <= 6 and (any(p in _HOST_DEVICE_WORDS or p.startswith(("macbook", "imac"))
                                     for p in parts) or "mac-mini" in label):
        return True
    if tok.endswith(_HOST_SUFFIXES):
        return "-" in label or any(ch.isdigit() for ch in label)
    return False


def hostname(text: str, ctx: Ctx) -> str:
    """Names of personal machines: ``alices-macbook-pro.local``, ``DESKTOP-AB12CD3``, ``bobs-laptop``."""
    if "-" not in text and "." not in text:
        return text
    low = ctx.low(text)
    anchors = [m.start() for m in _P.host_anchor.finditer(low)]
    if not anchors:
        return text
    spans: list[tuple[int, int, str]] = []
    done = 0
    for a in anchors:
        if a < done:
            continue
        lo = a - _P.host_left_rev.match(low[max(0, a - 63):a][::-1]).end()
        hi = _P.host_right.match(low, a).end()
        done = max(hi, a + 1)
        tok = low[lo:hi]
        stripped = tok.lstrip("-.")
        lo += len(tok) - len(stripped)
        tok = stripped.rstrip("-.")
        if tok and (not spans or lo >= spans[-1][1]) and _personal_host(tok):
            spans.append((lo, lo + len(tok), ctx.ph["hostname"]))
    if not spans:
        return text
    ctx.hit("hostname", len(spans))
    return _splice(text, spans)


def _secret_like(tok: str, min_len: int) -> bool:
    """Whether a token looks random. Only letters and digits count, so ``/+=_-`` never matter.

    Random base64 changes between lower case, upper case and digit every ~2 characters;
    words, identifiers and paths (``AbstractBasicAuthHandler``, ``site-packages``) hold 3+
    characters per "word" (the bar is 3.3, 3.4 from 32 and 4 from 48 characters). Hex digests
    (``[0-9a-f]`` only) and base32 (upper case and digits, no ``_``) are random by shape.
    Dash-joined simple parts (``test-8000Hz-le-3ch``) are names, not secrets. Entropy must
    reach 3 bits per character (2.5 for hex).
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
    counts = _P.Counter(core).values()
    if len(counts) < 8:
        return False
    log2 = _P.log2
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

    def repl(m: Any) -> str:
        tok = m.group("t")
        lead = m.group()[: m.start("t") - m.start()]
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

    out = (_P.he_16 if ctx.env else _P.he_20).sub(repl, " " + text)[1:]  # a token may start the text
    if n:
        ctx.hit("high_entropy", n)
    return out


# Detectors that only look at runs of 6+ digits and separators (``Ctx.numeric``); national_id
# also has letter-led formats (codice fiscale) and runs on its own when there is no such run.
NUMERIC_DETECTORS = ("iban", "card_number", "national_id", "ipv4", "phone")


# ------------------------------------------------------------------------- class maps

def _class_table() -> bytes:
    """Byte map of :func:`cmap`: ASCII digit -> ``0``, upper case -> ``A``, lower case -> ``a``,
    any byte of a non-ASCII character -> ``\x80``, every other ASCII character stays itself."""
    out = bytearray(range(256))
    for i in range(256):
        if 0x30 <= i <= 0x39:
            out[i] = 0x30
        elif 0x41 <= i <= 0x5A:
            out[i] = 0x41
        elif 0x61 <= i <= 0x7A:
            out[i] = 0x61
        elif i >= 0x80:
            out[i] = 0x80
    return bytes(out)


_CLASSES = _class_table()
# From a cmap: the alphabet of high_entropy tokens. Lower case -> a, "+/_-" -> /, digit or
# upper case -> X, anything else (not in a token, "=" included) -> space.
_HE_MAP = bytes(0x61 if i == 0x61 else 0x2F if i in b"+/_-" else 0x58 if i in b"0A" else 0x20 for i in range(256))


def cmap(text: str) -> bytes:
    """``text`` as bytes in which each character class is one byte (:func:`_class_table`).

    Each ASCII character keeps its place among its ASCII neighbours (a non-ASCII character
    becomes two to four ``\x80`` bytes), so a pattern made of ASCII classes matches ``text``
    exactly where its class-map version matches the map, one C pass and then a regex that
    starts with a literal: far cheaper than a regex that starts with a character class.
    """
    return text.encode("utf-8", "surrogatepass").translate(_CLASSES)


# What each member of the numeric group needs where a match starts, on the cmap (names in _P).
_MEMBER_GATES: dict[Any, tuple[str, ...]] = {
    iban: ("g_iban",), card_number: ("g_card",), national_id: ("g_nid_digit", "g_nid_letter"),
    ipv4: ("g_ipv4",), phone: ("g_phone",),
}


def numeric_group(fns: tuple[Any, ...]) -> Any:
    """One plan step for consecutive digit-run detectors (iban ... phone).

    They run only when :meth:`Ctx.numeric` holds (a run of 6+ digits and separators), except
    the letter-led national ids; each member runs only when its gate (:data:`_MEMBER_GATES`)
    finds on the class map of the current text what every match of its regex starts with.
    """
    nid = national_id if national_id in fns else None
    members: list[tuple[Any, tuple[Any, ...]]] = []  # (detector, gate patterns), filled on first use

    def run(text: str, ctx: Ctx) -> str:
        P = _P
        if not members:
            members.extend((fn, tuple(getattr(P, g).search for g in _MEMBER_GATES[fn])) for fn in fns)
        cm = text.encode("utf-8", "surrogatepass").translate(_CLASSES)  # cmap(text)
        if ctx._numeric is None:
            ctx._numeric = P.g_numeric.search(cm) is not None  # Ctx.numeric(text), on the map
        if ctx._numeric:
            for fn, gates in members:
                for gate in gates:
                    if gate(cm) is not None:
                        new = fn(text, ctx)
                        if new is not text:
                            text = new
                            cm = text.encode("utf-8", "surrogatepass").translate(_CLASSES)
                        break
            return text
        if nid is not None and P.g_nid_letter.search(cm) is not None:
            return nid(text, ctx)
        return text

    run.__name__ = "numeric_group"
    return run


# ------------------------------------------------------------------------------ gates

STEPS: tuple[str, ...] = (
    "home_path", "unc_path", "pem_private_key", "url_credentials", "connection_string", "jwt", "api_key", "email",
    "uuid", "mac", "ipv6", "numeric", "query_values", "quoted_input", "hostname", "high_entropy",
)
"""Plan steps in the order they run; ``"numeric"`` is :func:`numeric_group` (iban ... phone).
Bit ``1 << i`` of a :func:`triggers` mask stands for step ``i``."""

STEP_OF: dict[str, int] = {name: i for i, name in enumerate(STEPS)}
STEP_OF.update((name, STEP_OF["numeric"]) for name in NUMERIC_DETECTORS)

(_HOME, _UNC, _PEM, _URL, _CONN, _JWT, _API, _EMAIL, _UUID, _MAC, _IPV6, _NUM, _QUERY, _QUOTED, _HOST,
 _HE) = (1 << i for i in range(len(STEPS)))
ALL_STEPS = (1 << len(STEPS)) - 1
_COLON_STEPS = _HOME | _MAC | _IPV6  # what the ":" scan can find
_DASH_STEPS = _HOME | _API | _UUID | _MAC | _HOST  # ... the "-" scan
_DOT_STEPS = _MAC | _HOST | _API  # ... the "." scan


def _lower(t: str) -> str:
    """``Ctx.low``: ``t.lower()`` with the same length."""
    low = t.lower()
    return low if len(low) == len(t) else t.replace("\u0130", "i").lower()


def home_gate(t: str) -> bool:
    """Bit 0 of :func:`triggers` alone: whether :func:`home_path` could change ``t``."""
    P = _P
    return ("/home/" in t or "/Users/" in t or "pytest-of-" in t or ("~" in t and P.g_tilde.search(t) is not None)
            or (":" in t and P.g_drive.search(t) is not None) or ("\\" in t and P.g_backslash.search(t) is not None))


def triggers(t: str, env: bool = False, skip: int = 0) -> int:
    """Mask of the plan steps (:data:`STEPS`) that could change ``t`` (``env``: of kind env).
    The bits in ``skip`` are not looked at (they come back clear): already known.

    A clear bit is a proof: each test below is implied by its detector's own gate or by
    every match of its patterns, so a step whose bit is clear would return ``t`` unchanged
    and count nothing. A set bit only means "run it". ``tests/redact/test_redact_gates.py``
    checks every bit against its detector.

    A regex that starts with a character class scans ~10x slower than one that starts with
    a literal, and a substring test is faster still. So symbols are looked up in ``rare``
    (``t`` without letters, digits and ``/._-``, usually empty or short), the detectors
    anchored on ``-``, ``.`` or ``:`` share one coarse scan each, and the class-based gates
    (digit runs, random tokens, key bodies) run on :func:`cmap` where each class is one byte
    and every pattern starts with a literal. Only a coarse hit pays for the exact tests.
    """
    P = _P
    cm = t.encode("utf-8", "surrogatepass").translate(_CLASSES)  # cmap(t)
    rare = cm.translate(None, b"0Aa/._-")  # symbols, spaces and non-ASCII bytes
    up = 0x41 in cm  # an ASCII upper case letter
    home = not skip & _HOME
    low = ""
    m = 0
    if home and ("/home/" in t or (up and "/Users/" in t)):
        m = _HOME
    if rare:
        if home and 0x7E in rare and P.g_tilde.search(t) is not None:  # ~
            m |= _HOME
        if 0x3A in rare and skip & _COLON_STEPS != _COLON_STEPS and P.g_colon.search(t) is not None:  # :
            if home and P.g_drive.search(t) is not None:
                m |= _HOME
            nc = t.count(":")
            if nc >= 5 and not skip & _MAC and P.mac_colon.search(t) is not None:
                m |= _MAC
            if (nc >= 6 or "::" in t) and not skip & _IPV6 and P.v6_anchor.search(t) is not None:
                m |= _IPV6
        if 0x5C in rare:  # backslash
            if home and P.g_backslash.search(t) is not None:
                m |= _HOME
            if "\\\\" in t:
                m |= _UNC
        if 0x40 in rare:  # @
            m |= _EMAIL
            if "://" in t and not skip & _URL and P.url_cred.search(t) is not None:
                m |= _URL
        eq = 0x3D in rare
        if not skip & _CONN and (eq or (0x3A in rare and (": " in t or ':"' in t or ":'" in t or ":\t" in t))):
            low = _lower(t)  # (the separators connection_string's own gate wants)
            if any(map(low.__contains__, _CS_KEYWORDS)):
                for g, rx in P.g_conn.items():
                    if g in low and rx.search(low) is not None:
                        m |= _CONN
                        break
        if eq and (0x3F in rare or 0x26 in rare or 0x23 in rare):  # ? & #
            m |= _QUERY
        if 0x27 in rare or 0x22 in rare:  # quotes
            m |= _QUOTED
        if 0x20 in rare:  # space
            if not skip & _API and ("earer " in t or "asic " in t or "oken " in t or (up and "EARER " in t)):
                m |= _API
            if up and not skip & _PEM and "PRIVATE KEY" in t:
                m |= _PEM
    if up:
        if not skip & _JWT and "eyJ" in t:
            m |= _JWT
        if not (skip | m) & _API and (
                "AKIA" in t or "ASIA" in t or "AIza" in t or "SG." in t or "SK" in t or "GR1348941" in t):
            m |= _API
    if 0x5F in cm and not (skip | m) & _API and P.g_api_us.search(cm) is not None \
            and P.api_us.search(t) is not None:  # _
        m |= _API
    if 0x2D in cm and skip & _DASH_STEPS != _DASH_STEPS and P.g_dash.search(t) is not None:
        # -: one coarse scan, then each detector's own test
        if home and "pytest-of-" in t:
            m |= _HOME
        if not (skip | m) & _API and P.g_api_dash.search(cm) is not None and P.api_dash.search(t) is not None:
            m |= _API
        nd = t.count("-")
        if nd >= 4 and not skip & _UUID and P.uuid.search(t) is not None:
            m |= _UUID
        if nd >= 5 and not (skip | m) & _MAC and P.mac_dash.search(t) is not None:
            m |= _MAC
        if not skip & _HOST:
            if not low:
                low = _lower(t)
            if P.host_dash.search(low) is not None:
                m |= _HOST
    if 0x2E in cm and skip & _DOT_STEPS != _DOT_STEPS and P.g_dot.search(t) is not None:  # .
        if not (skip | m) & _MAC and P.mac_dot.search(t) is not None:
            m |= _MAC
        if not (skip | m) & _HOST:
            if not low:
                low = _lower(t)
            if P.host_dot.search(low) is not None:
                m |= _HOST
        if "ya29." in t or "hooks.slack.com/services/" in t:
            m |= _API
    if not skip & _NUM:
        if 0x30 in cm:
            # Ctx.numeric holds iff there is such a run. Phone and card numbers, IPv4 addresses and
            # most national ids lie inside one run; national ids may also use "A" as a separator.
            runs = P.g_numeric_runs.findall(cm)
            if runs and (max([r.count(0x30) for r in runs]) >= 7  # g_phone (g_card, most g_nid_digit)
                         or (max([r.count(0x2E) for r in runs]) >= 3 and P.g_ipv4.search(cm) is not None)
                         or (up and ((cm.find(b"0A0") >= 0 and P.g_nid_digit.search(cm) is not None)
                                     or P.g_iban.search(cm) is not None))):
                m |= _NUM
        if up and not m & _NUM and P.g_nid_letter.search(cm) is not None:
            m |= _NUM
    if (not skip & _HE and len(t) >= 16 and (up or 0x30 in cm)
            and (P.g_he_16 if env else P.g_he_20).search((b" " + cm).translate(_HE_MAP)) is not None):
        m |= _HE
    return m & ~skip


DETECTOR_FUNCTIONS = {
    "pem_private_key": pem_private_key,
    "url_credentials": url_credentials,
    "connection_string": connection_string,
    "jwt": jwt,
    "api_key": api_key,
    "email": email,
    "home_path": home_path,
    "unc_path": unc_path,
    "iban": iban,
    "card_number": card_number,
    "national_id": national_id,
    "uuid": uuid,
    "mac": mac,
    "ipv6": ipv6,
    "ipv4": ipv4,
    "phone": phone,
    "query_values": query_values,
    "quoted_input": quoted_input,
    "hostname": hostname,
    "high_entropy": high_entropy,
}
