"""Generate the labelled redaction corpus (``generated.jsonl``) deterministically.

Run: ``python tests/redact/corpus/generate.py`` (rewrites ``generated.jsonl`` beside it).

Each line is a JSON object: ``text``; ``kind`` (the family: ``person_name``, ``street_address``
... or a benign look-alike family such as ``memory_address``); ``field`` (where in a report the
text sits: ``message``, ``breadcrumb``, ``feedback``, ``local``, ``env``, ``path``,
``db_error``); ``redact_kind`` (the kind handed to ``Redactor.redact``); and either ``spans``
(``[start, end]`` of each planted piece of personal data) or ``benign: true`` (nothing in it
may change). Faker (MIT) supplies names, streets, cities and postcodes in many locales; the
national ids are built here with their real checksums. The seed is fixed: the same Faker
version writes the same file (the script re-runs itself with ``PYTHONHASHSEED=0``: some Faker
providers pick from sets).
"""

from __future__ import annotations

import json
import os
import random
import string
import sys
from collections.abc import Callable
from pathlib import Path

from faker import Faker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import redact_corpus as base

SEED = 20261207
PER_KIND = 240
OUT = Path(__file__).resolve().parent / "generated.jsonl"

NAME_LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE",
                "tr_TR", "fi_FI", "cs_CZ", "hu_HU", "ro_RO", "en_IN", "vi_VN", "id_ID", "da_DK", "no_NO",
                "ru_RU", "uk_UA", "el_GR", "ja_JP", "zh_CN", "ko_KR", "he_IL", "ar_AA", "hi_IN", "th_TH"]
LATIN_LOCALES = NAME_LOCALES[:20]
ADDRESS_LOCALES = ["en_US", "en_GB", "en_AU", "en_CA", "de_DE", "de_AT", "fr_FR", "es_ES", "it_IT", "nl_NL",
                   "pt_BR", "pl_PL", "sv_SE"]
_FAKERS: dict[str, Faker] = {}


def fake(locale: str, r: random.Random) -> Faker:
    f = _FAKERS.get(locale)
    if f is None:
        f = _FAKERS[locale] = Faker(locale)
    f.seed_instance(r.getrandbits(32))
    return f


