"""Person detectors: names in free text (``person_name``).

A name is a run of capitalised words (any cased script: Latin, Greek, Cyrillic ...) or of
letters of a caseless script (Han, Hangul, kana, Arabic, Hebrew, Devanagari, Thai), taken
whole (particles such as ``van der`` and initials inside). A run becomes ``<name>`` when:

- a **strong cue** stands before it: a greeting (``Hi``, ``Dear``, ``Bonjour`` ...), a sign-off
  (``Regards,``, ``Thanks,``, ``--`` ...), an honorific (``Mr.``, ``Dr.``, ``Frau`` ...), or a
  role phrase (``assigned to``, ``reported by``, ``my name is``, ``logged in as`` ...), and its
  first word is not a common word of such places (``Hi team``, ``reported by Sentry``);
- a **weak cue** stands before it (``customer``, ``owner``, ``for``, ``cc`` ...) and one of its
  words is a known first name or surname, or it is in a caseless script;
- without a cue, it holds a known first name followed by a known surname or first name
  (``Steve Erickson may not edit``), or a known name is followed by ``here`` (``Jane here.``);
- it is the value of a person key (``full_name=``, ``'last_name':``, ``display_name:``; for a
  bare ``name`` key the value must look like a name);
- it is a possessive before a device word (``Jane's iPhone`` -> ``<name> iPhone``).

The first-name and surname lists (data/, gzip, ~160 KB; see data/NOTICE) load on the first
candidate that needs them. Common words of program text are not in them, so ``Max Retries``
and ``Will Retry`` stay. Not found: a lone name without a cue, lower-case names, and names
in running caseless-script text without a cue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crashveil.redact.detector import PATTERNS as _P, Clause, Ctx, Detector, merge, splice

if TYPE_CHECKING:
    pass

# Cased letters: Latin (with Vietnamese), Greek, Cyrillic, Armenian, Georgian Mtavruli.
_CASED_RANGES = ((0x41, 0x24F), (0x370, 0x3FF), (0x400, 0x52F), (0x531, 0x587), (0x1E00, 0x1EFF))
# Letters of caseless scripts: Hebrew, Arabic, Devanagari, Bengali, Thai, Georgian, kana, Han, Hangul.
_CASELESS = ("\u05d0-\u05ea\u0620-\u064a\u066e-\u06d3\u0904-\u0939\u0958-\u0961\u0985-\u09b9\u0e01-\u0e30"
             "\u0e32\u0e33\u0e40-\u0e46\u10d0-\u10fa\u3041-\u3096\u30a1-\u30fa\u3400-\u4dbf\u4e00-\u9fff"
             "\uac00-\ud7a3")
_CASELESS_MARKS = ("\u064b-\u065f\u0900-\u0903\u093a-\u094f\u0981-\u0983\u09bc-\u09cd\u0e31\u0e34-\u0e3a"
                   "\u0e47-\u0e4e\u30fc")

PARTICLES = frozenset({"van", "von", "de", "der", "den", "da", "das", "dos", "do", "di", "del", "della", "du", "la",
                       "le", "ten", "ter", "zu", "het", "bin", "ibn", "al", "el", "y", "e", "st"})

# Greetings, sign-offs, honorifics and role phrases: the last word of the cue -> the words that
# must come before it ("" for none). A name after one of these needs no list to be believed.
_STRONG: dict[str, tuple[str, ...]] = {
    **{w: ("",) for w in (
        "hi", "hello", "hey", "dear", "hallo", "hej", "hei", "moin", "servus", "bonjour", "salut", "coucou", "hola",
        "ciao", "salve", "olá", "oi", "ahoj", "cześć", "witaj", "привет", "здравствуйте", "morning", "afternoon",
        "evening", "greetings", "regards", "thanks", "cheers", "sincerely", "truly", "cordialement", "grüße",
        "grüßen", "gruß", "saludos", "atentamente", "saluti", "grazie", "mvh", "hälsningar", "hälsning",
        "pozdrawiam", "obrigado", "obrigada", "merci", "danke", "gracias", "--", "—", "~", "mr", "mrs", "ms", "miss",
        "mx", "dr", "prof", "herr", "frau", "mme", "mlle", "sr", "sra", "srta", "sig", "dott", "pan", "pani",
        "господин", "госпожа", "cc", "attn", "bà", "ông", "anh", "chị", "signed", "i'm", "im")},
    "best": ("", ), "you": ("thank",), "back": ("welcome",), "welcome": ("",),
    "by": ("reported", "created", "modified", "updated", "deleted", "approved", "reviewed", "owned", "placed",
           "requested", "submitted", "sent", "written", "authored", "opened", "closed", "edited", "assigned",
           "raised", "filed", "initiated", "cancelled", "canceled", "off", "signed", "invited", "shared",
           "completed", "rejected", "escalated", "booked", "uploaded", "added", "removed", "changed", "started"),
    "to": ("assigned", "escalated", "reassigned", "sent", "forwarded", "delegated", "transferred", "account",
           "message", "invitation", "handed", "welcome", "email", "emailed", "reply", "replied"),
    "of": ("behalf", "profile", "account"),
    "as": ("in", "on", "signed", "logged", "impersonating"),
    "is": ("name", "this", "here", "contact"),
    "am": ("i",), "with": ("shared", "meeting", "call", "chat"), "from": ("payment", "message", "email", "note",
                                                                           "call", "invitation", "request"),
    "heißt": ("",), "appelle": ("",), "llamo": ("",), "chiamo": ("",), "suis": ("je",), "bin": ("ich",),
    "ist": ("name",), "soy": ("",), "sono": ("",),
}
# A run after one of these (as last word of what precedes it) needs a listed name or a caseless script.
_WEAK = frozenset({"user", "for", "to", "from", "with", "by", "and", "or", "of", "is", "as", "dear", "account",
                   "name", "named", "called", "at", "invited", "contact", "employee", "patient", "customer",
                   "reviewer", "approver", "assignee", "manager", "recipient", "requester", "sender", "author",
                   "owner", "tenant", "guest", "passenger", "member", "client", "student", "driver"})
# First words a run after a strong cue may not start with: "Hi team", "reported by Sentry".
COMMON = frozenset(['a', 'all', 'an', 'and', 'any', 'anybody', 'anyone', 'admin', 'admins', 'again', 'all',
    'apple', 'bot', 'bots', 'both', 'ci', 'customer', 'customers', 'dev', 'devs', 'developer', 'developers',
    'engineering', 'everybody', 'everyone', 'folks', 'friend', 'friends', 'github', 'gitlab', 'google', 'guys',
    'he', 'her', 'here', 'him', 'i', 'it', 'jenkins', 'microsoft', 'my', 'no', 'none', 'nobody', 'ops', 'our',
    'sentry', 'she', 'so', 'some', 'someone', 'support', 'sysadmin', 'system', 'team', 'teams', 'that', 'the',
    'them', 'there', 'they', 'this', 'those', 'thx', 'tech', 'user', 'users', 'we', 'world', "y'all", 'you',
    'your', 'sir', 'madam', 'mail', 'mails', 'please', 'ok', 'okay', 'again', 'also', 'today', 'yesterday',
    'tomorrow', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday', 'january',
    'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december',
    'not', 'what', 'when', 'where', 'which', 'who', 'why', 'how', 'if', 'in', 'on', 'at', 'to', 'for', 'from',
    'with', 'by', 'of', 'as', 'is', 'be'])
# Keys whose value is a person's name (a bare ``name`` key only when its value looks like one).
PERSON_KEYS = frozenset({
    "full_name", "fullname", "first_name", "firstname", "last_name", "lastname", "surname", "given_name",
    "givenname", "family_name", "familyname", "display_name", "displayname", "middle_name", "maiden_name",
    "contact_name", "customer_name", "patient_name", "client_name", "owner_name", "author_name", "sender_name",
    "recipient_name", "employee_name", "account_holder", "cardholder", "card_holder", "holder_name",
    "cardholder_name", "real_name", "realname", "legal_name", "person", "person_name", "git_author_name",
    "git_committer_name", "author", "owner", "assignee", "recipient", "customer", "contact", "reviewer",
    "approver", "sender", "manager", "employee", "patient", "requester", "name",
})
# What may follow a name when no cue stands before it ("Ann here", "Ann Lee may not edit this").
_AFTER = (r"[ ,](?:here\b(?![ ](?:is|are|was)\b)|and I\b|(?:may|can|could|does|did|is|was|has) not\b"
          r"|(?:cannot|can't|can’t|couldn't|wrote|said|says|asked|reported|called)\b)")
_KEY_ENDS = frozenset({"name", "holder", "person", "author", "owner", "assignee", "recipient", "customer", "contact",
                       "reviewer", "approver", "sender", "manager", "employee", "patient", "requester"})
_KEY_ENDS_ORDERED = ("name", *sorted(_KEY_ENDS - {"name"}))
_LOOSE_KEYS = frozenset({"name", "author", "owner", "assignee", "recipient", "customer", "contact", "reviewer",
                         "approver", "sender", "manager", "employee", "patient", "requester", "person"})
_KEEP_VALUES = frozenset({"none", "null", "nil", "true", "false", "undefined", "unknown", "n/a", "-", "anonymous"})
DEVICE_WORDS = frozenset({"iphone", "ipad", "ipod", "macbook", "imac", "mac", "galaxy", "pixel", "phone", "laptop",
                          "pc", "watch", "airpods", "tablet", "kindle", "surface", "chromebook", "thinkpad",
                          "computer", "desktop", "android", "xperia", "oneplus", "nokia", "huawei", "xiaomi"})

_NAMES: dict[str, frozenset[str]] = {}


def names(which: str) -> frozenset[str]:
    """``"first"`` or ``"last"``: the case-folded name list, loaded on first use."""
    found = _NAMES.get(which)
    if found is None:
        import gzip
        from importlib.resources import files

        data = files("crashveil.redact.detectors").joinpath(f"data/{which}_names.txt.gz").read_bytes()
        found = _NAMES[which] = frozenset(gzip.decompress(data).decode("utf-8").split())
    return found


def _is_name(word: str) -> bool:
    """Whether ``word`` (or a part of a double-barrelled one) is a listed first name or surname."""
    first, last = names("first"), names("last")
    w = word.casefold().strip(".'’")
    return w in first or w in last or ("-" in w and any(p in first or p in last for p in w.split("-")))


def _caseless(word: str) -> bool:
    return not word[0].isupper() and not word[0].islower()


def _cue(text: str, low: str, s: int) -> str:
    """``"strong"``, ``"weak"`` or ``""``: the cue in the words just before position ``s``
    (inline-fast: most capitalised words have none)."""
    head = low[max(0, s - 48):s]
    stripped = head.rstrip(" \t\n\r,:;.!\u00a0")
    if not stripped or len(head) - len(stripped) > 4:
        return ""
    gap = head[len(stripped):]
    if gap.count("\n") > 1:
        return ""
    parts = stripped.replace("\u2019", "'").rsplit(None, 2)
    last = parts[-1]
    before_last = parts[-2] if len(parts) > 1 else ""
    if last not in _STRONG and last not in _WEAK:
        last = _P.pn_word_tail.search(last).group()
        if "-" in last.strip("-"):  # "Reported-by:", "Signed-off-by:"
            before_last, _, last = last.strip("-").rpartition("-")
        last = last.rstrip(".!,:;")  # "Mr." -> "mr", "Thanks!" -> "thanks"
        if last not in _STRONG and last not in _WEAK:
            return ""
    if last in HONORIFICS:  # "Ms Lee", "Dr. Lee" on one line; not "in 804 ms\nValueError"
        word = text[max(0, s - 48):s].rstrip(" \t\n\r,:;.!\u00a0").rsplit(None, 1)[-1]
        if "\n" in gap or not _P.pn_word_tail.search(word).group()[:1].isupper():
            return ""
    before = _STRONG.get(last)
    if before is not None:
        prev = _P.pn_word_tail.search(before_last).group().strip(".,!:;") if before_last else ""
        # a greeting counts where a text, line or sentence starts ("Hi Ann", not "say hi to Ann")
        if ("" in before or prev in before) and (
                last not in _GREETINGS or len(parts) == 1 or "\n" in gap
                or _P.pn_sentence_end.search(stripped, 0, len(stripped) - len(last)) is not None):
            return "strong"
    return "weak"


# Caseless-script words that follow a cue word but are no name (a start on such text).
_CASELESS_COMMON = frozenset({"用户", "客户", "ユーザー", "사용자", "고객", "المستخدم", "משתמש"})
HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "herr", "frau", "mme", "mlle", "sr", "sra",
                        "srta", "sig", "dott", "pan", "pani", "bà", "ông", "господин", "госпожа"})
_GREETINGS = frozenset({"hi", "hello", "hey", "dear", "hallo", "hej", "hei", "moin", "bonjour", "salut", "hola",
                        "ciao", "salve", "olá", "oi", "ahoj", "morning", "afternoon", "evening", "greetings"})


def _accept(words: list[str], cue: str) -> bool:
    """Whether a run of capitalised or caseless words after ``cue`` is a name."""
    if any(_caseless(w) for w in words):
        return cue != "" and (cue != "after" or len(words) < 4) and not all(w in _CASELESS_COMMON for w in words)
    first = words[0].casefold().strip(".'’")
    if cue == "strong":
        return first not in COMMON and not (words[0].isupper() and len(words[0]) > 1 and not _is_name(words[0]))
    if cue in ("weak", "after"):
        return first not in COMMON and any(_is_name(w) for w in words if w.casefold() not in PARTICLES)
    # no cue: a known first name and a known name after it
    return len(words) >= 2 and words[0].casefold() in names("first") and words[0] != words[0].upper() and any(
        _is_name(w) for w in words[1:] if w.casefold() not in PARTICLES)


def person_name(text: str, ctx: Ctx) -> str:
    """Names after greetings, sign-offs, honorifics and role phrases, known first-last pairs,
    person-key values and possessives before a device word (see the module docs)."""
    low = ctx.low(text)
    ph = ctx.ph["person_name"]
    spans: list[tuple[int, int, str]] = []
    if ("=" in text or ":" in text) and any(map(low.__contains__, _KEY_ENDS_ORDERED)):
        _key_values(text, low, ph, spans)  # (pn_key starts with one of those words: on long text its scan is costly)
    for m in _P.pn_run.finditer(text):
        s, e = m.span()
        if spans and s < spans[-1][1]:
            continue
        words = m.group().split()
        if len(words) > 6:
            continue  # a Title Case Sentence, not a name
        tail = text[e:e + 24]
        if tail[:2] in ("'s", "’s") and _P.pn_device.match(tail, 2) is not None:
            spans.append((s, e + 2, ph))  # "Ann's iPhone" -> "<name> iPhone"
            continue
        owner = _device_owner(m.group(), words, tail)
        if owner:
            spans.append((s, s + owner, ph))
            continue
        cue = _cue(text, low, s)
        while len(words) > 1:  # "Hi Ann", "Dear Dr. Lee", "User Ann Lee": the cue opens the run
            lead = words[0].casefold().rstrip(".,!")
            if _STRONG.get(lead, ()) == ("",) or lead in _WEAK:
                cue = "strong" if _STRONG.get(lead, ()) == ("",) or cue == "strong" else "weak"
                if lead not in HONORIFICS:  # "Dr. Ann Lee" is one name; "Hi" is not part of it
                    s += len(words[0]) + 1
                    while text[s] in " \u00a0":
                        s += 1
                words = words[1:]
            else:
                break
        if _accept(words, cue) or (not cue and _P.pn_after.match(tail) is not None and _accept(words, "after")):
            more = _P.pn_paren.match(text, e)  # "Ann Lee (Annie)", an Arabic name's nisba in parentheses
            spans.append((s, e if more is None else more.end(), ph))
    if not spans:
        return text
    merged = merge(spans)
    ctx.hit("person_name", len(merged))
    return splice(text, merged)


def _device_owner(run: str, words: list[str], tail: str) -> int:
    """Length of the possessive that opens a device name in ``run`` (``Ann's iPhone``), or 0."""
    for i, w in enumerate(words):
        if w[-2:] in ("'s", "’s"):
            nxt = words[i + 1].casefold() if i + 1 < len(words) else None
            if nxt in DEVICE_WORDS if nxt is not None else _P.pn_device.match(tail) is not None:
                return run.index(w) + len(w)
    return 0


def _key_values(text: str, low: str, ph: str, spans: list[tuple[int, int, str]]) -> None:
    """Values of person keys: ``full_name='Ann Lee'``, ``"author": "Ann"``, ``owner=Ann Lee``."""
    for m in _P.pn_key.finditer(low):
        head = _P.pn_key_head.search(low, max(0, m.start() - 20), m.start())
        if head is None:
            continue
        key = low[head.start():m.end()].split('"', 1)[0].split("'", 1)[0].rstrip(" \t=:").strip("_")
        if key not in PERSON_KEYS:
            continue
        s, e = m.span("v")
        value = text[s:e]
        if value and value[0] in "\"'":
            s, e = s + 1, e - 1 if len(value) > 1 and value[-1] == value[0] else e
            value = text[s:e]
        else:
            run = _P.pn_run.match(text, s)
            if run is None:
                continue
            e = run.end()
            value = text[s:e]
        inner = value.strip()
        if not inner or inner.casefold() in _KEEP_VALUES or _P.only_placeholders.fullmatch(inner):
            continue
        if key in _LOOSE_KEYS:
            words = inner.split()
            if not _P.pn_run.fullmatch(inner) or not (
                    len(words) >= 2 or any(_caseless(w) for w in words) or _is_name(words[0])):
                continue
        spans.append((s, e, ph))


def _pn_patterns() -> dict[str, Any]:
    import re

    from crashveil.redact.detector import PLACEHOLDER_SHAPE

    c = re.compile
    up = "".join(chr(c) for a, b in _CASED_RANGES for c in range(a, b + 1) if chr(c).isupper())
    lo = "".join(chr(c) for a, b in _CASED_RANGES for c in range(a, b + 1) if chr(c).islower())
    up, lo = re.escape(up), re.escape(lo)
    tail = f"(?:[{lo}]++(?:[{up}][{lo}]++)?(?:['’\\-][{up}]?[{lo}]++)*+\\.?|\\.)"  # Ann, McDonald, Jean-Luc, J.
    cased = f"[{up}](?:['’][{up}])?{tail}"  # O'Neil
    caseless = f"[{_CASELESS}][{_CASELESS}{_CASELESS_MARKS}]*+"
    word = f"(?:{cased}|{caseless})"
    particle = "(?:" + "|".join(sorted(PARTICLES, key=len, reverse=True)) + ")"
    first = f"[{up}{_CASELESS}]"  # (a leading class lets the regex engine skip ahead to it)
    return {
        # a run of name words joined by single blanks, not glued to a word, a path or an identifier
        "pn_run": c(f"{first}(?<![\\w'’\\-.@/\\\\_]{first})(?<!  {first})"
                    f"(?:(?<=[{up}])(?:['’][{up}])?{tail}|(?<=[{_CASELESS}])[{_CASELESS}{_CASELESS_MARKS}]*+)"
                    f"(?:[ \u00a0](?:{particle} )*+{word})*+(?![\\w@/\\\\(\\-]|\\.\\w)"),
        "pn_paren": c(f" \\((?:{word})(?: {word}){{0,2}}\\)"),
        "pn_device": c(r"[ \-](?i:" + "|".join(sorted(DEVICE_WORDS)) + r")(?![a-z])"),
        # what may follow a name when no cue stands before it
        "pn_after": c(_AFTER),
        # the letters that end a word ("[reported" -> "reported", "x=assigned" -> "assigned")
        "pn_word_tail": c(r"[^\W\d_][\w'\-]*\Z|\Z"),
        "pn_sentence_end": c(r"[.!?,\n]\s*$"),
        # the end of a person key (PERSON_KEYS; the rest is read back in Python), a separator, a value
        "pn_key": c(r"(?:" + "|".join(sorted(_KEY_ENDS)) + r")(?![a-z0-9_])[\"']?[ \t]*(?:=|:)[ \t]*"
                    r"(?P<v>\"[^\"\n]{0,80}\"?|'[^'\n]{0,80}'?|(?=[^\W\d_]))"),
        "pn_key_head": c(r"(?<![a-z0-9])[a-z_]{0,20}\Z"),
        "only_placeholders": c(r"(?:\s*" + PLACEHOLDER_SHAPE + r")+\s*"),
        # gates, on the class map: a capital (ASCII or not) or a caseless letter not glued to a
        # word, a path or an identifier; a quoted value after "=" or ":"
        "g_person": c(rb"A(?<=[^0Aa_'\-.@/\\]A)(?<!  A)[a\x80.]"),  # (not an indented code line)
        # a capitalised word that opens the text: a name only before another one or a right cue
        "g_person_start": c(r"\A[A-Z][\w'’.\-]*+(?:[ \u00a0]++(?![a-z0-9_])\w|(?<=['’]s)[ \-]|" + _AFTER + ")"),
        # a non-ASCII character that opens a word, or one after another non-ASCII character
        # (punctuation such as "«" or "—" is non-ASCII too: two characters, four bytes or more)
        "g_person_x": c(rb"\x80(?:(?<![0Aa_'\-.@/\\\x80]\x80)|\x80{3})"),
        "g_person_value": c(rb"[=:][ \t]*[\"']"),
    }


DETECTORS = (
    Detector("person_name", 1850, person_name, "<name>", _pn_patterns,
             messages_only=True,
             trigger=(Clause(needs="A", search_map=("g_person",)), Clause(needs="A", search=("g_person_start",)),
                      Clause(has_map=(b"\x80",), search_map=("g_person_x",)),
                      *(Clause(needs=n, search_map=("g_person_value",)) for n in ("='", '="', ":'", ':"')))),
)
