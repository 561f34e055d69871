"""Network detectors: e-mail addresses, UUIDs, MAC and IP addresses, personal host names,
query-string values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crashveil.redact.detector import PATTERNS as _P, Clause, Ctx, Detector, splice

if TYPE_CHECKING:
    import re


def email(text: str, ctx: Ctx) -> str:
    """``local@domain.tld`` with a letter-only TLD; Unicode local parts and IDN domains too."""
    if "@" not in text:
        return text
    spans: list[tuple[int, int, str]] = []
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
    return splice(text, spans)


def _email_patterns() -> dict[str, Any]:
    """Anchored on '@'; the local part is read backwards from the '@'."""
    import re

    c = re.compile
    return {
        "email_domain": c(r"@[\w\-]++(?:\.[\w\-]++)+"),
        "email_local_rev": c(r"[\w.+%\-]+"),
        "tld": c(r"[^\W\d_]{2,63}"),
    }


def uuid(text: str, ctx: Ctx) -> str:
    """UUIDs in 8-4-4-4-12 form, any version, any case."""
    if text.count("-") < 4:
        return text
    spans = [(m.start("h"), m.end(), ctx.ph["uuid"]) for m in _P.uuid.finditer(text)]
    if not spans:
        return text
    ctx.hit("uuid", len(spans))
    return splice(text, spans)


def _uuid_patterns() -> dict[str, Any]:
    """Anchored on its first '-', the 8 hex digits before it read by a lookbehind."""
    import re

    return {"uuid": re.compile(r"-(?<=(?<![A-Za-z0-9_])(?P<h>[0-9a-fA-F]{8})-)(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
                               r"(?![A-Za-z0-9_])")}


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
    return splice(text, spans)


def _mac_patterns() -> dict[str, Any]:
    """Six hex pairs joined by ':' or '-', or Cisco's three dotted quads; anchored on the
    separator, the first group read back by a lookbehind."""
    import re

    c = re.compile
    hx = "[0-9a-fA-F]"
    d = {}
    for sep, key in ((":", "mac_colon"), ("-", "mac_dash")):
        d[key] = c(f"{sep}(?<=(?<![A-Za-z0-9_:.\\-])(?P<h>{hx}{{2}}){sep})(?:{hx}{{2}}{sep}){{4}}{hx}{{2}}"
                   f"(?![A-Za-z0-9_]|[:\\-]{hx})")
    d["mac_dot"] = c(f"\\.(?<=(?<![A-Za-z0-9_:.\\-])(?P<h>{hx}{{4}})\\.){hx}{{4}}\\.{hx}{{4}}(?![A-Za-z0-9_]|\\.{hx})")
    return d


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
    spans: list[tuple[int, int, str]] = []
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
    return splice(text, spans)


def _ipv6_patterns() -> dict[str, Any]:
    """Anchored on ':' + up to 4 hex + ':', widened in Python."""
    import re

    c = re.compile
    return {
        "v6_anchor": c(r":[0-9A-Fa-f]{0,4}:(?:[0-9A-Fa-f]{0,4}:|(?<=::))"),  # not a time 10:30:45
        "v6_left": c(r"[0-9A-Fa-f]{1,4}\Z"),
        "v6_body": c(r"[0-9A-Fa-f:.]*+(?:%[0-9A-Za-z_.\-]++)?"),
    }


def ipv4(text: str, ctx: Ctx) -> str:
    """Dotted-quad IPv4 addresses; loopback, 0.0.0.0, netmasks and version numbers stay."""
    if text.count(".") < 3 or not ctx.numeric(text):
        return text
    spans: list[tuple[int, int, str]] = []
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
    return splice(text, spans)


def _ipv4_patterns() -> dict[str, Any]:
    """Four dotted decimals; octets, loopback and version context checked in Python."""
    import re

    c = re.compile
    return {
        "ipv4": c(r"[0-9](?<![A-Za-z0-9_.][0-9])[0-9]{0,2}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
                  r"(?![A-Za-z0-9_]|\.[0-9])"),
        "version_ctx": c(r"(?:(?<![A-Za-z])(?:v|version|ver|release|rel|build|rev|python|py|pypy|cpython)"
                         r"[ :=]?[ ]?|[=<>~!]=[ ]?|[A-Za-z0-9][_\-])\Z", re.IGNORECASE),
        "g_ipv4": c(rb"0(?<![0Aa_.]0)0{0,2}\.0{1,3}\.0{1,3}\.0"),  # on the class map
    }


def query_values(text: str, ctx: Ctx) -> str:
    """Query-string and fragment values: ``?email=x&page=2`` -> ``?email=<value>&page=<value>``."""
    if "=" not in text or ("?" not in text and "&" not in text and "#" not in text):
        return text
    ph = ctx.ph["query_values"]
    n = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal n
        n += 1
        return m.group()[0] + m.group("k") + "=" + ph

    out: str = _P.query.sub(repl, text)
    if n:
        ctx.hit("query_values", n)
    return out


def _query_patterns() -> dict[str, Any]:
    import re

    return {"query": re.compile(r"[?&#](?P<k>[^=&#\s?'\"<>]++)=(?P<v>[^&#\s'\"<>]++)")}


# --------------------------------------------------------------------------- hostname

_HOST_DEVICE_WORDS = frozenset({
    "macbook", "macbookpro", "macbookair", "imac", "mbp", "macmini", "laptop", "desktop",
    "thinkpad", "xps", "pc", "chromebook", "zenbook", "vivobook", "ideapad", "inspiron",
    "virtualbox", "iphone", "ipad", "ipod", "galaxy", "pixel", "android", "phone", "tablet", "surface",
})
_HOST_SUFFIXES = (".local", ".lan", ".home", ".localdomain", ".home.arpa", ".fritz.box")
# Words a personal host name joins with "-".
HOST_WORDS = sorted(_HOST_DEVICE_WORDS | {"win", "ip", "mac"}, key=len, reverse=True)


def _case_pairs(pairs: set[str], tail: str) -> str:
    """Alternatives matching each two-letter ``pairs`` item (+ ``tail``) in any case, also where
    :func:`lower_same_length` makes a letter out of U+0130 (i) or U+212A (k); each starts with
    a literal (the letters need no escaping)."""

    def variants(ch: str) -> list[str]:
        return [ch, ch.upper()] + (["\u0130"] if ch == "i" else []) + (["\u212a"] if ch == "k" else [])

    return "|".join(v + "[" + "".join(variants(p[1])) + "]" + tail for p in sorted(pairs) for v in variants(p[0]))


# A device word's last two letters before a "-", or its first two after one (any case), and
# the "." before a home-network suffix.
_HOST_TRIGGER = (
    Clause(scan=("-", "(?<=" + _case_pairs({w[-2:] for w in HOST_WORDS}, "-") + ")"
                 "|(?=" + _case_pairs({w[:2] for w in HOST_WORDS}, "") + ")"), search_low=("host_dash",)),
    Clause(scan=(".", "(?i:local|lan|home|fritz\\.box)"), search_low=("host_dot",)),
)
_HX2 = "[0-9a-fA-F]{2}"


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
    return splice(text, spans)


def _host_patterns() -> dict[str, Any]:
    """A device word always touches a "-" (bobs-laptop, desktop-ab12cd3, alices-macbook-pro):
    anchor on the "-" and look at the word on either side; suffix hosts anchor on the "."."""
    import re

    c = re.compile
    words = HOST_WORDS
    host_dash = "-(?:(?<=[a-z0-9]-)(?:" + "|".join(f"(?<={w}-)" for w in words) + ")|(?=" + "|".join(words) + "))"
    host_dot = r"\.(?=local|lan\b|home\b|fritz\.box)"
    return {
        "host_anchor": c(host_dash + "|" + host_dot),
        "host_dash": c(host_dash),  # the two halves, for the gates
        "host_dot": c(host_dot),
        "host_left_rev": c(r"[a-z0-9\-]{0,63}"),
        "host_right": c(r"[a-z0-9\-]*+(?:\.[a-z0-9\-]++)*+"),
        "host_windows": c(r"(?:desktop|laptop)-[a-z0-9]{7}|win-[a-z0-9]{11}|ip(?:-[0-9]{1,3}){4}"),
    }


# Every MAC address: six hex pairs joined by ":" or "-", or three dotted quads of hex.
_MAC_TRIGGER = (
    Clause(scan=(":", f"{_HX2}:{_HX2}:"), count=(":", 5), search=("mac_colon",)),
    Clause(scan=("-", f"(?<={_HX2}-){_HX2}-{_HX2}-"), count=("-", 5), search=("mac_dash",)),
    Clause(scan=(".", f"(?<={_HX2}{_HX2}\\.){_HX2}{_HX2}\\."), search=("mac_dot",)),
)
# ipv6's own gate ("::", or six ":"), then its anchor; the scan is the anchor after its ":".
_V6_SCAN = (":", "[0-9A-Fa-f]{0,4}:(?:[0-9A-Fa-f]{0,4}:|(?<=::))")

DETECTORS = (
    Detector("email", 800, email, "<email>", _email_patterns, trigger=(Clause(needs="@"),)),
    Detector("uuid", 900, uuid, "<uuid>", _uuid_patterns, trigger=(
        Clause(scan=("-", f"(?<={_HX2}-){_HX2}{_HX2}-{_HX2}{_HX2}-"), count=("-", 4), search=("uuid",)),)),
    Detector("mac", 1000, mac, "<mac>", _mac_patterns, trigger=_MAC_TRIGGER),
    Detector("ipv6", 1100, ipv6, "<ip>", _ipv6_patterns, trigger=(
        Clause(scan=_V6_SCAN, count=(":", 6), search=("v6_anchor",)),
        Clause(scan=_V6_SCAN, has=("::",), search=("v6_anchor",)))),
    Detector("ipv4", 1500, ipv4, "<ip>", _ipv4_patterns, digit_run=True, member_gates=("g_ipv4",),
             trigger=(Clause(dots=3, search_map=("g_ipv4",)),)),
    Detector("query_values", 1700, query_values, "<value>", _query_patterns, settles=True,
             trigger=(Clause(needs="=?"), Clause(needs="=&"), Clause(needs="=#"))),
    Detector("hostname", 1900, hostname, "<host>", _host_patterns, trigger=_HOST_TRIGGER),
)
