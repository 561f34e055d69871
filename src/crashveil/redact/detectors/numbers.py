"""Number detectors: IBANs, payment card numbers, national identity numbers, phone numbers.

All four only look at runs of 6+ digits and separators (:meth:`Ctx.numeric`; national ids
also have letter-led formats) and share one plan step (:func:`crashveil.redact.gates.numeric_group`)
with ``ipv4``; each declares the class-map gates of which one must match for it to run.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from crashveil.redact.detector import PATTERNS as _P, Clause, Ctx, Detector, merge, splice

# (after the first character) not a date: 2024-05-12, 12.05.2024
_NOT_DATE = r"(?![0-9]{3}[\-/.][0-9]{2}[\-/.][0-9]{2}(?![0-9])|[0-9][./\-][0-9]{2}[./\-][0-9]{4}(?![0-9]))"
# the same on the class map
_NOT_DATE_MAP = rb"(?!000[\-/.]00[\-/.]00(?!0)|0[./\-]00[./\-]0000(?!0))"


def _digit_groups() -> Any:
    import re

    return re.compile(r"[0-9]+")


_IBAN_COUNTRIES = frozenset([
    "AD", "AE", "AL", "AT", "AZ", "BA", "BE", "BG", "BH", "BI", "BR", "BY", "CH", "CR", "CY",
    "CZ", "DE", "DJ", "DK", "DO", "EE", "EG", "ES", "FI", "FK", "FO", "FR", "GB", "GE", "GI",
    "GL", "GR", "GT", "HR", "HU", "IE", "IL", "IQ", "IS", "IT", "JO", "KW", "KZ", "LB", "LC",
    "LI", "LT", "LU", "LV", "LY", "MC", "MD", "ME", "MK", "MN", "MR", "MT", "MU", "NI", "NL",
    "NO", "OM", "PK", "PL", "PS", "PT", "QA", "RO", "RS", "RU", "SA", "SC", "SD", "SE", "SI",
    "SK", "SM", "SO", "ST", "SV", "TL", "TN", "TR", "UA", "VA", "VG", "XK", "YE",
])


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
    return splice(text, spans)


def _iban_patterns() -> dict[str, Any]:
    """CC + 2 check digits + 11..30 alphanumerics, printed compact or in groups of 4."""
    import re

    c = re.compile
    return {
        "iban": c(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}+(?:[ ]?[A-Z0-9]{1,3})?+"
                  r"(?![A-Za-z0-9])"),
        "g_iban": c(rb"AA00(?<![0Aa]AA00)(?: ?[A0]{4}){2}"),
    }


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
    return splice(text, spans)


def _card_patterns() -> dict[str, Any]:
    """13+ digits with single spaces or dashes between them."""
    import re

    c = re.compile
    return {
        "card": c(r"[0-9](?<![A-Za-z0-9_.][0-9])(?=(?:[ \-]?[0-9]){11})(?:[0-9]|[ \-](?=[0-9])){11,}+"),
        "digit_groups": _digit_groups(),
        "g_card": c(rb"0(?<![0Aa_.]0)(?:[ \-]?0){11}"),
    }


def _date_ok(yy: str, mm: str, dd: str) -> bool:
    m, d = int(mm), int(dd)
    return 1 <= m <= 12 and 1 <= d <= 31


def _weighted(d: str, weights: tuple[int, ...]) -> int:
    return sum(int(a) * w for a, w in zip(d, weights, strict=True))


def _nid_run_ok(d: str) -> bool:
    """Whether a bare digit run is a national id of some country (checksums per length)."""
    n = len(d)
    if not d[: n - 1].isdigit():
        return False
    check = _NID_BY_LENGTH.get(n)
    return check is not None and check(d)


def _nid_9(d: str) -> bool:
    """NL BSN (11-proof), IL Teudat Zehut (Luhn)."""
    return ((_weighted(d[:8], (9, 8, 7, 6, 5, 4, 3, 2)) - int(d[8])) % 11 == 0 and d != "000000000") or _luhn(d)


def _nid_10(d: str) -> bool:
    if not d.isdigit():
        return False
    # UA RNOKPP (leading 1 would be born before 1927, and is where epoch seconds live)
    if d[0] != "1" and _weighted(d[:9], (-1, 5, 7, 9, 4, 6, 10, 5, 7)) % 11 % 10 == int(d[9]):
        return True
    # AT social insurance number: serial, check digit, DDMMYY
    return d[0] != "0" and _weighted(d, (3, 7, 9, 0, 5, 8, 4, 2, 1, 6)) % 11 == int(d[3]) and \
        _date_ok(d[8:10], d[6:8], d[4:6])


def _nid_11(d: str) -> bool:
    """PL PESEL, BR CPF, TR TC Kimlik, NO fodselsnummer, HU personal id, GR AMKA and MX NSS."""
    if not d.isdigit():
        return False
    # PL PESEL
    if (10 - _weighted(d[:10], (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)) % 10) % 10 == int(d[10]) \
            and 1 <= int(d[2:4]) % 20 <= 12 and 1 <= int(d[4:6]) <= 31:
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


def _nid_12(d: str) -> bool:
    """RU INN of a person, IN Aadhaar (Verhoeff, first digit 2-9), SE personnummer with century (Luhn)."""
    if not d.isdigit():
        return False
    c1 = _weighted(d[:10], (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) % 11 % 10
    c2 = _weighted(d[:11], (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) % 11 % 10
    if c1 == int(d[10]) and c2 == int(d[11]):
        return True
    if d[0] in "19" and d[:2] in ("19", "20") and _date_ok(d[2:4], d[4:6], d[6:8]) and _luhn(d[2:]):
        return True
    return d[0] not in "01" and _verhoeff(d)


_VERHOEFF_D = ("0123456789", "1234067895", "2340178956", "3401289567", "4012395678", "5987604321", "6598710432",
               "7659821043", "8765932104", "9876543210")
_VERHOEFF_P = ("0123456789", "1576283094", "5803796142", "8916043527", "9453126870", "4286573901", "2793806415",
               "7046913258")


def _verhoeff(d: str) -> bool:
    """The Verhoeff check (Aadhaar): the dihedral-group checksum over the reversed digits is 0."""
    c = 0
    for i, ch in enumerate(reversed(d)):
        c = int(_VERHOEFF_D[c][int(_VERHOEFF_P[i % 8][int(ch)])])
    return c == 0


def _nid_13(d: str) -> bool:
    """CH AHV/AVS number (EAN-13), RO CNP."""
    if not d.isdigit():
        return False
    if d.startswith("756"):
        return (10 - _weighted(d[:12], (1, 3) * 6) % 10) % 10 == int(d[12])
    k = _weighted(d[:12], (2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9)) % 11
    return d[0] in "12345678" and (1 if k == 10 else k) == int(d[12]) and _date_ok(d[1:3], d[3:5], d[5:7])


def _nid_15(d: str) -> bool:
    """FR NIR (2A/2B are Corsica)."""
    body = d[:13].replace("2A", "19").replace("2B", "18")
    if d[0] in "12" and body.isdigit() and d[13:].isdigit():
        return 97 - int(body) % 97 == int(d[13:])
    return False


def _nid_18(d: str) -> bool:
    """CN resident identity card."""
    w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[_weighted(d[:17], w) % 11]
    return check == d[17] and _date_ok(d[6:10], d[10:12], d[12:14])


_NID_BY_LENGTH = {9: _nid_9, 10: _nid_10, 11: _nid_11, 12: _nid_12, 13: _nid_13, 15: _nid_15, 18: _nid_18}


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
    if numeric:
        _cued_ids(text, ctx, spans, ph)
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
    merged = merge(spans)
    ctx.hit("national_id", len(merged))
    return splice(text, merged)


# Words that name a national id right before it (lower case; "SSN 123456789", "BSN: 123456782").
NID_CUES = (
    "ssn", "social security", "social security number", "social security no", "social_security_number", "nino",
    "national insurance", "national insurance number", "ni number", "nir", "insee", "sécurité sociale",
    "steuer-id", "steuerid", "steuer_id", "steuer id", "steuerliche identifikationsnummer", "idnr", "tax id",
    "tax-id", "tax_id", "taxid", "bsn", "burgerservicenummer", "sofinummer", "personnummer", "personnr", "pnr",
    "aadhaar", "aadhaar no", "aadhaar_no", "aadhaar number", "uid", "resident id", "resident_id", "身份证",
    "身份证号", "身份证号码", "id card", "id_card", "pesel", "cpf", "dni", "nif", "nie", "codice fiscale",
    "codice_fiscale", "cpr", "cpr-nummer", "cpr-nr", "cpr nr", "fødselsnummer", "fodselsnummer", "fnr", "rrn",
    "주민등록번호", "national id", "national_id", "national id number", "personal id", "personal_id", "hetu",
    "henkilötunnus", "oib", "egn", "jmbg", "emšo", "amka", "curp", "nric", "my number", "mynumber",
    "rodné číslo", "asmens kodas",
)


def _cued_ids(text: str, ctx: Ctx, spans: list[tuple[int, int, str]], ph: str) -> None:
    """Runs of 8-18 digits right after a national-id context word (``SSN 123456789``,
    ``personnummer: 198507099805``, ``CPR-nr. 0101701234``), whatever their checksum. Each run
    no format took looks back past separators (and ``no``/``nr``/``number``) for a word of
    :data:`NID_CUES` that ends there and starts a word."""
    low = ""
    taken = sorted((a, b) for a, b, _ in spans)  # (what the formats found: a run inside one is done)
    starts = [a for a, _ in taken]
    for m in _P.nid_bare.finditer(text):
        s = m.start()
        i = bisect_right(starts, s) - 1
        if i >= 0 and s < taken[i][1]:
            continue
        low = low or ctx.low(text)
        head = low[max(0, s - 40):s].rstrip(" \t#:=.'\"：")
        if not head.endswith(NID_CUES):
            for marker in ("number", "num", "nr", "no"):
                if head.endswith(marker):
                    head = head[:-len(marker)].rstrip(" _-.#")
                    break
            if not head.endswith(NID_CUES):
                continue
        if any(head.endswith(c) and (len(head) == len(c) or not head[-len(c) - 1].isalnum()) for c in NID_CUES):
            spans.append((s, m.end(), ph))


def _nid_patterns() -> dict[str, Any]:
    import re

    c = re.compile
    return {
        # digit-led formats (the first digit is matched before the branch)
        "nid_digit": c(
            r"[0-9](?<![A-Za-z0-9_.\-+][0-9])(?=(?:[ .\-+A]?[0-9]){7})" + _NOT_DATE + r"(?:"  # 8+ digits
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
        ),
        # a run of 8-18 digits (an id written without separators) that may follow a context word
        "nid_bare": c(r"[0-9](?<![A-Za-z0-9_.\-+][0-9])[0-9]{7,17}+[0-9xX]?(?![A-Za-z0-9_]|[.\-][0-9])"),
        "cf_hint": c(r"[A-Z][A-Z]{5}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T]"),
        "nid_letter": c(
            r"[A-Z](?<![A-Za-z0-9_][A-Z])(?:"
            r"(?P<nino>[A-Z][ ]?[0-9]{2}[ ]?[0-9]{2}[ ]?[0-9]{2}[ ]?[A-Z])"  # UK NINO QQ 12 34 56 C
            r"|(?P<nie>(?<=[XYZ])-?[0-9]{7}-?[A-Z])"  # ES NIE X1234567L
            r"|(?P<cf>[A-Z]{5}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z])"  # IT
            r")(?![A-Za-z0-9_])"
        ),
        # gates on the class map: nid_digit's branches; NINO, NIE, codice fiscale
        "g_nid_digit": c(rb"0(?<![0Aa_.\-+]0)" + _NOT_DATE_MAP + rb"(?=(?:[ .\-+A]?0){7})(?:"
                         rb"00(?P<s1>[- ])00(?P=s1)0000|00000-0{7}|00000[-+A]000[0A]|0{7}[-+]0{4}|00\.000\.000-00"
                         rb"|00\.0{4}\.0{4}\.00|-0{4}-0{5}-00-0|00(?P<s2>[- ])000(?P=s2)000|000 0{4} 0{4}"
                         rb"|(?: 00){2} (?:00|0A) 000 000(?: 00)?|0{7}-?A|0{7,16}[0A]?|0{4}0A0{8})(?![0Aa_]|[.\-]0)"),
        "g_nid_letter": c(rb"A(?<![0Aa_]A)(?:A ?00 ?00 ?00 ?A|-?0{7}-?A|A{5}[0A]{2}A)"),
    }


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
            end = base + s.end()
            if end < len(text) and text[end].isascii() and text[end].isalpha() and t[-1].isdigit():
                continue  # digits glued to letters: a hex id or a hash ("6013534323beaee1..."), not a phone
            if len(t) >= 7 and _phone_ok(t):
                spans.append((base + s.start(), base + s.end(), ph))
    if not spans:
        return text
    ctx.hit("phone", len(spans))
    return splice(text, spans)


def _phone_patterns() -> dict[str, Any]:
    """Runs of digits and separators, parsed by a strict grammar in Python.

    A candidate: a start, six more digits in its run of digits and separators, not a date;
    the run and any extension. Six digits fail to follow one start only when fewer than six
    are left in its run, and then at every later start of the run too: a "(" or "+" start
    then takes the rest of the run as a match of its own (group "skip", which phone()
    ignores) instead of leaving it to be scanned again from each "(" in "( ( ( ...".
    """
    import re

    c = re.compile
    d6 = r"(?:[ ()+.\-/]*+[0-9]){6}"
    return {
        "phone_cand": c(r"[+(0-9](?<![A-Za-z0-9_+.\-/][+(0-9])"
                        r"(?:(?=" + d6 + ")" + _NOT_DATE + r"[0-9 ()+.\-/]{6,}+(?:(?:x|ext\.? ?|#)[0-9]{1,6}+)?"
                        r"|(?<=[+(])(?=[0-9 ()+.\-/])(?!" + d6 + r")[0-9 ()+.\-/]*+(?P<skip>))"),
        "phone_strict": c(r"(?:\+[ ]?|00[ ]?)?(?:\(\+?[0-9]{1,5}\)[ ]?[-./]?[ ]?[0-9]++|[0-9]++)"
                          r"(?:(?:[ ]?\([0-9]{1,5}\)[ ]?-?|[ ]?[-./][ ]?|[ ])[0-9]++)*+"
                          r"(?:[ ]?(?:x|ext\.? ?|#)[0-9]{1,6}+)?"),
        "date": c(r"(?:[0-9]{4}([./\-])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([./\-])[0-9]{1,2}\2(?:[0-9]{4}|[0-9]{2}))"
                  r"(?:[ T][0-9]{1,2})?"),
        "digit_groups": _digit_groups(),
        "g_phone": c(rb"0(?:[ ()+.\-/]*+0){6}"),
        # phone_cand's start (not its "skip" branch) on the class map: what every phone needs
        "g_phone_start": c(rb"[+(0](?<![0Aa_+.\-/][+(0])(?=(?:[ ()+.\-/]*+0){6})" + _NOT_DATE_MAP),
    }


# Each trigger clause below is implied by the member gates (a run of 8 digits for most
# nid_digit branches; "0A0" where a letter joins two digit groups). A date or a time
# ("2024-05-12 10:30") passes the digit counts and runs the step for nothing; the start gates
# (g_card, g_nid_digit, g_phone_start) behind the counts would stop it, but on the bench mix
# they cost more than they save: every string with a long run pays one or two more scans.
DETECTORS = (
    Detector("iban", 1200, iban, "<iban>", _iban_patterns, digit_run=True, member_gates=("g_iban",),
             trigger=(Clause(needs="A", search_map=("g_iban",)),)),
    Detector("card_number", 1300, card_number, "<card>", _card_patterns, digit_run=True, member_gates=("g_card",),
             trigger=(Clause(digits=12),)),
    Detector("national_id", 1400, national_id, "<national-id>", _nid_patterns, digit_run=True,
             member_gates=("g_nid_digit", "g_nid_letter"), letter_gate="g_nid_letter",
             # every g_nid_letter match: a letter glued to a digit, or six capitals (codice fiscale)
             letter_needs=(b"A0", b"A 0", b"A-0", b"AAAAAA"),
             trigger=(Clause(digits=8), Clause(needs="A", has_map=(b"0A0",), search_map=("g_nid_digit",)))),
    Detector("phone", 1600, phone, "<phone>", _phone_patterns, digit_run=True, member_gates=("g_phone_start",),
             trigger=(Clause(digits=7),)),
)
