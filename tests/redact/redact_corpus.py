"""A PII corpus for the redaction tests: generators of planted values and benign tokens.

Every generator takes a ``random.Random`` and returns ``(text, secret_parts)``: the text to
plant and the substrings that must not survive redaction. They build checksum-valid values
(Luhn, IBAN mod 97, national id check digits) so the detectors' validators accept them;
faker adds locale variety (names, e-mail addresses, IBANs, cards, national ids).
"""

from __future__ import annotations

import base64
import hashlib
import random
import string
from collections.abc import Callable

from faker import Faker

Gen = Callable[[random.Random], tuple[str, list[str]]]

# Faker locales whose values the detectors are claimed to cover (see the detector docs).
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "ja_JP", "zh_CN",
           "ru_RU", "en_IN", "pl_PL", "sv_SE", "ko_KR", "en_AU", "en_CA", "tr_TR", "fi_FI", "ro_RO",
           "cs_CZ", "el_GR", "he_IL", "uk_UA", "hu_HU", "fr_CH", "de_AT", "es_MX", "vi_VN", "id_ID"]
# Faker ssn() locales whose output is a real, checkable national id format.
SSN_LOCALES = ["en_US", "en_GB", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "zh_CN", "pl_PL", "sv_SE",
               "ko_KR", "en_CA", "tr_TR", "fi_FI", "ro_RO", "el_GR", "he_IL", "uk_UA", "fr_CH", "de_AT",
               "es_MX", "no_NO"]
# Faker phone_number() locales whose formats the phone detector covers entirely.
PHONE_LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "nl_NL", "pt_BR", "ja_JP", "zh_CN",
                 "ru_RU", "pl_PL", "sv_SE", "ko_KR", "en_CA", "fi_FI", "ro_RO", "cs_CZ", "hu_HU", "vi_VN",
                 "id_ID", "th_TH", "de_AT", "es_MX", "he_IL"]

_FAKERS: dict[str, Faker] = {}


def faker(locale: str, seed: int) -> Faker:
    """A seeded faker for ``locale`` (instances are cached, the seed is reset every call)."""
    f = _FAKERS.get(locale)
    if f is None:
        f = _FAKERS[locale] = Faker(locale)
    f.seed_instance(seed)
    return f


def _digits(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(n))


def _weighted(d: str, w: tuple[int, ...]) -> int:
    return sum(int(a) * b for a, b in zip(d, w, strict=False))