class Case:
    """A text assembled from pieces, some of them marked personal (their spans recorded)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[list[int]] = []
        self.pos = 0

    def add(self, s: str, secret: bool = False) -> Case:
        if secret:
            self.spans.append([self.pos, self.pos + len(s)])
        self.parts.append(s)
        self.pos += len(s)
        return self

    def text(self) -> str:
        return "".join(self.parts)


def fmt(template: str, **secrets: str) -> Case:
    """``template`` with ``{name}`` fields filled from ``secrets``, each a marked span."""
    c = Case()
    rest = template
    while "{" in rest:
        head, _, tail = rest.partition("{")
        key, _, rest = tail.partition("}")
        c.add(head)
        c.add(secrets[key], True)
    c.add(rest)
    return c


# ------------------------------------------------------------------------ person names

def person(r: random.Random, latin: bool | None = None) -> str:
    loc = r.choice(LATIN_LOCALES if latin else NAME_LOCALES)
    f = fake(loc, r)
    shape = r.random()
    if shape < 0.55:
        return f"{f.first_name()} {f.last_name()}"
    if shape < 0.75 or loc in ("ja_JP", "zh_CN", "ko_KR"):
        if loc not in ("ja_JP", "zh_CN", "ko_KR"):
            return f.name()
        return f.last_name() + r.choice(["", " "]) + f.first_name()
    if shape < 0.9:
        return f.first_name()
    return f.last_name()


def first(r: random.Random) -> str:
    return fake(r.choice(NAME_LOCALES), r).first_name()


_NAME_TEMPLATES: dict[str, list[str]] = {
    "feedback": [
        "Hi {n}, the app crashed again when I pressed save.", "Hello {n}!\nIt froze on the login screen.",
        "Dear {n},\nthe export never finishes.\nKind regards,\n{m}", "Thanks,\n{n}",
        "It keeps crashing after the update. Cheers, {n}", "Regards,\n{n}\nSent from my phone",
        "Best regards, {n}", "-- {n}", "My name is {n} and the sync button does nothing.",
        "this is {n} from accounting, the report page is blank", "Hi team, {n} here. Upload fails every time.",
        "Bonjour {n}, l'application plante au démarrage. Cordialement, {m}",
        "Hallo {n}, die App stürzt beim Speichern ab. Viele Grüße, {m}",
        "Hola {n}, la aplicación se cierra sola. Saludos, {m}", "Ciao {n}, si blocca sempre. Grazie, {m}",
        "Dear Mr. {n}, your app deleted my draft.", "Dear Dr. {n}, see attached screenshot.",
        "Good morning {n}, it happened again at 9am.", "Sincerely, {n}", "Thank you! {n}",
        "I am {n}, the owner of the account, please help", "cc {n} who saw the same crash",
        "{n} and I both see a white screen after login.", "Yours truly,\n{n}", "Greetings {n}, still broken",
        "Hey {n} - crash on startup since v2", "Mvh {n}", "Mit freundlichen Grüßen\n{n}",
    ],
    "message": [
        "ticket assigned to {n}", "issue reported by {n} on 2024-05-01",
        "PermissionError: {n} may not edit this invoice",
        "approval pending for {n}", "Task 4411 owned by {n} timed out", "order placed by {n} failed validation",
        "ValueError: customer {n} has no billing account", "reviewer {n} rejected the change",
        "escalated to {n}", "User {n} (id 5521) is locked", "created by {n}", "last modified by {n}",
        "KeyError: no manager for employee {n}", "signed off by {n}", "sent on behalf of {n}",
        "Contact: {n}", "author={n}", "patient {n} not found in ward 3", "booking for {n} overlaps",
    ],
    "breadcrumb": [
        "Assigned ticket to {n}", "Logged in as {n}", "Switched account to {n}", "Opened profile of {n}",
        "Message sent to {n}", "Invited {n} to workspace", "Welcome back, {n}!", "Shared document with {n}",
        "Payment from {n} received", "Greeting shown: Good evening, {n}",
    ],
    "local": [
        "full_name = '{n}'", "display_name: {n}", "'customer': {n}", "owner={n}", "name='{n}'",
        "recipient = \"{n}\"", "assignee: {n}", "{f}",
    ],
}


def gen_person_name(r: random.Random) -> tuple[str, Case]:
    field = r.choice(["feedback", "feedback", "message", "breadcrumb", "local"])
    t = r.choice(_NAME_TEMPLATES[field])
    if "{f}" in t:
        f = fake(r.choice(NAME_LOCALES), r)
        c = Case().add("{'first_name': '").add(f.first_name(), True).add("', 'last_name': '")
        return field, c.add(f.last_name(), True).add("'}")
    latin = True if ("Mr." in t or "Dr." in t) else None
    return field, fmt(t, n=person(r, latin), m=person(r))


# ------------------------------------------------------------------------ street addresses

def _street(r: random.Random) -> tuple[str, str, str, str]:
    """(street line, unit, postcode, city) in one locale's style."""
    loc = r.choice(ADDRESS_LOCALES)
    f = fake(loc, r)
    street = f.street_address().replace("\n", ", ")
    while not any(ch.isdigit() for ch in street):  # a street without a house number is no address
        street = f.street_address().replace("\n", ", ")
    unit = ""
    if loc in ("en_US", "en_CA", "en_AU") and r.random() < 0.4 and "Apt" not in street and "Suite" not in street:
        unit = r.choice(["Apt. ", "Apt ", "Suite ", "Unit ", "#"]) + str(r.randint(1, 999))
    elif loc in ("de_DE", "de_AT") and r.random() < 0.2:
        unit = f"{r.randint(1, 4)}. OG"
    return street, unit, f.postcode(), f.city()


