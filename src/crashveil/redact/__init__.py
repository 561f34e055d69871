"""On-device redaction: every string that can reach a report passes through here.

Exception messages, file paths, chained messages, environment values and breadcrumb
text are redacted with :func:`redact` (or a configured :class:`Redactor`) before they
are written anywhere. The server runs the same code again and counts every hit as a
regression signal (:meth:`Redactor.redact_counted`).

Guarantees
    - **Total.** Never raises. Any ``str`` works, lone surrogates included; anything else
      (and, defensively, any internal failure) becomes ``"<redacted>"``.
    - **Idempotent.** ``redact(redact(x)) == redact(x)`` and re-redacting counts no hits.
      Placeholders are ``<word>`` and ``<``/``>`` end every token of every detector; on top
      of that the detectors run until the text is a fixed point (see :func:`_settle`).
    - **Linear.** No pattern backtracks more than a bounded amount per character, and no
      stretch of text is scanned again from each of many starts that all fail alike (see
      "No ambiguity" in :mod:`crashveil.redact.gates`); 1 MB adversarial strings take
      tens of milliseconds to a second, never longer. ``tests/redact/test_redact.py`` times
      each hostile shape at 64 KB, 256 KB and 1 MB and fails on quadratic growth.
    - **No truncation.** Callers cap lengths.

Detectors, in the order they run (:data:`DETECTORS`):

``home_path``
    The user name of a home directory, the path keeping its shape: ``/home/ann/x``,
    ``/Users/ann/x``, ``/var/home/ann``, ``/mnt/c/Users/ann``, ``C:\\Users\\Ann\\x`` (any case,
    ``/`` or ``\\`` or the escaped ``\\\\`` of a repr), ``Documents and Settings`` -> ``~/x``,
    ``~\\x``; ``~ann/x`` -> ``~/x``. Nested or UNC homes keep their shape with ``<user>``
    (``/data/home/<user>/x``, ``\\\\host\\Users\\<user>``), and ``pytest-of-<user>``. URL paths
    (``https://x.org/home/about``) and REST routes (``/users/42``: lower case, no drive) stay.
``unc_path``
    ``\\\\HOST\\share`` -> ``\\\\<host>\\share``; ``\\\\?\\``, ``\\\\.\\``, ``localhost``, ``wsl$`` stay. Under a
    home share (``home$``, ``users``, ``profiles``, ``redirect``, ``UserData`` ... at any depth) the
    user's folder too: ``\\\\<host>\\home$\\<user>\\x`` (a profile's ``.V6`` stays).
``pem_private_key``
    ``-----BEGIN ... PRIVATE KEY-----`` (RSA, EC, OPENSSH, ENCRYPTED, PGP ... BLOCK) to its END
    line, or to the end of its base64 body when truncated -> ``<private-key>``.
``url_credentials``
    ``scheme://user:pass@host`` -> ``scheme://<credentials>@host`` (scheme and host stay;
    the hostname detector handles personal hosts).
``env_user``
    Login names -> ``<user>``: values of ``USER``, ``LOGNAME``, ``USERNAME``, ``SUDO_USER``, ``LNAME``
    (env dumps, ``os.environ`` reprs), ``/var/mail/<user>``, ``id`` output, the user column of ``ps``
    lines, ``as user x``/``process owner: x``. System and service accounts (``root``, ``www-data``,
    ``SYSTEM`` ...) and ``$USER``-style references stay. Messages only.
``connection_string``
    Values of secret-bearing keys -> ``<credentials>``: ``password``, ``passwd``, ``pwd``,
    ``secret``, ``token``, ``api_key``, ``AccountKey``, ``credential``, ``Authorization``
    (``Bearer``/``Basic`` kept), ``session``, ``cookie``, ``User Id``, ``username``, ``uid``,
    ``login`` ... inside compound keys too (``db_password``, ``X-Api-Key``), with ``=``,
    ``:`` or ``=>`` and bare, single- or double-quoted values. Keys stay; ``None``, ``null``,
    ``true``, ``false``, empty and ``***`` values stay (they are what developers debug), and so do
    system accounts (``USER=root``), ``PWD=/app``, numeric uids, ``$VAR`` references and SQL
    placeholders or qualified columns (``user_id = %s``, ``o.user_id = u.id``).
``jwt``
    ``eyJ...``.``...``.``...`` (also unsigned and five-part JWE) -> ``<secret>``.
``api_key``
    Prefixed provider keys -> ``<secret>``: AWS ``AKIA``/``ASIA``, GitHub ``ghp_``/``gho_``/
    ``github_pat_``..., GitLab ``glpat-``..., Slack ``xox?-``/``xapp-`` and webhooks, Stripe
    ``sk_live_``/``whsec_``..., ``sk-`` (OpenAI, Anthropic), Google ``AIza``/``ya29.``/
    ``GOCSPX-``, npm, PyPI, Hugging Face, SendGrid, Shopify, DigitalOcean, Mailgun, Twilio;
    and the credential after ``Bearer``, ``Basic`` or ``Token``.
``email``
    ``local@domain.tld`` with a letter-only TLD, Unicode local parts and IDN domains ->
    ``<email>``. ``pkg@1.2.3``, ``@decorator``, ``a @ b`` and ``a@b.T`` stay.
``uuid``
    8-4-4-4-12 hex, any case -> ``<uuid>``.
``mac``
    ``aa:bb:cc:dd:ee:ff``, ``AA-BB-CC-DD-EE-FF``, ``aabb.ccdd.eeff`` -> ``<mac>``.
``ipv6``
    Every compressed form, IPv4 tails, ``%zone`` -> ``<ip>``. ``::`` and ``::1`` stay (not
    personal; ``a[::2]`` is code).
``iban``
    Known country, mod-97 valid, compact or in groups of four -> ``<iban>``.
``card_number``
    12-19 digits, plain or in groups of 3+ separated by a space or ``-``, with a card-network
    prefix (2-series, 3-9, Mir, old JCB, UK Maestro) and a valid Luhn digit -> ``<card>``.
    Epoch milliseconds (leading ``1``) stay.
``national_id``
    -> ``<national-id>``. Formatted: US SSN, UK NINO, FR NIR, ES DNI/NIE (check letter), IT
    codice fiscale, BR CPF, SE/DK/FI/NO personal numbers, KR RRN, CA SIN (Luhn), IN Aadhaar,
    CH AHV, TH id. Bare digit runs only with a valid checksum for their length: NL BSN, IL id
    (9), UA RNOKPP, AT SV-Nr (10), PL PESEL, BR CPF, TR kimlik, NO, HU, GR AMKA, MX NSS (11),
    RU INN, IN Aadhaar (Verhoeff), SE personnummer with century (12), RO CNP, CH AHV (13), FR NIR
    (15), CN resident id (18); and any run of 8-18 digits right after a context word (``SSN``,
    ``BSN``, ``personnummer``, ``Steuer-ID``, ``CPR``, ``Aadhaar``, ``UID`` ...). About one random
    9-13 digit number in ten passes one of these checksums and is redacted: safety first.
``ipv4``
    Dotted quads with octets <= 255 -> ``<ip>`` (``:port`` and ``/cidr`` stay). Kept:
    loopback ``127.*``, ``0.0.0.0``, netmasks, and quads in version context (``v1.2.3.4``,
    ``version 1.2.3.4``, ``==1.2.3.4``, ``pkg-1.2.3.4``). A bare four-part version
    (``1.2.3.4 is out``) is redacted: safety first.
``phone``
    -> ``<phone>``, with any extension. ``+`` or ``00`` and 7-15 digits; national numbers
    with separators and a trunk ``0`` (``06 12 34 56 78``, ``020 7946 0958``, ``(030)
    123456``) or Russian ``8``; NANP ``(555) 123-4567``, ``555.123.4567``, ``1-555-123-4567``;
    3+ groups of 2-4 digits totalling 9-12; bare 9-11 digit numbers with a trunk ``0``, bare
    10 digits not starting with ``1`` (except powers of two and 2^n - 1), CN/IT/RU 11-digit
    mobiles. Kept: dates (``2024-01-15 10``), times, versions, line numbers, small integers,
    epoch seconds and milliseconds. Not recognised: 7-8 digit local numbers without an area
    code (DK, NO, NZ, UA local) and bare 9-digit numbers (PT, ES, IT mobiles): too many
    counters and sizes look the same.
``street_address``
    A house number and street (``141 Hodges Mountains``, ``12, rue de la Paix``, ``Calle Mayor 5``,
    ``Hauptstraße 5a``, ``Storgatan 77``, ``ul. Długa 7``), with its unit (``Apt. 4``, ``Flat 3,``)
    and postcode and city (``, 75008 Paris``, ``, Springfield, IL 62704``) -> ``<address>``. A
    suffix that is also a common word (``Point``, ``View``) needs a listed name or a postcode;
    street names without a house number stay. Messages only.
``query_values``
    ``?k=v&k2=v2#frag=v`` -> ``?k=<value>&k2=<value>#frag=<value>``; keys stay.
``quoted_input`` (messages only)
    Quoted text (``'...'``, ``"..."``, ``b'...'``; an apostrophe inside a word does not open
    a quote) -> ``<input>``, except: empty; only placeholders (``'<email>'`` keeps the typed
    placeholder); path-like (kept for its shape; home paths are already redacted); ASCII
    identifiers of <= 40 characters with <= 4 digits that are lower case, upper case,
    camelCase/PascalCase with an inner capital, or joined by ``._-:/`` (``'utf-8'``,
    ``'NoneType'``, ``'os.path'``, ``'split'``, ``'user_id'``). A capitalised single word
    (``'Alice'``) is redacted; a lower-case one (``'alice'``) is kept - the price of keeping
    the attribute and key names developers need.
``person_name``
    Names -> ``<name>``: a run of capitalised words (any cased script) or of a caseless script
    after a greeting, sign-off, honorific or role phrase (``Hi``, ``Regards,``, ``Dr.``, ``assigned
    to``, ``reported by``); after a weaker cue (``customer``, ``for``) or before ``here``/``may not``
    only with a listed first name or surname; a listed first name followed by a listed name anywhere;
    values of person keys (``full_name=``); ``Ann's iPhone`` -> ``<name> iPhone``. The lists
    (``detectors/data``, from Faker, MIT) load on first need. Messages only.
``hostname``
    Personal machines -> ``<host>``: ``DESKTOP-XXXXXXX``, ``LAPTOP-...``, ``WIN-...``,
    dash-joined names with a device word (``alices-macbook-pro``, ``bobs-laptop``,
    ``ann-thinkpad-x1``, ``carl-pc``, ``*-imac``, ``*-mbp``, ``*-desktop``),
    ``.local``/``.lan``/``.home``/``.fritz.box`` names with a dash or digit, ``ip-10-0-0-1``.
    ``threading.local`` stays.
``high_entropy``
    Random-looking runs of ``[A-Za-z0-9+/_-]`` (``=`` padding) of 20+ characters (16+ for
    ``env``) -> ``<secret>``: short average "word" length (random text changes between
    lower case, upper case and digit every ~2 characters; identifiers and paths hold 3+),
    hex digests, base32, and Shannon entropy >= 3 bits per character (2.5 for hex).
    Identifiers and paths stay; in ``/``-joined paths only the random pieces go
    (``data/<secret>.json``). Hex object ids named as such stay (``commit 3f2a...``, ``build-id:``,
    ``GIT_COMMIT=``, ``repo@<sha>``, ``sha256:``); a bare 40-hex token is still redacted.

Kept on purpose: exception class names, module and function names, in-app relative
paths, line numbers, errno codes, HTTP status codes, version strings, memory addresses
(``0x7f3a2c1b9d40``), dates and times.

``kind`` selects the detectors: ``"message"`` runs all; ``"path"`` and ``"env"`` run all
but ``quoted_input``; ``"env"`` lowers the high-entropy length to 16. An unknown kind is
treated as ``"message"`` (the strictest).

The engine is :mod:`crashveil.redact.engine`; the detectors are declared in
:mod:`crashveil.redact.detectors`, one module per family.

How to add a detector
    Write it in its family module (:mod:`crashveil.redact.detectors`): the function
    ``(text, ctx) -> text`` (return ``text`` itself when nothing is found; ``ctx.hit`` counts
    hits), a function returning its named regexes (compiled on first use, never at import),
    and a :class:`~crashveil.redact.detector.Detector` in the module's ``DETECTORS``: its name,
    ``rank`` (where it runs; the order is load-bearing), placeholder and ``trigger``. The
    trigger is a few :class:`~crashveil.redact.detector.Clause` objects, the cheap facts
    that every match implies: characters it needs, a substring, a count, a regex, or a
    predicate. The gates compile every detector's clauses into one scan
    (:func:`crashveil.redact.gates.triggers`) that decides which detectors run. Without a
    trigger a detector runs on every string: correct, but slow. Describe it in the list
    above; no other module changes (a new family module is also listed in
    :mod:`crashveil.redact.registry`). Tests: its name in ``test_detector_names`` and its cases
    in ``tests/redact/test_redact.py`` (and a generator in ``redact_corpus.py``);
    ``test_redact_gates.py`` then fails if a clause misses a match, and
    ``test_redact_properties.py`` if the output is not a fixed point. A detector that can
    change a string of fewer than 16 letters, ``_``, ``.``, ``<`` or ``>`` must add an
    exception to the engine's shortcut for such strings (``Redactor._run``);
    ``test_redact_gates.py`` checks that none does.
"""

from crashveil.redact.engine import KINDS, REDACTED, Redactor, redact
from crashveil.redact.registry import DEFAULT_PLACEHOLDERS, DETECTORS

__all__ = ["DETECTORS", "DEFAULT_PLACEHOLDERS", "KINDS", "REDACTED", "Redactor", "redact"]