def luhn_complete(body: str) -> str:
    """``body`` plus the Luhn check digit."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch)
        if i % 2 == 0:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return body + str((10 - total % 10) % 10)


def _name(r: random.Random) -> str:
    """A distinctive user name, so a test can search for it in the output."""
    return "zq" + "".join(r.choice(string.ascii_lowercase) for _ in range(r.randint(3, 8)))


def _date6(r: random.Random) -> tuple[str, str, str]:
    return f"{r.randint(0, 99):02d}", f"{r.randint(1, 12):02d}", f"{r.randint(1, 28):02d}"


# --------------------------------------------------------------------- national ids


def ssn_us(r: random.Random) -> str:
    sep = r.choice("- ")
    return f"{r.randint(1, 665):03d}{sep}{r.randint(1, 99):02d}{sep}{r.randint(1, 9999):04d}"


def nino_uk(r: random.Random) -> str:
    p = r.choice("ABCEGHJKLMNOPRSTWXYZ") + r.choice("ABCEGHJKLMNPRSTWXYZ")
    d = _digits(r, 6)
    return r.choice([f"{p}{d}{r.choice('ABCD')}", f"{p} {d[:2]} {d[2:4]} {d[4:]} {r.choice('ABCD')}"])


def nir_fr(r: random.Random) -> str:
    yy, mm, _ = _date6(r)
    body = f"{r.choice('12')}{yy}{mm}{r.randint(1, 95):02d}{_digits(r, 3)}{_digits(r, 3)}"
    key = f"{97 - int(body) % 97:02d}"
    if r.random() < 0.5:
        return f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} {key}"
    return body + key


def dni_es(r: random.Random) -> str:
    n = r.randint(10_000_000, 99_999_999)
    return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"


def nie_es(r: random.Random) -> str:
    k = r.randint(0, 2)
    n = _digits(r, 7)
    return f"{'XYZ'[k]}{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[int(str(k) + n) % 23]}"


def cf_it(r: random.Random) -> str:
    up = string.ascii_uppercase
    yy, mm, dd = _date6(r)
    return ("".join(r.choice(up) for _ in range(6)) + yy + "ABCDEHLMPRST"[int(mm) - 1] + dd
            + r.choice(up) + _digits(r, 3) + r.choice(up))


def bsn_nl(r: random.Random) -> str:
    while True:
        d = _digits(r, 8)
        rest = _weighted(d, (9, 8, 7, 6, 5, 4, 3, 2)) % 11
        if rest < 10 and d[0] != "0":
            return d + str(rest)


def pesel_pl(r: random.Random) -> str:
    yy, mm, dd = _date6(r)
    d = yy + mm + dd + _digits(r, 4)
    return d + str((10 - _weighted(d, (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)) % 10) % 10)


def cpf_br(r: random.Random) -> str:
    d = _digits(r, 9)
    d += str(_weighted(d, (10, 9, 8, 7, 6, 5, 4, 3, 2)) * 10 % 11 % 10)
    d += str(_weighted(d, (11, 10, 9, 8, 7, 6, 5, 4, 3, 2)) * 10 % 11 % 10)
    return r.choice([d, f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"])


def nordic(r: random.Random) -> str:
    yy, mm, dd = _date6(r)
    return r.choice([f"{yy}{mm}{dd}-{_digits(r, 4)}", f"{dd}{mm}{yy}-{_digits(r, 4)}",
                     f"{dd}{mm}{yy}A{_digits(r, 3)}{r.choice('0123456789ABCDEFHJKLMNPRSTUVWXY')}",
                     f"19{yy}{mm}{dd}-{_digits(r, 4)}"])


def fnr_no(r: random.Random) -> str:
    while True:
        yy, mm, dd = _date6(r)
        d = dd + mm + yy + _digits(r, 3)
        k1 = (11 - _weighted(d, (3, 7, 6, 1, 8, 9, 4, 5, 2)) % 11) % 11
        if k1 == 10:
            continue
        d += str(k1)
        k2 = (11 - _weighted(d, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)) % 11) % 11
        if k2 != 10:
            return d + str(k2)


def rrn_kr(r: random.Random) -> str:
    yy, mm, dd = _date6(r)
    return f"{yy}{mm}{dd}-{r.randint(1, 4)}{_digits(r, 6)}"


def resident_cn(r: random.Random) -> str:
    _, mm, dd = _date6(r)
    d = f"{r.randint(110000, 659999)}{r.randint(1950, 2010)}{mm}{dd}{_digits(r, 3)}"
    w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return d + "10X98765432"[_weighted(d, w) % 11]


def aadhaar_in(r: random.Random) -> str:
    d = str(r.randint(2, 9)) + _digits(r, 11)
    return f"{d[:4]} {d[4:8]} {d[8:]}"


def sin_ca(r: random.Random) -> str:
    d = luhn_complete(str(r.randint(1, 9)) + _digits(r, 7))
    sep = r.choice(" -")
    return f"{d[:3]}{sep}{d[3:6]}{sep}{d[6:]}"


def ahv_ch(r: random.Random) -> str:
    d = "756" + _digits(r, 9)
    d += str((10 - _weighted(d, (1, 3) * 6) % 10) % 10)
    return r.choice([d, f"{d[:3]}.{d[3:7]}.{d[7:11]}.{d[11:]}"])


def kimlik_tr(r: random.Random) -> str:
    d = str(r.randint(1, 9)) + _digits(r, 8)
    odd = sum(int(x) for x in d[0:9:2])
    even = sum(int(x) for x in d[1:8:2])
    d += str((odd * 7 - even) % 10)
    return d + str(sum(int(x) for x in d) % 10)


def cnp_ro(r: random.Random) -> str:
    yy, mm, dd = _date6(r)
    d = f"{r.randint(1, 8)}{yy}{mm}{dd}{r.randint(1, 52):02d}{_digits(r, 3)}"
    k = _weighted(d, (2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9)) % 11
    return d + str(1 if k == 10 else k)


def id_th(r: random.Random) -> str:
    d = _digits(r, 13)
    return f"{d[0]}-{d[1:5]}-{d[5:10]}-{d[10:12]}-{d[12]}"


def id_il(r: random.Random) -> str:
    return luhn_complete(_digits(r, 8))


def rnokpp_ua(r: random.Random) -> str:
    d = str(r.randint(2, 4)) + _digits(r, 8)
    return d + str(_weighted(d, (-1, 5, 7, 9, 4, 6, 10, 5, 7)) % 11 % 10)


def inn_ru(r: random.Random) -> str:
    d = _digits(r, 10)
    d += str(_weighted(d, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) % 11 % 10)
    return d + str(_weighted(d, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) % 11 % 10)


NATIONAL_IDS: dict[str, Callable[[random.Random], str]] = {
    "US SSN": ssn_us, "UK NINO": nino_uk, "FR NIR": nir_fr, "ES DNI": dni_es, "ES NIE": nie_es,
    "IT codice fiscale": cf_it, "NL BSN": bsn_nl, "PL PESEL": pesel_pl, "BR CPF": cpf_br,
    "SE/DK/FI personal number": nordic, "NO fodselsnummer": fnr_no, "KR RRN": rrn_kr,
    "CN resident id": resident_cn, "IN Aadhaar": aadhaar_in, "CA SIN": sin_ca, "CH AHV": ahv_ch,
    "TR kimlik": kimlik_tr, "RO CNP": cnp_ro, "TH id": id_th, "IL id": id_il, "UA RNOKPP": rnokpp_ua,
    "RU INN": inn_ru,
}

# --------------------------------------------------------------------- other values


def iban(r: random.Random) -> str:
    """A checksum-valid IBAN from a real country layout, compact or grouped by four."""
    country, bban_len, alpha = r.choice([("DE", 18, 0), ("GB", 18, 4), ("FR", 23, 0), ("NL", 14, 4),
                                         ("ES", 20, 0), ("IT", 23, 1), ("CH", 17, 0), ("BE", 12, 0),
                                         ("PL", 24, 0), ("SE", 20, 0), ("NO", 11, 0), ("AT", 16, 0),
                                         ("IE", 18, 4), ("PT", 21, 0), ("DK", 14, 0), ("FI", 14, 0)])
    bban = "".join(r.choice(string.ascii_uppercase) for _ in range(alpha)) + _digits(r, bban_len - alpha)
    num = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    full = f"{country}{98 - int(num) % 97:02d}{bban}"
    return r.choice([full, " ".join(full[i:i + 4] for i in range(0, len(full), 4))])


def card(r: random.Random) -> str:
    """A Luhn-valid card number of a real network, plain, spaced or dashed."""
    prefix, length = r.choice([("4", 16), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16),
                               ("34", 15), ("37", 15), ("6011", 16), ("65", 16), ("3528", 16), ("36", 14),
                               ("62", 16), ("6759", 12), ("2200", 16), ("4", 19)])
    d = luhn_complete(prefix + _digits(r, length - len(prefix) - 1))
    if length == 15:
        groups = [d[:4], d[4:10], d[10:]]
    else:
        groups = [d[i:i + 4] for i in range(0, length, 4)]
    return r.choice([d, " ".join(groups), "-".join(groups)])


def phone(r: random.Random) -> str:
    """A phone number in one of the documented shapes."""
    n = _digits
    return r.choice([
        f"+44 20 {n(r, 4)} {n(r, 4)}", f"+1 ({r.randint(201, 989)}) {r.randint(200, 999)}-{n(r, 4)}",
        f"06 {n(r, 2)} {n(r, 2)} {n(r, 2)} {n(r, 2)}", f"+49 30 {n(r, 6)}", f"+33 6 {n(r, 2)} {n(r, 2)} {n(r, 2)} {n(r, 2)}",
        f"({r.randint(201, 989)}) {r.randint(200, 999)}-{n(r, 4)}", f"{r.randint(201, 989)}.{r.randint(200, 999)}.{n(r, 4)}",
        f"+81 3-{n(r, 4)}-{n(r, 4)}", f"+86 138 {n(r, 4)} {n(r, 4)}", f"+7 (495) {n(r, 3)}-{n(r, 2)}-{n(r, 2)}",
        f"020 {n(r, 4)} {n(r, 4)}", f"0{r.randint(1, 9)}{n(r, 8)}", f"+{r.randint(1, 99)}{n(r, 9)}",
        f"0044 20 {n(r, 4)} {n(r, 4)}", f"{r.randint(201, 989)}-{r.randint(200, 999)}-{n(r, 4)} x{n(r, 3)}",
        f"+61 4{n(r, 2)} {n(r, 3)} {n(r, 3)}", f"+55 11 9{n(r, 4)}-{n(r, 4)}", f"(0{r.randint(10, 99)}) {n(r, 7)}",
        f"+91 {r.randint(6, 9)}{n(r, 4)} {n(r, 5)}", f"1{r.choice('3589')}{n(r, 9)}",
    ])


def email(r: random.Random) -> str:
    f = faker(r.choice(LOCALES), r.randrange(2**32))
    return r.choice([f.email(), f.free_email(), f.company_email(),
                     f"{_name(r)}.{r.choice(['müller', 'józef', 'søren'])}@{f.domain_name()}"])


def ipv4(r: random.Random) -> str:
    first = r.choice([10, 172, 192, 8, 34, 81, 203, 100, 1])
    return f"{first}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def ipv6(r: random.Random) -> str:
    groups = [f"{r.randint(1, 0xFFFF):x}" for _ in range(8)]
    return r.choice([":".join(groups), f"fe80::{groups[0]}:{groups[1]}", f"2001:db8::{groups[2]}",
                     ":".join(groups[:3]) + "::" + groups[3], f"::ffff:{ipv4(r)}", f"fe80::{groups[4]}%eth0"])


def mac(r: random.Random) -> str:
    b = [r.randint(0, 255) for _ in range(6)]
    if all(x >> 4 > 9 and x & 15 > 9 for x in b):
        b[0] = 0x02  # a MAC made of hex letters only is left to the tests of that edge case
    return r.choice([":".join(f"{x:02x}" for x in b), "-".join(f"{x:02X}" for x in b),
                     f"{b[0]:02x}{b[1]:02x}.{b[2]:02x}{b[3]:02x}.{b[4]:02x}{b[5]:02x}"])


def uuid(r: random.Random) -> str:
    h = f"{r.getrandbits(128):032x}"
    u = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return u.upper() if r.random() < 0.3 else u


def secret_hex(r: random.Random) -> str:
    return hashlib.sha256(r.getrandbits(64).to_bytes(8, "big")).hexdigest()[: r.choice([32, 40, 64])]


def jwt(r: random.Random) -> str:
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(b'{"alg":"HS256","typ":"JWT"}')
    payload = b64(('{"sub":"%d","name":"%s"}' % (r.randint(1, 10**9), _name(r))).encode())  # noqa: UP031 - braces
    sig = b64(hashlib.sha256(r.getrandbits(64).to_bytes(8, "big")).digest())
    return f"{header}.{payload}.{sig}"


def api_key(r: random.Random) -> str:
    alnum = string.ascii_letters + string.digits

    def rnd(n: int, alphabet: str = alnum) -> str:
        return "".join(r.choice(alphabet) for _ in range(n))

    return r.choice([
        "AKIA" + rnd(16, string.ascii_uppercase + string.digits), "ASIA" + rnd(16, string.ascii_uppercase + string.digits),
        "ghp_" + rnd(36), "gho_" + rnd(36), "github_pat_" + rnd(22) + "_" + rnd(59), "glpat-" + rnd(20),
        "xoxb-" + rnd(12, string.digits) + "-" + rnd(24), "xoxp-" + rnd(10, string.digits) + "-" + rnd(26),
        "sk_live_" + rnd(24), "rk_test_" + rnd(24), "whsec_" + rnd(32), "sk-proj-" + rnd(48),
        "sk-ant-api03-" + rnd(40), "AIza" + rnd(35, alnum + "_-"), "ya29." + rnd(60, alnum + "_-"),
        "npm_" + rnd(36), "pypi-AgEIcHlwaS5vcmc" + rnd(60), "hf_" + rnd(34), "SG." + rnd(22) + "." + rnd(43),
        "shpat_" + rnd(32, "0123456789abcdef"), "dop_v1_" + rnd(64, "0123456789abcdef"),
        "key-" + rnd(32), "SK" + rnd(32, "0123456789abcdef"), "GR1348941" + rnd(20),
    ])


# --------------------------------------------------------------------- planted generators

def _plant_home(r: random.Random) -> tuple[str, list[str]]:
    u = _name(r)
    tail = r.choice(["proj/app/core.py", "src/main.py", ".venv/lib/python3.11/site-packages/x/y.py"])
    return r.choice([f"/home/{u}/{tail}", f"/Users/{u.title()}/{tail}", f"C:\\Users\\{u.title()}\\{tail.replace('/', chr(92))}",
                     f"C:/Users/{u}/{tail}", f"/var/home/{u}/{tail}", f"/mnt/c/Users/{u}/{tail}",
                     f"C:\\\\Users\\\\{u}\\\\{tail.replace('/', chr(92) * 2)}", f"/home/{u}", f"~{u}/{tail}"]), [u, u.title()]


def _plant_unc(r: random.Random) -> tuple[str, list[str]]:
    host = _name(r).upper() + "-" + r.choice(["FS", "NAS", "PC"])
    return f"\\\\{host}\\share\\{r.choice(['docs', 'x'])}\\file.txt", [host]


def _plant_url(r: random.Random) -> tuple[str, list[str]]:
    user, pw = _name(r), "pw" + _name(r)
    scheme = r.choice(["postgres", "https", "redis", "amqp", "mysql+pymysql", "mongodb+srv"])
    return f"{scheme}://{user}:{pw}@db.example.com:5432/app", [user, pw]


def _plant_conn(r: random.Random) -> tuple[str, list[str]]:
    pw = "pw" + _name(r) + str(r.randint(10, 99))
    key = r.choice(["password", "Password", "PWD", "passwd", "db_password", "client_secret", "api_key",
                    "AccountKey", "access_token", "x-api-key"])
    return r.choice([f"{key}={pw}", f"{key}: {pw}", f'"{key}": "{pw}"', f"Server=db;{key}={pw};Timeout=5",
                     f"'{key}': '{pw}'"]), [pw]


def _plant(fn: Callable[[random.Random], str]) -> Gen:
    def gen(r: random.Random) -> tuple[str, list[str]]:
        v = fn(r)
        return v, [v]

    gen.__name__ = fn.__name__
    return gen


def _plant_iban(r: random.Random) -> tuple[str, list[str]]:
    v = iban(r)
    return v, [v.replace(" ", "")[4:], v[4:]]


def _plant_phone(r: random.Random) -> tuple[str, list[str]]:
    v = phone(r)
    digits = "".join(ch for ch in v if ch.isdigit())
    return v, [v, digits[-7:]]


def _plant_query(r: random.Random) -> tuple[str, list[str]]:
    v = "v" + _name(r)
    return f"https://api.example.com/v1/items?q={v}&page=2", [v]


def _plant_quoted(r: random.Random) -> tuple[str, list[str]]:
    v = f"{_name(r)} {_name(r)}"
    return r.choice([f"invalid literal for int() with base 10: '{v}'", f'could not parse "{v}"']), [v]


def _plant_host(r: random.Random) -> tuple[str, list[str]]:
    n = _name(r)
    h = r.choice([f"{n}s-MacBook-Pro.local", f"DESKTOP-{''.join(r.choice(string.ascii_uppercase + string.digits) for _ in range(7))}",
                  f"{n}-laptop", f"{n}s-imac", f"{n}-thinkpad-x1", f"{n}-mbp.local", f"{n}-pc"])
    return h, [h, n] if not h.startswith("DESKTOP") else [h]


def _plant_pem(r: random.Random) -> tuple[str, list[str]]:
    body = base64.b64encode(hashlib.sha512(r.getrandbits(64).to_bytes(8, "big")).digest() * 3).decode()
    kind = r.choice(["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED "])
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    end = f"\n-----END {kind}PRIVATE KEY-----" if r.random() < 0.8 else ""
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{lines}{end}", [body[:64], body[64:128]]


def _plant_person(r: random.Random) -> tuple[str, list[str]]:
    n, m = _name(r).title(), _name(r).title()
    return r.choice([f"Hi {n} {m}, it crashed", f"assigned to {n} {m}", f"Regards,\n{n}", f"Dear Dr. {m}",
                     f"reported by {n} {m}", f"{n}'s iPhone", f"Bonjour {n}", f"signed off by {n}"]), [n, m]


def _plant_address(r: random.Random) -> tuple[str, list[str]]:
    n = _name(r).title()
    num = str(r.randint(1, 9999))
    return r.choice([f"{num} {n} Street", f"{n}straße {num}", f"{num}, rue {n}", f"Calle {n} {num}",
                     f"{num} {n} Ave, Apt 4", f"Via {n}, {num}", f"{n}gatan {num}"]), [n]


def _plant_env_user(r: random.Random) -> tuple[str, list[str]]:
    u = _name(r)
    return r.choice([f"USER={u}", f"LOGNAME={u}", f"SUDO_USER={u}", f"uid=1000({u}) gid=1000({u})",
                     f"/var/mail/{u}", f"'USERNAME': '{u}'", f"process owner: {u}"]), [u]


PLANTED: dict[str, Gen] = {
    "person_name": _plant_person,
    "street_address": _plant_address,
    "env_user": _plant_env_user,
    "pem_private_key": _plant_pem,
    "url_credentials": _plant_url,
    "connection_string": _plant_conn,
    "jwt": _plant(jwt),
    "api_key": _plant(api_key),
    "email": _plant(email),
    "home_path": _plant_home,
    "unc_path": _plant_unc,
    "iban": _plant_iban,
    "card_number": _plant(card),
    "national_id": lambda r: _plant(r.choice(list(NATIONAL_IDS.values())))(r),
    "uuid": _plant(uuid),
    "mac": _plant(mac),
    "ipv6": _plant(ipv6),
    "ipv4": _plant(ipv4),
    "phone": _plant_phone,
    "query_values": _plant_query,
    "quoted_input": _plant_quoted,
    "hostname": _plant_host,
    "high_entropy": _plant(secret_hex),
}

# --------------------------------------------------------------------- benign tokens

BENIGN_FIXED = [
    "ValueError", "KeyError", "ConnectionRefusedError", "AbstractBasicAuthHandler", "app.core.db",
    "core.py:42", "line 42", "[Errno 13] Permission denied", "errno 2", "HTTP 404", "HTTP/1.1 503",
    "Python 3.11.7", "version 1.2.3.4", "v1.2.3.4", "requests==2.31.0.1", "0x7f3a2c1b9d40",
    "<function handler at 0x7f3a2c1b9d40>", "2024-01-15 10:30:45", "10:30:45.123", "1700000000",
    "1700000000123", "127.0.0.1:8000", "0.0.0.0", "::1", "localhost:5432", "255.255.255.0",
    "site-packages/requests/adapters.py", "~/proj/app.py", "threading.local", "std::vector<int>",
    "@property", "pkg@1.2.3", "https://example.com/home/about", "GET /users/42", "4096 bytes",
    "2147483647", "4294967296", "1024x768", "(32, 224, 224)", "sha256", "x86_64", "en_US.UTF-8",
    "C:\\Windows\\System32\\drivers", "/usr/lib/python3.11/json/decoder.py", "/srv/app/core/db.py",
    "ECONNREFUSED", "timeout after 30s", "retry 3/5", "jupyter-notebook", "__init__", "<module>",
    "json.decoder.JSONDecodeError", "socket.J1939_PGN_ADDRESS_CLAIMED", "ssl.VERIFY_X509_PARTIAL_CHAIN",
    "HTTPPasswordMgrWithDefaultRealm", "os.path.join", "pid 12345", "exit code 137", "port 8080",
    "3.14159", "100%", "1e-9", "#42", "PR #1234", "utf-8", "latin-1", "SIGKILL", "OSError(24)",
]


def benign_token(r: random.Random) -> str:
    """A token developers need that must survive redaction unchanged."""
    return r.choice([
        lambda: r.choice(BENIGN_FIXED),
        lambda: f"{r.randint(0, 20)}.{r.randint(0, 40)}.{r.randint(0, 99)}",
        lambda: f"0x{r.getrandbits(44):x}",
        lambda: f"line {r.randint(1, 99999)}",
        lambda: f"{r.choice(['app', 'core', 'api', 'models', 'views'])}/{r.choice(['db', 'users', 'orders'])}.py:{r.randint(1, 9999)}",
        lambda: f"[Errno {r.randint(1, 130)}]",
        lambda: f"HTTP {r.choice([200, 201, 301, 400, 401, 403, 404, 409, 429, 500, 502, 503])}",
        lambda: r.choice(["Value", "Key", "Type", "Lookup", "Index", "Attribute", "Runtime"]) + "Error",
        lambda: ".".join(r.choice(["app", "core", "db", "api", "utils", "models", "http", "client"]) for _ in range(r.randint(2, 4))),
        lambda: f"{r.randint(0, 99)}",
    ])()


WORDS = ["the", "value", "of", "request", "failed", "while", "handling", "in", "module", "for", "user", "order", "with", "at", "on", "after", "retry", "timeout", "error", "connection", "refused", "closed", "invalid", "expected", "got"]


def sentence(r: random.Random, n: int) -> str:
    return " ".join(r.choice(WORDS) for _ in range(n))