_ADDR_TEMPLATES: dict[str, list[str]] = {
    "feedback": ["Please send the replacement to {a}.", "I live at {a} and the map shows the wrong place",
                 "Shipping address: {a}", "delivery to {a} never arrived", "my new address is {a}, thanks"],
    "message": ["ValidationError: could not geocode '{a}'", "AddressError: {a} is outside the delivery zone",
                "invoice address {a} has no postal code match", "geocoder returned no result for {a}"],
    "local": ["address = '{a}'", "shipping_address: {a}", "'billing': '{a}'", "addr={a}"],
    "db_error": ["IntegrityError: duplicate key value violates unique constraint \"addr_key\"\n"
                 "DETAIL: Key (line1)=({a}) already exists.",
                 "DataError: value too long for type character varying(40): {a}"],
}


def gen_street_address(r: random.Random) -> tuple[str, Case]:
    field = r.choice(list(_ADDR_TEMPLATES))
    street, unit, postcode, city = _street(r)
    t = r.choice(_ADDR_TEMPLATES[field])
    head, _, tail = t.partition("{a}")
    c = Case().add(head).add(street, True)
    if unit:
        c.add(r.choice([", ", " "])).add(unit, True)
    shape = r.random()
    if shape < 0.35:
        c.add(", ").add(postcode, True).add(" " + city)
    elif shape < 0.6:
        c.add(", " + city + " ").add(postcode, True)
    return field, c.add(tail)


# ------------------------------------------------------------------------ paths

def user_folder(r: random.Random, spaces: bool) -> str:
    f = fake(r.choice(LATIN_LOCALES), r)
    fn, ln = f.first_name(), f.last_name()
    if spaces:
        return r.choice([f"{fn} {ln}", f"{fn} {ln}", f"{ln}, {fn}", f"{fn} {ln[0]}.", f"{fn} {ln} (Work)"])
    return r.choice([f"{fn[0]}{ln}".lower(), f"{fn}.{ln}".lower(), f"{fn}{ln[0]}".lower(), f"{fn} {ln}",
                     f"{ln}{fn[0]}", f"{fn.lower()}_{ln.lower()}", f"{fn[0]}{ln}".lower() + ".CORP"])


def gen_unc_path(r: random.Random) -> tuple[str, Case]:
    host = r.choice(["fileserver", "nas01", "FS-02", "corp.example.com", "files.example.org", "srv-share",
                     "10.0.4.12", "DC1"])
    share = r.choice(["home$", "users", "Users", "profiles", "homes", "Profiles$", "redirect", "UserData",
                      "home", "staff"])
    user = user_folder(r, r.random() < 0.3)
    after = r.choice(["\\Documents\\report.xlsx", "\\Desktop", "\\AppData\\Roaming\\app\\config.ini",
                      "\\Downloads\\setup.log", "", "\\My Documents\\notes.txt", ".V6\\AppData\\Local\\Temp"])
    pre = r.choice(["\\\\", "\\\\"])
    field = r.choice(["path", "message", "message", "local"])
    c = Case()
    lead = {"path": "", "message": r.choice(["FileNotFoundError: [Errno 2] No such file or directory: '",
                                               "PermissionError: [WinError 5] Access is denied: '",
                                               "could not open ", "sync failed for '"]),
            "local": "profile_dir = '"}[field]
    trail = {"path": "", "message": "'" if lead.endswith("'") else "", "local": "'"}[field]
    if share in ("profiles", "Profiles$") and r.random() < 0.5:
        after = ".V6" + after if not after.startswith(".V6") else after
    c.add(lead + pre + host + "\\" + share + "\\").add(user, True).add(after + trail)
    return field, c


def gen_windows_user_folder(r: random.Random) -> tuple[str, Case]:
    user = user_folder(r, True)
    drive = r.choice(["C:", "C:", "D:", "c:"])
    sep = r.choice(["\\", "\\", "/", "\\\\"])
    rest = r.choice(["AppData\\Local\\Programs\\App\\app.exe", "Documents\\data.db", "Desktop\\out.csv",
                     "AppData\\Roaming\\app\\settings.json", "OneDrive - Contoso\\Reports\\q3.xlsx",
                     ".venv\\Lib\\site-packages\\requests\\api.py", "Downloads"]).replace("\\", sep)
    path = f"{drive}{sep}Users{sep}"
    field = r.choice(["path", "message", "message", "env", "local"])
    c = Case()
    if field == "path":
        return field, c.add(path).add(user, True).add(sep + rest)
    if field == "env":
        return field, c.add(path).add(user, True).add(r.choice(["", sep + "AppData" + sep + "Local" + sep + "Temp"]))
    head = r.choice(["FileNotFoundError: [Errno 2] No such file or directory: '", "Traceback: File \"",
                     "opened ", "cannot write to ", "log file at "])
    end = "'" if head.endswith("'") else '"' if head.endswith('"') else r.choice(["", " (read-only)", ": disk full"])
    if not end.startswith(("'", '"')) and r.random() < 0.5:
        return field, c.add(head + path).add(user, True).add(" is not writable" if rest == "Downloads" else
                                                                sep + rest + end)
    return field, c.add(head + path).add(user, True).add(sep + rest + end)


# ------------------------------------------------------------------------ env dumps, ps

def login(r: random.Random) -> str:
    f = fake(r.choice(LATIN_LOCALES), r)
    fn, ln = f.first_name(), f.last_name()
    return r.choice([f"{fn[0]}{ln}".lower(), f"{fn}.{ln}".lower(), fn.lower(), f"{fn}{ln}".lower()[:8],
                     f"{fn.lower()}_{ln[0].lower()}", ln.lower()]).replace(" ", "").replace("'", "")


def gen_env_user(r: random.Random) -> tuple[str, Case]:
    u = login(r)
    shape = r.randrange(7)
    c = Case()
    if shape == 0:
        c.add("USER=").add(u, True).add("\nLANG=en_US.UTF-8\nSHELL=/bin/bash\nLOGNAME=").add(u, True).add("\n")
        return "local", c
    if shape == 1:
        c.add("environ: {'PATH': '/usr/bin:/bin', 'USERNAME': '").add(u, True).add("', 'TERM': 'xterm'}")
        return "local", c
    if shape == 2:
        c.add(r.choice(["LOGNAME=", "USER=", "USERNAME=", "SUDO_USER=", "LNAME="])).add(u, True)
        c.add(r.choice(["", " HOME=/home/", " MAIL=/var/mail/"]))
        if c.parts[-1].endswith("/"):
            c.add(u, True)
        return r.choice(["message", "local"]), c
    if shape == 3:
        pid = r.randint(300, 99999)
        cmd = r.choice(["python manage.py runserver", "/usr/bin/python3 -m app.worker", "gunicorn app:wsgi",
                        "celery -A tasks worker", "node server.js"])
        c.add(r.choice(["", "ps: "])).add(u, True).add(f"  {pid}  0.{r.randint(0, 9)}  1.{r.randint(0, 9)} "
                                                       f"{r.randint(10000, 999999)} {r.randint(1000, 99999)} "
                                                       f"pts/{r.randint(0, 9)}"
                                                       f"  S+   10:{r.randint(10, 59)}   0:0{r.randint(0, 9)} {cmd}")
        return "message", c
    if shape == 4:
        c.add("USERPROFILE=C:\\Users\\").add(u, True).add(r.choice(["", "\nUSERNAME="]))
        if c.parts[-1].endswith("="):
            c.add(u, True)
        return "local", c
    if shape == 5:
        c.add("HOME=/home/").add(u, True).add(" USER=").add(u, True).add(" PWD=/home/").add(u, True).add("/src/app")
        return "message", c
    c.add(r.choice(["running as user ", "process owner: ", "uid=1000(", "effective user "])).add(u, True)
    if c.parts[0] == "uid=1000(":
        c.add(") gid=1000(").add(u, True).add(") groups=1000(").add(u, True).add("),27(sudo)")
    return "message", c


# ------------------------------------------------------------------------ national ids

def _d(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(n))


def steuer_id(r: random.Random) -> str:
    """DE Steuer-ID: 11 digits, one digit twice (or three times) in the first ten, ISO 7064 mod 11,10."""
    while True:
        digits = r.sample(string.digits[1:], 9)
        body = "".join(digits[:1]) + "".join(r.sample(digits[1:] + [r.choice(digits[1:])], 9))
        if len(body) != 10 or body[0] == "0":
            continue
        product = 10
        for ch in body:
            s = (int(ch) + product) % 10 or 10
            product = s * 2 % 11
        check = (11 - product) % 10
        return body + str(check)


_VERHOEFF_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
               [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
               [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
               [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_VERHOEFF_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
               [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
               [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]
_VERHOEFF_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def aadhaar(r: random.Random) -> str:
    body = str(r.randint(2, 9)) + _d(r, 10)
    c = 0
    for i, ch in enumerate(reversed(body)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[(i + 1) % 8][int(ch)]]
    return body + str(_VERHOEFF_INV[c])


def personnummer(r: random.Random) -> str:
    yy, mm, dd = f"{r.randint(40, 99):02d}", f"{r.randint(1, 12):02d}", f"{r.randint(1, 28):02d}"
    d = base.luhn_complete(yy + mm + dd + _d(r, 3))
    return r.choice([d, "19" + d])


NATIONAL: list[tuple[list[str], Callable[[random.Random], str]]] = [
    (["SSN", "ssn", "social security number", "SSN#"], lambda r: f"{r.randint(1, 665):03d}{r.randint(1, 99):02d}"
                                                             f"{r.randint(1, 9999):04d}"),
    (["NINO", "national insurance number", "NI number"],
     lambda r: base.nino_uk(r).replace(" ", "")),
    (["NIR", "numéro de sécurité sociale", "INSEE"], lambda r: base.nir_fr(r).replace(" ", "")),
    (["Steuer-ID", "steuerliche Identifikationsnummer", "IdNr", "tax id"], steuer_id),
    (["BSN", "burgerservicenummer"], base.bsn_nl),
    (["personnummer", "pnr"], personnummer),
    (["Aadhaar", "aadhaar no", "UID"], aadhaar),
    (["resident id", "身份证", "ID card"], base.resident_cn),
    (["PESEL"], base.pesel_pl),
    (["CPF"], lambda r: base.cpf_br(r).replace(".", "").replace("-", "")),
    (["DNI", "NIF"], base.dni_es),
    (["codice fiscale", "CF"], base.cf_it),
    (["CPR", "CPR-nummer"], lambda r: f"{r.randint(1, 28):02d}{r.randint(1, 12):02d}{r.randint(40, 99)}{_d(r, 4)}"),
    (["fødselsnummer", "fnr"], base.fnr_no),
    (["RRN", "주민등록번호"], lambda r: base.rrn_kr(r).replace("-", "")),
    (["national id", "national_id", "id number"], base.kimlik_tr),
]
_NID_TEMPLATES: dict[str, list[str]] = {
    "message": ["lookup failed for {c} {v}", "ValueError: invalid {c}: {v}", "{c}={v} rejected by upstream",
                "duplicate {c} {v} in batch 7", "KYC check: {c} {v} does not match name"],
    "breadcrumb": ["Submitted form with {c} {v}", "verify {c}: {v} -> 422", "{c} {v} saved"],
    "local": ["{c} = '{v}'", "'{c}': '{v}'", "{c}: {v}"],
}


def gen_national_id(r: random.Random) -> tuple[str, Case]:
    cues, make = r.choice(NATIONAL)
    cue = r.choice(cues)
    field = r.choice(list(_NID_TEMPLATES))
    t = r.choice(_NID_TEMPLATES[field])
    if field == "local":
        cue = cue.lower().replace(" ", "_").replace("#", "")
    head, _, rest = t.partition("{c}")
    mid, _, tail = rest.partition("{v}")
    return field, Case().add(head + cue + mid).add(make(r), True).add(tail)


# ------------------------------------------------------------------------ device names

def gen_device_hostname(r: random.Random) -> tuple[str, Case]:
    f = fake(r.choice(LATIN_LOCALES), r)
    fn = f.first_name().split()[0].replace("'", "")
    ln = f.last_name().split()[0].replace("'", "")
    ascii_fn = fn.encode("ascii", "ignore").decode() or "Sam"
    ascii_ln = ln.encode("ascii", "ignore").decode() or "Lee"
    host = r.choice([
        f"{ascii_fn}s-iPhone", f"{ascii_fn}-iPhone", f"{ascii_fn}s-iPad", f"{ascii_fn.lower()}s-macbook-pro.local",
        f"{ascii_fn.lower()}-macbook-air", f"DESKTOP-{(ascii_fn[0] + ascii_ln).upper()[:7]}",
        f"LAPTOP-{ascii_ln.upper()[:8]}", f"{ascii_fn}s-MBP", f"{ascii_fn.lower()}-galaxy-s21",
        f"{ascii_fn}-Pixel-7", f"{ascii_fn.lower()}s-imac.lan", f"{ascii_fn}-PC", f"{ascii_ln.upper()}-LAPTOP",
        f"{ascii_fn.lower()}{ascii_ln.lower()}-thinkpad", f"{ascii_fn}s-Mac-mini.local",
        f"{ascii_fn}'s iPhone", f"{ascii_fn}’s MacBook Pro", f"{ascii_fn}s-Galaxy-Tab",
    ])
    fields = ["message", "breadcrumb", "env", "local"] if " " not in host else ["message", "breadcrumb", "local"]
    field = r.choice(fields)
    t = {"message": r.choice(["ConnectionError: {h} unreachable", "sync from {h} failed", "device {h} rejected",
                              "socket.gaierror: [Errno -2] Name or service not known: '{h}'"]),
         "breadcrumb": r.choice(["Paired with {h}", "Handoff from {h}", "backup started on {h}"]),
         "env": "{h}", "local": r.choice(["hostname = '{h}'", "device_name: {h}", "node={h}"])}[field]
    head, _, tail = t.partition("{h}")
    if " " in host:  # "Ann's iPhone": the name is personal, the model is not
        name, _, model = host.partition(" ")
        return field, Case().add(head).add(name, True).add(" " + model + tail)
    return field, Case().add(head).add(host, True).add(tail)


# ------------------------------------------------------------------------ benign look-alikes

def _hex(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(n))


def gen_memory_address(r: random.Random) -> str:
    a = "0x" + r.choice(["7f", "7ff", "55", "56", "0000", "7fff"]) + _hex(r, r.randint(6, 10))
    return r.choice([f"<function handler at {a}>", f"Segmentation fault at address {a}",
                     f"<app.models.Order object at {a}>",
                     f"Fatal Python error: Aborted\nThread {a} (most recent call first):",
                     f"free(): invalid pointer {a}", f"<_io.TextIOWrapper name=3 at {a}>",
                     f"SIGSEGV at pc={a} sp={'0x' + '7ffd' + _hex(r, 8)}", f"id={a} refcount=3",
                     f"<coroutine object fetch at {a.upper().replace('0X', '0x')}>",
                     f"mmap({a}, 4096) failed", f"  {a} in PyObject_Call ()"])


_ERRNOS = [(111, "Connection refused"), (2, "No such file or directory"), (13, "Permission denied"),
           (104, "Connection reset by peer"), (110, "Connection timed out"), (28, "No space left on device"),
           (32, "Broken pipe"), (98, "Address already in use"), (-2, "Name or service not known"),
           (-3, "Temporary failure in name resolution"), (11, "Resource temporarily unavailable"),
           (10061, "No connection could be made because the target machine actively refused it")]


def gen_errno(r: random.Random) -> str:
    n, msg = r.choice(_ERRNOS)
    return r.choice([f"ConnectionRefusedError: [Errno {n}] {msg}", f"OSError: [Errno {n}] {msg}",
                     f"[WinError {n}] {msg}", f"socket error errno={n} ({msg})", f"errno {n}: {msg}",
                     f"urllib3 NewConnectionError: Failed to establish a new connection: [Errno {n}] {msg}",
                     f"EPERM ({n}) after {r.randint(2, 9)} retries", f"exit status {r.randint(1, 255)}, errno {n}"])


def gen_commit_sha(r: random.Random) -> str:
    sha = _hex(r, 40)
    return r.choice([f"commit {sha}", f"build {sha} deployed", f"release=app@{sha}", f"HEAD is now at {sha[:7]}",
                     f"git rev-parse HEAD -> {sha}", f"build-id: {sha}", f"revision {sha} (dirty)",
                     f"Merge {sha[:12]} into {_hex(r, 40)}", f"sha1={sha}", f"GIT_COMMIT={sha}",
                     f"docker image app@sha256:{_hex(r, 64)}", f"tree {sha}\nparent {_hex(r, 40)}",
                     f"BuildID[sha1]={sha}, stripped", f"object {sha} is missing"])


def gen_sql_template(r: random.Random) -> str:
    return r.choice([
        "SELECT id, email, name FROM users WHERE id = %s", "INSERT INTO orders (user_id, total) VALUES (?, ?)",
        "UPDATE accounts SET balance = :balance WHERE id = :id", "DELETE FROM sessions WHERE expires_at < $1",
        "SELECT * FROM customers WHERE last_name = %(last_name)s AND city = %(city)s",
        "psycopg.errors.UniqueViolation: duplicate key value violates unique constraint \"users_email_key\"",
        "sqlite3.OperationalError: no such column: users.phone_number",
        "(sqlalchemy.exc.IntegrityError) NOT NULL constraint failed: addresses.street",
        "SELECT u.first_name, u.last_name FROM users u JOIN orders o ON o.user_id = u.id WHERE o.id IN (?, ?, ?)",
        "[SQL: SELECT count(*) FROM events WHERE created_at > %(created_at_1)s]",
        "INSERT INTO addresses (street, city, postcode) VALUES ($1, $2, $3) RETURNING id",
        f"LIMIT {r.randint(1, 500)} OFFSET {r.randint(0, 9000)}",
    ])


def gen_http_status(r: random.Random) -> str:
    code, reason = r.choice([(200, "OK"), (201, "Created"), (204, "No Content"), (301, "Moved Permanently"),
                             (400, "Bad Request"), (401, "Unauthorized"), (403, "Forbidden"), (404, "Not Found"),
                             (409, "Conflict"), (422, "Unprocessable Entity"), (429, "Too Many Requests"),
                             (500, "Internal Server Error"), (502, "Bad Gateway"), (503, "Service Unavailable"),
                             (504, "Gateway Timeout")])
    return r.choice([f"HTTP {code} {reason}", f"HTTPError: {code} Client Error: {reason} for url: /api/v1/orders",
                     f"status_code={code}", f"GET /health -> {code} ({r.randint(1, 900)} ms)",
                     f"HTTP/1.1 {code} {reason}", f"upstream returned {code} after {r.randint(1, 30)}s",
                     f"Response [{code}]", f"requests.exceptions.HTTPError: {code} Server Error: {reason}"])


def gen_service_host(r: random.Random) -> str:
    h = r.choice(["db.internal", "localhost", "redis.default.svc.cluster.local",
                  "postgres-primary.db.svc.cluster.local",
                  "api.internal:8443", "localhost:5432", "kafka-0.kafka-headless.svc.cluster.local:9092",
                  "metadata.google.internal", "host.docker.internal", "rabbitmq.prod.svc",
                  "ip6-localhost", "db-replica-2.internal", "worker-7f9c.queue.svc.cluster.local",
                  "s3.eu-west-1.amazonaws.com", "consul.service.consul", "vault.service.consul:8200"])
    return r.choice([f"could not connect to {h}", f"Connection to {h} timed out", f"resolved {h}",
                     f"connecting to redis://{h}/0", f"upstream {h} is unhealthy", f"POST http://{h}/v1/jobs",
                     f"Name resolution failed for {h}", f"host={h} port=5432 dbname=app"])


def gen_env_value(r: random.Random) -> tuple[str, str]:
    """(field, text): a single env value (``env``) or a dump of non-personal variables."""
    values = ["/usr/local/bin:/usr/bin:/bin", "C.UTF-8", "en_US.UTF-8", "0", "production", "xterm-256color",
              "/bin/bash", "UTC", "Europe/Berlin", "1", "false", "/usr/lib/jvm/java-17-openjdk-amd64",
              "/var/run/docker.sock", "/app", "/tmp", "info", "4", "linux/amd64", "3.11.9", "True",
              "gunicorn app.wsgi:application", "/opt/venv", "amd64", "-Xmx512m", "/etc/ssl/certs/ca-certificates.crt",
              "app.settings.production", "http://proxy.internal:3128", "10", "UTF-8", "/usr/share/zoneinfo"]
    if r.random() < 0.5:
        return "env", r.choice(values)
    keys = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", "LANG=C.UTF-8", "PYTHONHASHSEED=0",
            "PYTHONUNBUFFERED=1", "TZ=UTC", "TERM=xterm", "SHELL=/bin/sh", "HOSTNAME=web-5d8c7f9b6-x2k4q",
            "PWD=/app", "HOME=/root", "LC_ALL=C.UTF-8", "DJANGO_SETTINGS_MODULE=app.settings",
            "NODE_ENV=production", "WORKERS=4", "USER=root", "LOGNAME=www-data", "USERNAME=SYSTEM",
            "HOME=/var/lib/postgresql", "USER=nobody", "USERPROFILE=C:\\Windows\\system32\\config\\systemprofile",
            "KUBERNETES_SERVICE_PORT=443", "PYTHONPATH=/app/src", "MALLOC_ARENA_MAX=2"]
    return "local", "\n".join(r.sample(keys, r.randint(2, 5)))


POSITIVE: dict[str, Callable[[random.Random], tuple[str, Case]]] = {
    "person_name": gen_person_name, "street_address": gen_street_address, "unc_path": gen_unc_path,
    "windows_user_folder": gen_windows_user_folder, "env_user": gen_env_user, "national_id": gen_national_id,
    "device_hostname": gen_device_hostname,
}
BENIGN: dict[str, Callable[[random.Random], str]] = {
    "memory_address": gen_memory_address, "errno": gen_errno, "commit_sha": gen_commit_sha,
    "sql_template": gen_sql_template, "http_status": gen_http_status, "service_host": gen_service_host,
}
_BENIGN_FIELD = {"memory_address": ("message", "local"), "errno": ("message", "breadcrumb"),
                 "commit_sha": ("message", "breadcrumb", "local"), "sql_template": ("db_error", "breadcrumb"),
                 "http_status": ("message", "breadcrumb"), "service_host": ("message", "breadcrumb")}


def redact_kind(field: str) -> str:
    return {"env": "env", "path": "path"}.get(field, "message")


def generate() -> list[dict[str, object]]:
    r = random.Random(SEED)
    rows: list[dict[str, object]] = []
    for kind, gen in POSITIVE.items():
        seen: set[str] = set()
        while len(seen) < PER_KIND:
            field, case = gen(r)
            text = case.text()
            if text in seen:
                continue
            seen.add(text)
            rows.append({"kind": kind, "field": field, "redact_kind": redact_kind(field), "text": text,
                         "spans": case.spans})
    for kind, bgen in BENIGN.items():
        for _ in range(PER_KIND):
            field = r.choice(_BENIGN_FIELD[kind])
            rows.append({"kind": kind, "field": field, "redact_kind": redact_kind(field), "text": bgen(r),
                         "benign": True})
    for _ in range(PER_KIND):
        field, text = gen_env_value(r)
        rows.append({"kind": "env_value", "field": field, "redact_kind": redact_kind(field), "text": text,
                     "benign": True})
    return rows


def main() -> None:
    if os.environ.get("PYTHONHASHSEED") != "0":  # some Faker providers pick from sets: fix their order
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    rows = generate()
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} cases to {OUT}")


if __name__ == "__main__":
    main()
